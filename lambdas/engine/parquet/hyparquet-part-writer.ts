/**
 * PartWriter over hyparquet-writer's incremental ParquetWriter: one `writeRowGroup` is one row group, encoded
 * into memory and handed to the sink at once; the sink's `write()` promise is the backpressure, so memory holds
 * about one row group.
 *
 * Row groups are assembled here rather than by `ParquetWriter.write`: flat columns that arrive as FlatColumns
 * (PLAIN bytes, NULL mask) are written by our own chunk writer (flat-chunk-writer.ts, which says why), the
 * others (LIST columns, booleans, INT32 and FIXED_LEN_BYTE_ARRAY decimals) by hyparquet-writer's `writeColumn`
 * exactly as `write` would. The file header, footer and offset indexes stay hyparquet-writer's.
 *
 * Workarounds for hyparquet-writer 0.17, all local to this file:
 * - Builders already produce physical values (UTF-8 bytes, µs since 1970 as int64, days as int32, raw UUID
 *   bytes), so the column chunks are encoded against annotation-free leaf elements: hyparquet-writer then skips
 *   its per-value `unconvert` pass (an extra array and a BigInt per value for timestamps). The annotations are
 *   put back on the same element objects before the footer is written, so the file's schema and statistics
 *   are the annotated ones. DECIMAL leaves stored as INT32 or FIXED_LEN_BYTE_ARRAY keep their annotation while
 *   encoding: their statistics must be computed from the unscaled bigints, which hyparquet-writer converts.
 * - JSON columns: that same `unconvert` would re-serialize every value (`JSON.stringify`) and change the text;
 *   encoding without the annotation avoids it, and the converted_type JSON in the footer makes DuckDB type the
 *   column JSON (with the logical type alone it reads BLOB). hyparquet-writer would write whole documents as
 *   min/max; the flat chunk writer cuts them to 16 bytes (marked inexact), and arrays of JSON carry none.
 * - ZSTD and native SNAPPY: hyparquet-writer only has JS SNAPPY built in; codecs.ts supplies the others.
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js';
import { schemaPathResolver } from 'hyparquet-writer/src/schema.js';
import { unconvertStatistics } from 'hyparquet-writer/src/unconvert.js';
import type { ColumnChunk, KeyValue, SchemaElement, SchemaTree } from 'hyparquet';
import type { ColumnValues } from '../columns/column-mapping';
import { isFlatColumn } from '../columns/flat-column';
import type { ObjectWriter } from '../destinations/destination';
import type { Compressor } from './codecs';
import { PAGE_BYTES, writeFlatColumnChunk } from './flat-chunk-writer';
import { writeV1Chunk } from './v1-pages';
import { InternalError } from '../errors';
import { compressorsFor } from './codecs';
import type { ChunkStatisticsFacts, ColumnChunkFacts, PartFooterFacts, PartWriter, PartWriterOptions } from './part-writer';
import { WRITER } from '../version';

type ColumnEncoder = Parameters<typeof writeColumn>[0]['column'];

/** The encoding buffer is reused from row group to row group unless it grew past this. */
const KEEP_AT_MOST = 64 * 1024 * 1024;

/** A ByteWriter whose `flush()` hands everything encoded so far to the sink. */
class SinkByteWriter extends ByteWriter {
  handed = 0;
  private pending: Promise<void> = Promise.resolve();
  private spare: ArrayBuffer | null = null;

  constructor(
    private readonly sink: ObjectWriter,
    private readonly initialSize: number,
  ) {
    super(initialSize);
  }

  flush(): Promise<void> {
    if (this.index === 0) return this.pending;
    const chunk = new Uint8Array(this.buffer, 0, this.index);
    // Encoding goes on in another buffer while the sink takes this one: the one handed over last time, which
    // the sink has let go of (ObjectWriter.write), or a new one of the same size (row groups are similar).
    // A buffer grown unusually large is not kept for the next row group.
    const size = this.buffer.byteLength <= KEEP_AT_MOST ? this.buffer.byteLength : this.initialSize;
    const spare = this.spare;
    this.spare = null;
    this.buffer = spare && spare.byteLength >= size ? spare : new ArrayBuffer(size);
    this.view = new DataView(this.buffer);
    this.index = 0;
    this.enqueue(chunk, chunk.buffer.byteLength <= KEEP_AT_MOST);
    return this.pending;
  }

  /**
   * Bytes written after what is buffered, handed to the sink as they are instead of being copied into the
   * buffer (the pages of large values: flat-chunk-writer.ts). They must stay unchanged until `flush()` resolves.
   */
  handOver(pieces: Uint8Array[]): void {
    if (this.index > 0) void this.flush();
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      this.offset += piece.length;
      this.enqueue(piece, false);
    }
  }

  private enqueue(chunk: Uint8Array, reusable: boolean): void {
    this.handed += chunk.length;
    const previous = this.pending;
    this.pending = previous
      .then(() => this.sink.write(chunk))
      .then(() => {
        if (reusable) this.spare = chunk.buffer as ArrayBuffer;
      });
  }

  override finish(): Promise<void> {
    return this.flush();
  }

  /** The last write, whatever its outcome (for abort). */
  settled(): Promise<void> {
    return this.pending.then(
      () => undefined,
      () => undefined,
    );
  }
}

