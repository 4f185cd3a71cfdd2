/**
 * A Parquet object of a destination as hyparquet reads it: by byte ranges (a footer, then the column chunks
 * asked for), never whole, with the codecs hyparquet does not carry itself.
 */
import type { AsyncBuffer } from 'hyparquet';
import * as zlib from 'node:zlib';
import type { Destination } from '../destinations/destination';
import { InternalError } from '../errors';

/** A destination object as hyparquet's AsyncBuffer: read by ranges. */
export function objectBuffer(destination: Destination, key: string, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    slice: async (start: number, end?: number) => {
      const bytes = await destination.getRange(key, start, end ?? byteLength);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** What a file's own codec needs that hyparquet does not carry (SNAPPY it does). */
export const READ_COMPRESSORS = {
  ZSTD: (input: Uint8Array, outputLength: number) => {
    // Typed loosely: @types/node 20 does not know node:zlib's zstd (Node >= 22.15, every Lambda runtime pgsip deploys).
    const decompress = (zlib as unknown as { zstdDecompressSync?: (input: Uint8Array, options?: { maxOutputLength?: number }) => Buffer }).zstdDecompressSync;
    if (!decompress) throw new InternalError('reading ZSTD Parquet needs Node >= 22.15 (node:zlib zstd)');
    return new Uint8Array(decompress(input, { maxOutputLength: outputLength }));
  },
};
