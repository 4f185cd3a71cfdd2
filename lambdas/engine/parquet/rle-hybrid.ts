/**
 * Parquet's RLE / bit-packed hybrid encoding, for the two uses pgsip has: definition levels of flat OPTIONAL
 * columns (bit width 1, from a NULL mask) and dictionary indexes. Writes into exactly sized Uint8Arrays: no
 * per-value calls, no growing buffers.
 *
 * Bit-packed runs are LSB first, 8 values per group; a run may pad its last group, the page's value count
 * tells readers where the real values end.
 */

import { InternalError } from '../errors';

/** Bytes of an unsigned LEB128 varint. */
function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/**
 * Definition levels (max level 1) of rows [from, to): 1 for a value, 0 for a NULL (mask byte 1). A page
 * without NULLs, or with only NULLs, is one RLE run of 2-3 bytes; otherwise one bit-packed run.
 */
export function encodeDefinitionLevels(mask: Uint8Array | null, from: number, to: number): Uint8Array {
  const n = to - from;
  let nulls = 0;
  if (mask) for (let i = from; i < to; i++) nulls += mask[i];
  if (nulls === 0 || nulls === n) {
    const out = new Uint8Array(varintLength(n * 2) + 1);
    const pos = writeVarint(out, 0, n * 2);
    out[pos] = nulls === 0 ? 1 : 0;
    return out;
  }
  const groups = Math.ceil(n / 8);
  const header = groups * 2 + 1;
  const out = new Uint8Array(varintLength(header) + groups);
  let pos = writeVarint(out, 0, header);
  const m = mask!;
  for (let g = 0; g < groups; g++) {
    let byte = 0;
    const base = from + g * 8;
    const end = Math.min(8, to - base);
    for (let j = 0; j < end; j++) if (m[base + j] === 0) byte |= 1 << j;
    out[pos++] = byte;
  }
  return out;
}

/** Bit width that holds every index below `size` (at least 1). */
export function bitWidthFor(size: number): number {
  let w = 1;
  while (w < 32 && 2 ** w < size) w++;
  return w;
}

/**
 * An RLE_DICTIONARY data page body: the bit width byte, then `indexes[from, to)` as one bit-packed run.
 * Widths up to 24 bits (16M dictionary entries; pgsip caps dictionaries far below that).
 */
export function encodeDictionaryIndexes(indexes: Int32Array, from: number, to: number, bitWidth: number): Uint8Array {
  if (bitWidth > 24) throw new InternalError(`dictionary index bit width ${bitWidth} is over 24`);
  const n = to - from;
  const groups = Math.ceil(n / 8);
  const header = groups * 2 + 1;
  const out = new Uint8Array(1 + varintLength(header) + groups * bitWidth);
  out[0] = bitWidth;
  let pos = writeVarint(out, 1, header);
  let acc = 0;
  let bits = 0;
  const padded = from + groups * 8;
  for (let i = from; i < padded; i++) {
    const v = i < to ? indexes[i] : 0;
    acc |= v << bits;
    bits += bitWidth;
    while (bits >= 8) {
      out[pos++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  // groups of 8 values always end on a byte boundary
  return out;
}
