/**
 * A large page compressed in parts decodes, with each codec's own decoder, to exactly the bytes of its parts
 * joined: what lets a page holding a huge value be compressed without one more copy of it.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { snappyUncompress } from 'hyparquet';
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { describe, expect, it } from 'vitest';
import { compressPieces, varint } from '../../../../lambdas/engine/parquet/page-pieces';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => ((i * 2654435761) >>> (seed % 24)) & 0xff);
const repetitive = (n: number) => Uint8Array.from({ length: n }, (_, i) => 'abcabcabd'.charCodeAt(i % 9));
const joined = (pieces: Uint8Array[]) => Buffer.concat(pieces.map((p) => Buffer.from(p)));
const cases: [string, Uint8Array[]][] = [
  ['a short prefix and a large body', [Uint8Array.from([4, 0, 0, 0, 2, 1]), bytes(3_000_000, 7)]],
  ['repetitive parts, whose copies must stay inside their part', [repetitive(70_000), repetitive(200_001), new Uint8Array(0), repetitive(5)]],
  ['one part', [bytes(100_000, 3)]],
];

describe('compressPieces', () => {
  it.each(cases)('SNAPPY (native and JavaScript compressors): %s', (_, pieces) => {
    const native = (() => {
      try {
        return createRequire(import.meta.url)('snappy') as { compressSync(b: Uint8Array): Buffer; uncompressSync(b: Uint8Array): Buffer };
      } catch {
        return null;
      }
    })();
    const expected = joined(pieces);
    for (const compress of [snappyCompress, ...(native ? [(b: Uint8Array) => native.compressSync(b)] : [])]) {
      const out = joined(compressPieces(pieces, 'SNAPPY', compress));
      const decoded = new Uint8Array(expected.length);
      snappyUncompress(out, decoded);
      expect(Buffer.from(decoded).equals(expected)).toBe(true);
      if (native) expect(native.uncompressSync(out).equals(expected)).toBe(true);
    }
  });

  const z = zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Buffer; zstdDecompressSync?: (b: Uint8Array) => Buffer };
  it.runIf(typeof z.zstdCompressSync === 'function').each(cases)('ZSTD (one frame per part, node:zlib decodes them as one): %s', (_, pieces) => {
    const out = joined(compressPieces(pieces, 'ZSTD', (b) => z.zstdCompressSync!(b)));
    expect(z.zstdDecompressSync!(out).equals(joined(pieces))).toBe(true);
  });

  it('UNCOMPRESSED hands the parts over as they are, not copied', () => {
    const [a, b] = [bytes(10, 1), bytes(20, 2)];
    const out = compressPieces([a, new Uint8Array(0), b], 'UNCOMPRESSED', null);
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(a);
    expect(out[1]).toBe(b);
  });

  it('writes snappy preamble varints as the format does', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(127)]).toEqual([127]);
    expect([...varint(128)]).toEqual([0x80, 1]);
    expect([...varint(104_857_606)]).toEqual([0x86, 0x80, 0x80, 0x32]);
  });
});