/**
 * The footer keeps every row group's min/max until the part is finished. For byte-array columns those are the
 * builders' values themselves: views into 64 KB-1 MB arena chunks, so each row group's statistics would keep
 * whole chunks of that row group alive, and memory would grow with the table. Copy them out.
 */
function detachStatistics(parquet: ParquetWriter): void {
  const groups = (parquet as unknown as { row_groups: { columns: { meta_data?: { statistics?: Record<string, unknown> } }[] }[] }).row_groups;
  const last = groups[groups.length - 1];
  for (const column of last?.columns ?? []) {
    const stats = column.meta_data?.statistics;
    if (!stats) continue;
    for (const field of ['min_value', 'max_value', 'min', 'max']) {
      const v = stats[field];
      if (v instanceof Uint8Array) stats[field] = v.slice();
    }
  }
}

/**
 * A column chunk's footer facts. The statistics go through the very conversion the footer's writer applies
 * (`unconvertStatistics`, same leaf, same truncation length), so they are the bytes the file holds, cut and
 * rounded up where the file's are.
 */
function chunkFacts(chunk: ColumnChunk, leaf: SchemaElement, truncateLength: number | undefined): ColumnChunkFacts {
  const meta = chunk.meta_data;
  if (!meta) throw new InternalError(`a column chunk of leaf "${leaf.name}" has no metadata`);
  let statistics: ChunkStatisticsFacts | null = null;
  if (meta.statistics) {
    const thrift = unconvertStatistics(meta.statistics, leaf, truncateLength) as {
      field_3?: bigint;
      field_5?: Uint8Array;
      field_6?: Uint8Array;
      field_7?: boolean;
      field_8?: boolean;
      field_9?: bigint;
    };
    statistics = {
      nullCount: thrift.field_3 === undefined ? null : Number(thrift.field_3),
      nanCount: thrift.field_9 === undefined ? null : Number(thrift.field_9),
      minValue: thrift.field_6 ? thrift.field_6.slice() : null,
      maxValue: thrift.field_5 ? thrift.field_5.slice() : null,
      minExact: thrift.field_8 !== false,
      maxExact: thrift.field_7 !== false,
    };
  }
  const dictionary = meta.dictionary_page_offset;
  const start = dictionary !== undefined && dictionary < meta.data_page_offset ? dictionary : meta.data_page_offset;
  return {
    path: meta.path_in_schema,
    physicalType: meta.type,
    ...(leaf.type_length !== undefined ? { typeLength: leaf.type_length } : {}),
    totalCompressedSize: Number(meta.total_compressed_size),
    numValues: Number(meta.num_values),
    startOffset: Number(start),
    statistics,
  };
}

