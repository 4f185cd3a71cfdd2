/**
 * Writes one flat OPTIONAL column chunk from a FlatColumn: data pages (V2, or V1 for the portable profile) of
 * about `pageBytes` of values,
 * definition levels straight from the NULL mask, BYTE_ARRAY columns dictionary-encoded where that wins, and
 * min / max / null count (NaN count for floats) computed on the PLAIN bytes without materializing values.
 *
 * Why not hyparquet-writer's `writeColumn` for these: it takes one JS value per row (a Uint8Array view per
 * string, a BigInt per int64 in statistics), which made garbage collection the largest single cost of a shard
 * (18% of CPU) and held one object per value in memory. The page and file structure (page headers, footer,
 * offset index) is still hyparquet-writer's, so both paths produce the same kind of file; LIST columns and
 * the rare flat types without a FlatColumn builder go through `writeColumn`.
 */
import type { ByteWriter } from 'hyparquet-writer';
import type { ColumnChunk, CompressionCodec, Encoding, OffsetIndex, SchemaElement, Statistics } from 'hyparquet';

/** Statistics plus the NaN count the format has for floats (hyparquet-writer's ChunkStatistics). */
type ChunkStatistics = Statistics & { nan_count?: bigint };
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import type { Compressor } from './codecs';
import { type FlatColumn, plainLength } from '../columns/flat-column';
import { buildByteArrayDictionary, type ByteArrayDictionary } from './byte-array-dictionary';
import { bitWidthFor, encodeDefinitionLevels, encodeDictionaryIndexes } from './rle-hybrid';
import { compressPieces } from './page-pieces';


/** Uncompressed value bytes per data page (hyparquet-writer's and parquet-mr's default). */
export const PAGE_BYTES = 1024 * 1024;

/**
 * A page this large holds a large value (pages are cut after PAGE_BYTES): it is compressed in parts and its
 * bytes are handed to the output as they are (`FlatChunkOptions.handOver`), never copied into the writer's
 * buffer, so a huge value is held at most twice (the builder's copy and its compression).
 */
export const LARGE_PAGE_BYTES = 4 * 1024 * 1024;

/** Longest byte-array bound pgsip writes itself (hyparquet-writer's default for the bounds it truncates). */
export const BOUNDS_BYTES = 16;

/** Byte-array bounds up to this long are kept whole until the footer; longer ones are cut to BOUNDS_BYTES. */
const WHOLE_BOUNDS_BYTES = 1024;

/** Start of the UTF-8 character at or before `at` (continuation bytes are 10xxxxxx). */
function charStart(bytes: Uint8Array, at: number): number {
  while (at > 0 && (bytes[at] & 0xc0) === 0x80) at--;
  return at;
}

/**
 * Bounds of at most BOUNDS_BYTES that still enclose every value, cut on UTF-8 character boundaries: the min is
 * a prefix (never greater than the value); the max is a prefix whose last ASCII character is incremented
 * (greater than every value with that prefix). Null max when no such prefix exists.
 */
export function truncatedBounds(min: Uint8Array, max: Uint8Array): { min: Uint8Array; max: Uint8Array | null; minExact: boolean; maxExact: boolean } {
  const cutMin = min.length > BOUNDS_BYTES ? min.slice(0, charStart(min, BOUNDS_BYTES)) : min;
  if (max.length <= BOUNDS_BYTES) return { min: cutMin, max, minExact: cutMin === min, maxExact: true };
  let end = charStart(max, BOUNDS_BYTES);
  // Drop trailing characters until the last one is ASCII below 0x7f, which can be incremented in place.
  while (end > 0) {
    const last = charStart(max, end - 1);
    if (last === end - 1 && max[last] < 0x7f) break;
    end = last;
  }
  if (end === 0) return { min: cutMin, max: null, minExact: cutMin === min, maxExact: false };
  const cutMax = max.slice(0, end);
  cutMax[end - 1]++;
  return { min: cutMin, max: cutMax, minExact: cutMin === min, maxExact: false };
}

export interface FlatChunkOptions {
  writer: ByteWriter;
  /** The column's leaf as it appears in the footer (annotations included). */
  element: SchemaElement;
  codec: CompressionCodec;
  /** null for UNCOMPRESSED. */
  compress: Compressor | null;
  /**
   * Cut byte-array min/max to BOUNDS_BYTES here and mark them inexact. For JSON: hyparquet-writer truncates
   * string bounds itself but writes JSON bounds whole, and whole documents do not belong in a footer.
   */
  truncateBounds: boolean;
  /**
   * 2: DATA_PAGE_V2 (levels uncompressed beside the compressed values). 1: DATA_PAGE, what every reader takes
   * (Snowflake and older Spark readers refuse V2): the levels, 4-byte length first, compressed with the values.
   */
  pageVersion: 1 | 2;
  pageBytes?: number;
  /**
   * Writes bytes after what `writer` holds, without copying them into it (SinkByteWriter.handOver): used for
   * the pages of large values. The bytes may be views of the column's values, so the caller keeps those
   * unchanged until the writer has written them. Without it, they are appended to `writer`.
   */
  handOver?: (pieces: Uint8Array[]) => void;
}

