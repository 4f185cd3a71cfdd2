/**
 * A large page compressed without joining its parts first. A DATA_PAGE (V1) is compressed as one body, the
 * definition levels before the values; for a page holding a 100 MB value, building that body would copy the
 * value once more than the builder already did. Instead the parts are compressed one by one into output that
 * decodes as the compression of their concatenation, in each codec's own format:
 *
 * - SNAPPY (raw format, as Parquet uses it): a varint of the uncompressed length, then literal and copy
 *   elements, each copy naming an offset back from the current output position. The elements of each part's
 *   compression refer only to that part's own bytes, so written one after the other under the varint of the
 *   total they decode to the concatenation; decoders check that total.
 * - ZSTD: one frame per part. RFC 8878 (section 3.1) defines compressed data as one or more frames, decoded to
 *   the concatenation of their contents (`ZSTD_decompress` and the streaming decoders do exactly that).
 * - UNCOMPRESSED: the parts themselves, not copied.
 * - anything else: the parts joined, then compressed.
 */
import type { CompressionCodec } from 'hyparquet';
import type { Compressor } from './codecs';

export function compressPieces(pieces: readonly Uint8Array[], codec: CompressionCodec, compress: Compressor | null): Uint8Array[] {
  if (compress === null) return pieces.filter((p) => p.length > 0);
  if (codec === 'SNAPPY') {
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const out: Uint8Array[] = [varint(total)];
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      const compressed = compress(piece);
      out.push(compressed.subarray(varintLength(compressed)));
    }
    return out;
  }
  if (codec === 'ZSTD') return pieces.filter((p) => p.length > 0).map((p) => compress(p));
  const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const piece of pieces) {
    joined.set(piece, at);
    at += piece.length;
  }
  return [compress(joined)];
}

/** Little-endian base-128, as snappy's preamble. */
export function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Uint8Array.from(bytes);
}

/** Length of the varint that starts `bytes`. */
function varintLength(bytes: Uint8Array): number {
  let n = 0;
  while (n < bytes.length && (bytes[n] & 0x80) !== 0) n++;
  return n + 1;
}
