/**
 * pgsip reaches past hyparquet-writer's public API (hyparquet-part-writer.ts and flat-chunk-writer.ts say
 * why): it assembles row groups itself and writes its own column chunks, so it relies on modules under `src/`
 * and on fields of `ParquetWriter` and `ByteWriter`. That is only safe on the exact version it was written
 * against, so the dependency is pinned exactly, and this test names every internal pgsip uses: an upgrade
 * that moves one fails here, not in a user's lake.
 */
import { parquetMetadata } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js';
import { schemaPathResolver } from 'hyparquet-writer/src/schema.js';
import { unconvertStatistics } from 'hyparquet-writer/src/unconvert.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../../lib/pgsip-function';

const PINNED = '0.17.0';

describe('hyparquet-writer internals pgsip relies on', () => {
  it(`is pinned exactly to ${PINNED}, and that is what is installed`, () => {
    const ours = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(ours.dependencies['hyparquet-writer']).toBe(PINNED);
    // v1-pages.ts parses page headers with hyparquet's own parser: the version hyparquet-writer pins.
    const writerPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'hyparquet-writer', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(ours.dependencies.hyparquet).toBe(writerPackage.dependencies.hyparquet);
    // Its exports map hides package.json; read the installed copy from node_modules directly.
    const installed = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'hyparquet-writer', 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(PINNED);
  });

  it('exports the deep functions pgsip imports from src/, with the arity it calls them with', () => {
    expect(typeof writeColumn).toBe('function');
    expect(typeof encodeNestedValues).toBe('function');
    expect(encodeNestedValues.length).toBe(2); // (schemaPath, values)
    expect(typeof schemaPathResolver).toBe('function');
    expect(typeof writePageHeader).toBe('function');
    expect(writePageHeader.length).toBe(2); // (writer, header)
    // The footer's statistics as the footer holds them (Thrift field numbers), which Iceberg metrics read
    // (hyparquet-part-writer.ts, chunkFacts).
    const thrift = unconvertStatistics({ null_count: 2n, min_value: 'ab', max_value: 'abc', nan_count: 1n }, { name: 's', type: 'BYTE_ARRAY', converted_type: 'UTF8' }, 2) as Record<string, unknown>;
    expect(thrift).toMatchObject({ field_3: 2n, field_6: new TextEncoder().encode('ab'), field_5: new TextEncoder().encode('ac'), field_9: 1n });
  });

  it('ByteWriter keeps buffer, view, index and offset as fields that a subclass may swap', () => {
    const writer = new ByteWriter(8);
    expect(writer.buffer).toBeInstanceOf(ArrayBuffer);
    expect(writer.view).toBeInstanceOf(DataView);
    expect([writer.index, writer.offset]).toEqual([0, 0]);
    writer.appendBytes(new Uint8Array([1, 2, 3]));
    expect([writer.index, writer.offset]).toEqual([3, 3]);
    // SinkByteWriter hands out the bytes so far and starts a new buffer: offset keeps counting, index restarts.
    writer.buffer = new ArrayBuffer(8);
    writer.view = new DataView(writer.buffer);
    writer.index = 0;
    writer.appendBytes(new Uint8Array([4]));
    expect([writer.index, writer.offset]).toEqual([1, 4]);
    expect(typeof writer.finish).toBe('function');
  });

  it('ParquetWriter exposes the row groups, pending indexes, row count and codec table pgsip fills in', async () => {
    const extra = (input: Uint8Array) => input;
    const writer = new ByteWriter(1 << 10);
    const schema = [
      { name: 'root', num_children: 1 },
      { name: 'x', type: 'INT32' as const, repetition_type: 'OPTIONAL' as const },
    ];
    const parquet = new ParquetWriter({ writer, schema, codec: 'UNCOMPRESSED', compressors: { ZSTD: extra }, statistics: true, createdBy: 'pgsip' });
    expect(parquet.row_groups).toEqual([]);
    expect(parquet.pendingIndexes).toEqual([]);
    expect(parquet.num_rows).toBe(0n);
    expect(typeof parquet.compressors.SNAPPY).toBe('function');
    expect(parquet.compressors.ZSTD).toBe(extra);

    // A row group assembled the way hyparquet-part-writer.ts does it, then the footer written by finish().
    const resolve = schemaPathResolver(schema);
    const path = resolve(['x']);
    const start = writer.offset;
    const result = writeColumn({
      writer,
      column: {
        columnName: 'x',
        element: path[path.length - 1].element,
        schemaPath: path.map((n) => n.element),
        codec: 'UNCOMPRESSED',
        compressors: parquet.compressors,
        stats: true,
        pageSize: 1 << 20,
        columnIndex: false,
        offsetIndex: true,
      },
      pageData: encodeNestedValues(path, [1, null, 3]),
    });
    parquet.pendingIndexes.push(result);
    parquet.num_rows += 3n;
    parquet.row_groups.push({ columns: [result.chunk], total_byte_size: 0n, num_rows: 3n, total_compressed_size: BigInt(writer.offset - start) });
    await parquet.finish();

    const bytes = new Uint8Array(writer.buffer, 0, writer.index);
    const metadata = parquetMetadata(bytes.slice().buffer);
    expect(metadata.num_rows).toBe(3n);
    expect(metadata.row_groups).toHaveLength(1);
    expect(metadata.created_by).toBe('pgsip');
    // parquetHeader (v1-pages.ts) reads the page header the writer wrote, from a { view, offset } reader.
    const reader = { view: new DataView(bytes.slice().buffer), offset: Number(metadata.row_groups[0].columns[0].meta_data!.data_page_offset) };
    const header = parquetHeader(reader);
    expect(header.type).toBe('DATA_PAGE_V2');
    expect(header.data_page_header_v2).toMatchObject({ num_values: 3, num_nulls: 1, num_rows: 3 });
  });
});