export interface FlatChunkResult {
  chunk: ColumnChunk;
  offsetIndex?: OffsetIndex;
}

interface Page {
  rowStart: number;
  rowEnd: number;
  /** Value range (non-NULL values) of the page. */
  valueStart: number;
  valueEnd: number;
  /** Byte range of the page's values in `plain`. */
  byteStart: number;
  byteEnd: number;
}

/** Splits the rows into pages of about `pageBytes` of PLAIN values each. */
function pagesOf(column: FlatColumn, pageBytes: number): Page[] {
  const { rows, nullMask, plain, width } = column;
  const pages: Page[] = [];
  let row = 0;
  let value = 0;
  let pos = 0;
  while (row < rows || pages.length === 0) {
    const page: Page = { rowStart: row, rowEnd: row, valueStart: value, valueEnd: value, byteStart: pos, byteEnd: pos };
    const limit = pos + pageBytes;
    if (!nullMask && width > 0) {
      // Fixed width without NULLs: straight arithmetic.
      const take = Math.min(rows - row, Math.max(1, Math.floor(pageBytes / width)));
      row += take;
      value += take;
      pos += take * width;
    } else {
      while (row < rows && pos < limit) {
        if (!nullMask || nullMask[row] === 0) {
          pos += width > 0 ? width : 4 + plainLength(plain, pos);
          value++;
        }
        row++;
      }
    }
    page.rowEnd = row;
    page.valueEnd = value;
    page.byteEnd = pos;
    pages.push(page);
  }
  return pages;
}

/** Unsigned lexicographic order of two byte ranges of one buffer (Parquet's order for byte arrays). */
function compareRanges(b: Uint8Array, aStart: number, aLen: number, cStart: number, cLen: number): number {
  const n = aLen < cLen ? aLen : cLen;
  for (let i = 0; i < n; i++) {
    const d = b[aStart + i] - b[cStart + i];
    if (d !== 0) return d;
  }
  return aLen - cLen;
}

/**
 * Parquet orders a DECIMAL stored as FIXED_LEN_BYTE_ARRAY as a signed big-endian integer: the first byte
 * compares signed, the rest unsigned.
 */
function compareSignedRanges(b: Uint8Array, aStart: number, cStart: number, width: number): number {
  const d = (b[aStart] ^ 0x80) - (b[cStart] ^ 0x80);
  return d !== 0 ? d : compareRanges(b, aStart + 1, width - 1, cStart + 1, width - 1);
}

/** The big-endian two's complement integer at `buf[at, at + width)`. */
function signedInteger(buf: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) v = (v << 8n) | BigInt(buf[at + i]);
  return BigInt.asIntN(8 * width, v);
}

