/**
 * DATA_PAGE (V1) pages for the column chunks hyparquet-writer encodes (LISTs, booleans, per-value decimals),
 * which it writes as DATA_PAGE_V2 only. The portable profile needs V1 (Snowflake, older Spark and Iceberg
 * readers refuse V2), so such a chunk is encoded uncompressed into a scratch buffer first and then rewritten
 * page by page: a V2 page's levels (uncompressed, no length prefix) and values become one V1 body —
 * `[int32 LE length][repetition levels]` (LISTs only), `[int32 LE length][definition levels]` (a column that
 * can be null, i.e. not REQUIRED all the way down; a REQUIRED one has none), values —
 * compressed as a whole. Dictionary pages are carried over, compressed. Statistics are hyparquet-writer's.
 */
import type { ColumnChunk, OffsetIndex, PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import type { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import type { CompressionCodec, Encoding, PageType } from 'hyparquet';
import { InternalError } from '../errors';
import type { Compressor } from './codecs';

export interface V1Chunk {
  chunk: ColumnChunk;
  offsetIndex?: OffsetIndex;
}

function withLength(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lengthPrefix(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/**
 * Rewrites the uncompressed V2 chunk `scratch` (as writeColumn returned it, with `chunk` its metadata) into
 * `writer` with V1 data pages and the real codec.
 */
export function writeV1Chunk(
  scratch: Uint8Array,
  chunk: ColumnChunk,
  hasRepetition: boolean,
  hasDefinition: boolean,
  writer: ByteWriter,
  codec: CompressionCodec,
  compress: Compressor | null,
): V1Chunk {
  const meta = chunk.meta_data;
  if (!meta) throw new InternalError('a column chunk without metadata cannot be rewritten');
  const compressed = (body: Uint8Array) => (compress ? compress(body) : body);
  const reader = { view: new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength), offset: 0 };
  const chunkStart = writer.offset;
  let uncompressed = 0;
  let dictionaryPageOffset: bigint | undefined;
  let dataPageOffset: bigint | undefined;
  let firstRow = 0n;
  const pages: OffsetIndex['page_locations'] = [];

  while (reader.offset < scratch.length) {
    const header: PageHeader = parquetHeader(reader);
    const body = scratch.subarray(reader.offset, reader.offset + header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    const pageStart = writer.offset;
    if (header.type === 'DICTIONARY_PAGE') {
      const out = compressed(body);
      dictionaryPageOffset = BigInt(pageStart);
      writePageHeader(writer, {
        type: 'DICTIONARY_PAGE',
        uncompressed_page_size: body.length,
        compressed_page_size: out.length,
        dictionary_page_header: { num_values: header.dictionary_page_header!.num_values, encoding: header.dictionary_page_header!.encoding },
      });
      uncompressed += writer.offset - pageStart + body.length;
      writer.appendBytes(out);
      continue;
    }
    const v2 = header.data_page_header_v2;
    if (header.type !== 'DATA_PAGE_V2' || !v2) throw new InternalError(`unexpected ${header.type} page in a column chunk to rewrite`);
    dataPageOffset ??= BigInt(pageStart);
    const repetition = body.subarray(0, v2.repetition_levels_byte_length);
    const definition = body.subarray(v2.repetition_levels_byte_length, v2.repetition_levels_byte_length + v2.definition_levels_byte_length);
    const values = body.subarray(v2.repetition_levels_byte_length + v2.definition_levels_byte_length);
    const v1 = withLength([
      ...(hasRepetition ? [lengthPrefix(repetition.length), repetition] : []),
      ...(hasDefinition ? [lengthPrefix(definition.length), definition] : []),
      values,
    ]);
    const out = compressed(v1);
    writePageHeader(writer, {
      type: 'DATA_PAGE',
      uncompressed_page_size: v1.length,
      compressed_page_size: out.length,
      data_page_header: { num_values: v2.num_values, encoding: v2.encoding, definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' },
    });
    uncompressed += writer.offset - pageStart + v1.length;
    writer.appendBytes(out);
    pages.push({ offset: BigInt(pageStart), compressed_page_size: writer.offset - pageStart, first_row_index: firstRow });
    firstRow += BigInt(v2.num_rows);
  }

  const encodings: Encoding[] = meta.encodings.includes('RLE') ? meta.encodings : [...meta.encodings, 'RLE'];
  return {
    chunk: {
      ...chunk,
      file_offset: BigInt(chunkStart),
      meta_data: {
        ...meta,
        codec,
        encodings,
        total_uncompressed_size: BigInt(uncompressed),
        total_compressed_size: BigInt(writer.offset - chunkStart),
        data_page_offset: dataPageOffset ?? BigInt(chunkStart),
        dictionary_page_offset: dictionaryPageOffset,
        encoding_stats: meta.encoding_stats?.map((s) => ({ ...s, page_type: (s.page_type === 'DATA_PAGE_V2' ? 'DATA_PAGE' : s.page_type) as PageType })),
      },
    },
    offsetIndex: pages.length > 1 ? { page_locations: pages } : undefined,
  };
}