export function createHyparquetPartWriter(options: PartWriterOptions): PartWriter {
  const { columns, compression, sink, metadata } = options;
  const pageVersion = options.pageVersion ?? 2;
  const extraCompressors = compressorsFor(compression);

   // The schema handed to ParquetWriter: annotation-free leaves while encoding, annotated again at `finish()`
  // (see the file comment). `restore` pairs each stripped element with what it must become.
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  const restore: [SchemaElement, SchemaElement][] = [];
  const jsonColumns = new Set<string>();
  for (const mapping of columns) {
    for (const element of mapping.schema) {
      if (element.converted_type === 'JSON') jsonColumns.add(mapping.schema[0].name);
      const keepsAnnotation = element.converted_type === 'DECIMAL' && element.type !== 'INT64';
      if (!element.type || keepsAnnotation) {
        schema.push({ ...element });
        continue;
      }
      const encoding: SchemaElement = { name: element.name, type: element.type, repetition_type: element.repetition_type };
      if (element.type_length !== undefined) encoding.type_length = element.type_length;
      restore.push([encoding, element]);
      schema.push(encoding);
    }
  }
  const kvMetadata: KeyValue[] | undefined = metadata
    ? Object.entries(metadata).map(([key, value]) => ({ key, value }))
    : undefined;

  // Per column: the leaf path hyparquet-writer encodes against, and the annotated leaf of the footer.
  const resolveSchemaPath = schemaPathResolver(schema);
  const leafPaths: SchemaTree[][] = columns.map((mapping) => {
    const path = resolveSchemaPath([mapping.schema[0].name]);
    while (path[path.length - 1].children.length > 0) path.push(path[path.length - 1].children[0]);
    return path;
  });

  const writer = new SinkByteWriter(sink, 1 << 20);
  const parquet = new ParquetWriter({
    writer,
    schema,
    codec: compression,
    compressors: extraCompressors,
    statistics: true,
    kvMetadata,
    createdBy: WRITER,
  });
  // The same codec table the per-value columns use (hyparquet-writer's JS snappy unless a faster one is given).
  const compress: Compressor | null = compression === 'UNCOMPRESSED' ? null : (parquet.compressors[compression] ?? null);
  let state: 'open' | 'finished' | 'aborted' = 'open';
  let footer: PartFooterFacts | null = null;

  function checkOpen(what: string): void {
    if (state !== 'open') throw new InternalError(`cannot ${what}: the part is already ${state}`);
  }

  return {
    get bytesWritten() {
      return writer.handed;
    },

    get footer(): PartFooterFacts {
      if (state !== 'finished') throw new InternalError(`the footer of a part is known once it is finished; this one is ${state}`);
      // One leaf per column (a LIST column's leaf is its element), in the order of the chunks.
      const leaves = columns.map((c) => c.schema[c.schema.length - 1]);
      footer ??= {
        rowGroups: parquet.row_groups.map((group) => {
          const chunks = group.columns.map((chunk, i) => chunkFacts(chunk, leaves[i], parquet.statisticsTruncateLength));
          return { numRows: Number(group.num_rows), startOffset: chunks[0]?.startOffset ?? 0, columns: chunks };
        }),
      };
      return footer;
    },

    async writeRowGroup(values: ColumnValues[], rows: number): Promise<void> {
      checkOpen('write a row group');
      if (values.length !== columns.length) {
        throw new InternalError(`a row group needs ${columns.length} columns, got ${values.length}`);
      }
      if (rows === 0) return;
      const groupStart = writer.offset;
      const chunks: ColumnChunk[] = [];
      for (let i = 0; i < columns.length; i++) {
        const data = values[i];
        const leaf = columns[i].schema[columns[i].schema.length - 1];
        const name = columns[i].schema[0].name;
        const length = isFlatColumn(data) ? data.rows : data.length;
        if (length !== rows) throw new InternalError(`column "${name}" has ${length} values for a row group of ${rows} rows`);
        const json = jsonColumns.has(name);
        if (isFlatColumn(data)) {
          if (columns[i].schema.length !== 1 || data.physical !== leaf.type) {
            throw new InternalError(`column "${name}": a ${data.physical} FlatColumn does not fit its ${leaf.type} schema`);
          }
          const result = writeFlatColumnChunk(data, { writer, element: leaf, codec: compression, compress, truncateBounds: json, pageVersion, handOver: (pieces) => writer.handOver(pieces) });
          chunks.push(result.chunk);
          parquet.pendingIndexes.push(result);
        } else {
          const path = leafPaths[i];
          const column: ColumnEncoder = {
            columnName: path.slice(1).map((n) => n.element.name).join('.'),
            element: path[path.length - 1].element,
            schemaPath: path.map((n) => n.element),
            codec: compression,
            compressors: parquet.compressors,
            // Arrays of JSON: hyparquet-writer would put whole documents in the footer.
            stats: !json,
            pageSize: PAGE_BYTES,
            columnIndex: false,
            offsetIndex: true,
          };
          const pageData = encodeNestedValues(path, data);
          if (pageVersion === 2) {
            const result = writeColumn({ writer, column, pageData });
            chunks.push(result.chunk);
            parquet.pendingIndexes.push(result);
          } else {
            // hyparquet-writer writes V2 pages only: encode uncompressed aside, then rewrite as V1 (v1-pages.ts).
            const scratch = new ByteWriter(1 << 16);
            const encoded = writeColumn({ writer: scratch, column: { ...column, codec: 'UNCOMPRESSED' }, pageData });
            const hasRepetition = path.some((n) => n.element.repetition_type === 'REPEATED');
            const hasDefinition = path.slice(1).some((n) => n.element.repetition_type !== 'REQUIRED');
            const result = writeV1Chunk(new Uint8Array(scratch.buffer, 0, scratch.offset), encoded.chunk, hasRepetition, hasDefinition, writer, compression, compress);
            chunks.push(result.chunk);
            parquet.pendingIndexes.push(result);
          }
        }
      }
      let totalBytes = 0n;
      for (const chunk of chunks) totalBytes += chunk.meta_data?.total_uncompressed_size ?? 0n;
      parquet.num_rows += BigInt(rows);
      parquet.row_groups.push({
        columns: chunks,
        total_byte_size: totalBytes,
        num_rows: BigInt(rows),
        total_compressed_size: BigInt(writer.offset - groupStart),
      });
      await writer.flush();
      detachStatistics(parquet);
    },

    async finish(): Promise<number> {
      checkOpen('finish');
      state = 'finished';
      for (const [encoding, annotated] of restore) Object.assign(encoding, annotated);
      await parquet.finish();
      return sink.close();
    },

    async abort(): Promise<void> {
      if (state === 'aborted') return;
      state = 'aborted';
      await writer.settled();
      await sink.abort();
    },
  };
}