function statisticsOf(column: FlatColumn, dictionary: ByteArrayDictionary | null, truncateBounds: boolean, signedFixed: boolean): ChunkStatistics {
  const nulls = column.rows - column.count;
  const stats: ChunkStatistics = { null_count: BigInt(nulls) };
  const { plain, count, physical } = column;
  if (physical === 'FLOAT' || physical === 'DOUBLE') stats.nan_count = 0n;
  if (count === 0) return stats;
  switch (physical) {
    case 'INT32': {
      const a = new Int32Array(plain.buffer, plain.byteOffset, count);
      let min = a[0];
      let max = a[0];
      for (let i = 1; i < count; i++) {
        const v = a[i];
        if (v < min) min = v;
        else if (v > max) max = v;
      }
      stats.min_value = min;
      stats.max_value = max;
      return stats;
    }
    case 'INT64': {
      // Compared as (signed high word, unsigned low word): reading a BigInt64Array would allocate a BigInt per value.
      const w = new Int32Array(plain.buffer, plain.byteOffset, count * 2);
      let minHi = w[1];
      let minLo = w[0] >>> 0;
      let maxHi = minHi;
      let maxLo = minLo;
      for (let i = 1; i < count; i++) {
        const hi = w[2 * i + 1];
        const lo = w[2 * i] >>> 0;
        if (hi < minHi || (hi === minHi && lo < minLo)) {
          minHi = hi;
          minLo = lo;
        }
        if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
          maxHi = hi;
          maxLo = lo;
        }
      }
      stats.min_value = (BigInt(minHi) << 32n) | BigInt(minLo);
      stats.max_value = (BigInt(maxHi) << 32n) | BigInt(maxLo);
      return stats;
    }
    case 'FLOAT':
    case 'DOUBLE': {
      const a = physical === 'FLOAT' ? new Float32Array(plain.buffer, plain.byteOffset, count) : new Float64Array(plain.buffer, plain.byteOffset, count);
      let min = Infinity;
      let max = -Infinity;
      let nans = 0;
      let seen = false;
      for (let i = 0; i < count; i++) {
        const v = a[i];
        if (v !== v) {
          nans++;
          continue;
        }
        seen = true;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      stats.nan_count = BigInt(nans);
      // The spec's rule for signed zeros: a zero minimum is written -0, a zero maximum +0.
      if (seen) {
        stats.min_value = min === 0 ? -0 : min;
        stats.max_value = max === 0 ? 0 : max;
      }
      return stats;
    }
    case 'FIXED_LEN_BYTE_ARRAY': {
      const width = column.width;
      let min = 0;
      let max = 0;
      const compare = signedFixed ? (a: number, c: number) => compareSignedRanges(plain, a, c, width) : (a: number, c: number) => compareRanges(plain, a, width, c, width);
      for (let i = 1, p = width; i < count; i++, p += width) {
        if (compare(p, min) < 0) min = p;
        else if (compare(p, max) > 0) max = p;
      }
      if (signedFixed) {
        // hyparquet-writer encodes DECIMAL bounds itself, from the unscaled integer.
        stats.min_value = signedInteger(plain, min, width);
        stats.max_value = signedInteger(plain, max, width);
      } else {
        stats.min_value = plain.slice(min, min + width);
        stats.max_value = plain.slice(max, max + width);
      }
      return stats;
    }
    case 'BYTE_ARRAY': {
      // With a dictionary, only the distinct values need comparing.
      let minAt = 0;
      let minLen = plainLength(plain, 0);
      let maxAt = 0;
      let maxLen = minLen;
      const consider = (at: number) => {
        const len = plainLength(plain, at);
        if (compareRanges(plain, at + 4, len, minAt + 4, minLen) < 0) {
          minAt = at;
          minLen = len;
        } else if (compareRanges(plain, at + 4, len, maxAt + 4, maxLen) > 0) {
          maxAt = at;
          maxLen = len;
        }
      };
      if (dictionary) {
        for (let e = 1; e < dictionary.entries; e++) consider(dictionary.entryOffsets[e]);
      } else {
        let pos = 4 + minLen;
        for (let i = 1; i < count; i++) {
          consider(pos);
          pos += 4 + plainLength(plain, pos);
        }
      }
      const min = plain.subarray(minAt + 4, minAt + 4 + minLen);
      const max = plain.subarray(maxAt + 4, maxAt + 4 + maxLen);
      // Short bounds are written whole (hyparquet-writer cuts string bounds in the footer); long ones are cut
      // here, so that a part's footer never holds a copy of a huge value until the part is finished.
      if (!truncateBounds && minLen <= WHOLE_BOUNDS_BYTES && maxLen <= WHOLE_BOUNDS_BYTES) {
        stats.min_value = min.slice();
        stats.max_value = max.slice();
        return stats;
      }
      const cut = truncatedBounds(min, max);
      stats.min_value = cut.min;
      stats.is_min_value_exact = cut.minExact;
      if (cut.max) {
        stats.max_value = cut.max;
        stats.is_max_value_exact = cut.maxExact;
      }
      return stats;
    }
  }
}

export function writeFlatColumnChunk(column: FlatColumn, options: FlatChunkOptions): FlatChunkResult {
  const { writer, element, codec, compress } = options;
  const pageBytes = options.pageBytes ?? PAGE_BYTES;
  const { plain } = column;
  const chunkStart = writer.offset;
  let uncompressed = 0;

  const dictionary = column.physical === 'BYTE_ARRAY' ? buildByteArrayDictionary(plain, column.count) : null;
  const encoding: Encoding = dictionary ? 'RLE_DICTIONARY' : 'PLAIN';
  const compressed = (body: Uint8Array) => (compress ? compress(body) : body);

  let dictionaryPageOffset: bigint | undefined;
  if (dictionary) {
    dictionaryPageOffset = BigInt(writer.offset);
    const body = new Uint8Array(dictionary.dictionaryBytes);
    let at = 0;
    for (let e = 0; e < dictionary.entries; e++) {
      const from = dictionary.entryOffsets[e];
      const to = from + 4 + plainLength(plain, from);
      body.set(plain.subarray(from, to), at);
      at += to - from;
    }
    const out = compressed(body);
    const headerStart = writer.offset;
    writePageHeader(writer, {
      type: 'DICTIONARY_PAGE',
      uncompressed_page_size: body.length,
      compressed_page_size: out.length,
      dictionary_page_header: { num_values: dictionary.entries, encoding: 'PLAIN' },
    });
    uncompressed += writer.offset - headerStart + body.length;
    writer.appendBytes(out);
  }

  const bitWidth = dictionary ? bitWidthFor(dictionary.entries) : 0;
  const dataPageOffset = BigInt(writer.offset);
  const pages = pagesOf(column, pageBytes);
  const offsetIndex: OffsetIndex = { page_locations: [] };
  for (const page of pages) {
    const pageStart = writer.offset;
    const rows = page.rowEnd - page.rowStart;
    const levels = encodeDefinitionLevels(column.nullMask, page.rowStart, page.rowEnd);
    const body = dictionary
      ? encodeDictionaryIndexes(dictionary.indexes, page.valueStart, page.valueEnd, bitWidth)
      : plain.subarray(page.byteStart, page.byteEnd);
    // A DATA_PAGE_V2 header: its levels travel uncompressed beside `compressedValues` bytes of values.
    const v2Header = (compressedValues: number) => ({
      type: 'DATA_PAGE_V2' as const,
      uncompressed_page_size: levels.length + body.length,
      compressed_page_size: levels.length + compressedValues,
      data_page_header_v2: {
        num_values: rows,
        num_nulls: rows - (page.valueEnd - page.valueStart),
        num_rows: rows,
        encoding,
        definition_levels_byte_length: levels.length,
        repetition_levels_byte_length: 0,
        is_compressed: compress !== null,
      },
    });
    if (body.length >= LARGE_PAGE_BYTES) {
      // V1: the levels' length and the levels, then the values, compressed as one body but never joined.
      const prefix = options.pageVersion === 1 ? new Uint8Array(4 + levels.length) : null;
      if (prefix) {
        new DataView(prefix.buffer).setUint32(0, levels.length, true);
        prefix.set(levels, 4);
      }
      const out = compressPieces(prefix ? [prefix, body] : [body], codec, compress);
      const outBytes = out.reduce((n, p) => n + p.length, 0);
      if (prefix) {
        writePageHeader(writer, {
          type: 'DATA_PAGE',
          uncompressed_page_size: prefix.length + body.length,
          compressed_page_size: outBytes,
          data_page_header: { num_values: rows, encoding, definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' },
        });
        uncompressed += writer.offset - pageStart + prefix.length + body.length;
      } else {
        writePageHeader(writer, v2Header(outBytes));
        uncompressed += writer.offset - pageStart + levels.length + body.length;
        writer.appendBytes(levels);
      }
      if (options.handOver) options.handOver(out);
      else for (const piece of out) writer.appendBytes(piece);
    } else if (options.pageVersion === 1) {
      // V1: [int32 LE length of the definition levels][levels][values], compressed as one body.
      const v1 = new Uint8Array(4 + levels.length + body.length);
      new DataView(v1.buffer).setUint32(0, levels.length, true);
      v1.set(levels, 4);
      v1.set(body, 4 + levels.length);
      const out = compressed(v1);
      writePageHeader(writer, {
        type: 'DATA_PAGE',
        uncompressed_page_size: v1.length,
        compressed_page_size: out.length,
        data_page_header: { num_values: rows, encoding, definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' },
      });
      uncompressed += writer.offset - pageStart + v1.length;
      writer.appendBytes(out);
    } else {
      const out = compressed(body);
      writePageHeader(writer, v2Header(out.length));
      uncompressed += writer.offset - pageStart + levels.length + body.length;
      writer.appendBytes(levels);
      writer.appendBytes(out);
    }
    offsetIndex.page_locations.push({
      offset: BigInt(pageStart),
      compressed_page_size: writer.offset - pageStart,
      first_row_index: BigInt(page.rowStart),
    });
  }

  const encodings: Encoding[] = dictionary ? ['PLAIN', 'RLE', 'RLE_DICTIONARY'] : ['PLAIN', 'RLE'];
  const chunk: ColumnChunk = {
    file_offset: BigInt(chunkStart),
    meta_data: {
      type: column.physical,
      encodings,
      path_in_schema: [element.name],
      codec,
      num_values: BigInt(column.rows),
      total_uncompressed_size: BigInt(uncompressed),
      total_compressed_size: BigInt(writer.offset - chunkStart),
      data_page_offset: dataPageOffset,
      dictionary_page_offset: dictionaryPageOffset,
      statistics: statisticsOf(column, dictionary, options.truncateBounds, element.converted_type === 'DECIMAL'),
      encoding_stats: [
        ...(dictionary ? [{ page_type: 'DICTIONARY_PAGE' as const, encoding: 'PLAIN' as const, count: 1 }] : []),
        { page_type: options.pageVersion === 1 ? ('DATA_PAGE' as const) : ('DATA_PAGE_V2' as const), encoding, count: pages.length },
      ],
    },
  };
  return { chunk, offsetIndex: pages.length > 1 ? offsetIndex : undefined };
}
