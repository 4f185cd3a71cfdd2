import { isFlatColumn } from '../../../../lambdas/engine/columns/flat-column';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectWriter } from '../../../../lambdas/engine/destinations/destination';
import { compressionAvailable } from '../../../../lambdas/engine/parquet/codecs';
import { createHyparquetPartWriter } from '../../../../lambdas/engine/parquet/hyparquet-part-writer';
import type { Compression } from '../../../../lambdas/engine/contracts';
import type { ColumnMapping } from '../../../../lambdas/engine/columns/column-mapping';
import { mapColumn, NATIVE } from '../../../../lambdas/engine/columns/map-column';
import { PgOid } from '../../../../lambdas/engine/columns/pg-oids';
import { FileObjectWriter, openDuck, sqlString, tempDir, type Duck } from '../../../support/type-roundtrip';

let duck: Duck;
let tmp: { dir: string; remove(): Promise<void> };

beforeAll(async () => {
  [duck, tmp] = await Promise.all([openDuck(), tempDir()]);
});

afterAll(async () => {
  duck?.close();
  await tmp?.remove();
});

const columns: ColumnMapping[] = [
  mapColumn({ name: 'id', pgType: 'bigint', typeOid: PgOid.int8, typmod: -1, elemTypeOid: null, nullable: false }, NATIVE),
  mapColumn({ name: 'note', pgType: 'text', typeOid: PgOid.text, typmod: -1, elemTypeOid: null, nullable: true }, NATIVE),
  mapColumn({ name: 'doc', pgType: 'jsonb', typeOid: PgOid.jsonb, typmod: -1, elemTypeOid: null, nullable: true }, NATIVE),
];

/** One row group of `rows` rows starting at id `first`, built through the column builders. */
function rowGroup(first: number, rows: number) {
  const builders = columns.map((c) => c.newBuilder());
  for (let i = 0; i < rows; i++) {
    const id = Buffer.alloc(8);
    id.writeBigInt64BE(BigInt(first + i));
    builders[0].append(id, 0, 8);
    if (i % 3 === 0) builders[1].appendNull();
    else {
      const note = Buffer.from(`note ${first + i} é`);
      builders[1].append(note, 0, note.length);
    }
    const doc = Buffer.concat([Buffer.from([1]), Buffer.from(`{"n": ${first + i}, "x": 1.10}`)]);
    builders[2].append(doc, 0, doc.length);
  }
  return builders.map((b) => b.take());
}

/** A sink that records calls and resolves each write only when told to. */
class GatedSink implements ObjectWriter {
  readonly events: string[] = [];
  private gates: (() => void)[] = [];
  size = 0;

  write(chunk: Uint8Array): Promise<void> {
    this.events.push(`write ${chunk.length}`);
    this.size += chunk.length;
    return new Promise((resolve) => this.gates.push(resolve));
  }
  release(): void {
    for (const gate of this.gates.splice(0)) gate();
  }
  async close(): Promise<number> {
    this.events.push('close');
    return this.size;
  }
  async abort(): Promise<void> {
    this.events.push('abort');
  }
}

async function writeFile(name: string, compression: Compression, groups: [number, number][]): Promise<{ file: string; bytes: number; sink: FileObjectWriter }> {
  const file = join(tmp.dir, name);
  const sink = new FileObjectWriter(file);
  const writer = createHyparquetPartWriter({ columns, compression, sink, metadata: { 'pgsip.runId': 'run-1', table: 'public.t' } });
  for (const [first, rows] of groups) await writer.writeRowGroup(rowGroup(first, rows), rows);
  const bytes = await writer.finish();
  return { file, bytes, sink };
}

describe('createHyparquetPartWriter', () => {
  it('writes one row group per call, streams each to the sink and returns the size', async () => {
    const { file, bytes, sink } = await writeFile('groups.parquet', 'SNAPPY', [
      [0, 1000],
      [1000, 10],
      [1010, 2500],
    ]);
    expect(bytes).toBe(statSync(file).size);
    // One write per row group, then the footer.
    expect(sink.chunks).toHaveLength(4);
    const groups = await duck.all(
      `SELECT row_group_id, row_group_num_rows AS n, compression FROM parquet_metadata(${sqlString(file)}) WHERE path_in_schema = 'id' ORDER BY row_group_id`,
    );
    expect(groups.map((g) => [Number(g.n), g.compression])).toEqual([
      [1000, 'SNAPPY'],
      [10, 'SNAPPY'],
      [2500, 'SNAPPY'],
    ]);
    const summary = await duck.all(
      `SELECT count(*) AS n, count(note) AS notes, min(id) AS lo, max(id) AS hi, max(CAST(doc AS VARCHAR)) AS d FROM read_parquet(${sqlString(file)})`,
    );
    expect(summary).toEqual([{ n: 3510n, notes: 2338n, lo: 0n, hi: 3509n, d: '{"n": 999, "x": 1.10}' }]);
  });

  it('records created_by, the key/value metadata, statistics and the JSON annotation', async () => {
    const { file } = await writeFile('meta.parquet', 'SNAPPY', [[5, 100]]);
    const meta = await duck.all(`SELECT created_by FROM parquet_file_metadata(${sqlString(file)})`);
    // `pgsip <version>`, the version package.json names.
    const { version } = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(meta).toEqual([{ created_by: `pgsip ${version}` }]);
    const kv = await duck.all(
      `SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${sqlString(file)}) ORDER BY k`,
    );
    expect(kv).toEqual([
      { k: 'pgsip.runId', v: 'run-1' },
      { k: 'table', v: 'public.t' },
    ]);
    const stats = await duck.all(
      `SELECT path_in_schema AS p, stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS nulls FROM parquet_metadata(${sqlString(file)}) ORDER BY column_id`,
    );
    expect(stats).toEqual([
      { p: 'id', lo: '5', hi: '104', nulls: 0n },
      { p: 'note', lo: 'note 10 é', hi: 'note 99 é', nulls: 34n },
      // JSON bounds are cut to 16 bytes on a character boundary (whole documents do not belong in a footer);
      // the max's last character is incremented so that it still encloses every document.
      { p: 'doc', lo: '{"n": 10, "x": 1', hi: '{"n": 99, "x": 2', nulls: 0n },
    ]);
    const schema = await duck.all(`SELECT name, converted_type FROM parquet_schema(${sqlString(file)}) WHERE name = 'doc'`);
    expect(schema).toEqual([{ name: 'doc', converted_type: 'JSON' }]);
  });

  it('writes UNCOMPRESSED parts', async () => {
    const { file } = await writeFile('plain.parquet', 'UNCOMPRESSED', [[0, 300]]);
    const rows = await duck.all(`SELECT count(*) AS n, max(compression) AS c FROM parquet_metadata(${sqlString(file)})`);
    expect(rows).toEqual([{ n: 3n, c: 'UNCOMPRESSED' }]);
    expect((await duck.all(`SELECT sum(id) AS s FROM read_parquet(${sqlString(file)})`))[0].s).toBe(44850n);
  });

  it('writes ZSTD where the runtime has it, and refuses it clearly where it does not', async () => {
    if (compressionAvailable('ZSTD')) {
      const { file } = await writeFile('zstd.parquet', 'ZSTD', [[0, 300]]);
      const rows = await duck.all(`SELECT max(compression) AS c FROM parquet_metadata(${sqlString(file)})`);
      expect(rows).toEqual([{ c: 'ZSTD' }]);
      expect((await duck.all(`SELECT sum(id) AS s FROM read_parquet(${sqlString(file)})`))[0].s).toBe(44850n);
    } else {
      const sink = new GatedSink();
      expect(() => createHyparquetPartWriter({ columns, compression: 'ZSTD', sink })).toThrow(
        /ZSTD compression is not available on Node/,
      );
      expect(sink.events).toEqual([]);
    }
  });

  it('waits for the sink: a row group is not done until its write is accepted', async () => {
    const sink = new GatedSink();
    const writer = createHyparquetPartWriter({ columns, compression: 'SNAPPY', sink });
    let done = false;
    const first = writer.writeRowGroup(rowGroup(0, 50), 50).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.events).toHaveLength(1);
    expect(done).toBe(false);
    expect(writer.bytesWritten).toBeGreaterThan(0);
    sink.release();
    await first;
    expect(done).toBe(true);
    const finishing = writer.finish();
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.events.at(-1)).toMatch(/^write /); // the footer, not yet closed
    sink.release();
    expect(await finishing).toBe(writer.bytesWritten);
    expect(sink.events.at(-1)).toBe('close');
  });

  it('aborts: the sink is aborted, nothing is closed, and the writer refuses more work', async () => {
    const file = join(tmp.dir, 'aborted.parquet');
    const sink = new FileObjectWriter(file);
    const writer = createHyparquetPartWriter({ columns, compression: 'SNAPPY', sink });
    await writer.writeRowGroup(rowGroup(0, 10), 10);
    await writer.abort();
    expect(sink.aborted).toBe(true);
    expect(sink.closed).toBe(false);
    expect(existsSync(file)).toBe(false);
    await expect(writer.writeRowGroup(rowGroup(0, 1), 1)).rejects.toThrow(/already aborted/);
  });

  it('refuses a row group whose columns disagree with it', async () => {
    const writer = createHyparquetPartWriter({ columns, compression: 'SNAPPY', sink: new GatedSink() });
    await expect(writer.writeRowGroup(rowGroup(0, 5), 6)).rejects.toThrow(/column "id" has 5 values for a row group of 6 rows/);
    await expect(writer.writeRowGroup(rowGroup(0, 5).slice(1), 5)).rejects.toThrow(/needs 3 columns, got 2/);
  });

  it('keeps no view of the row group in the footer: statistics are copied out of the builders\' buffers', async () => {
    // Byte-array min/max would otherwise be views into the builders' buffers, keeping every row group's
    // buffers alive until the part is finished (memory growing with the table). Overwriting those buffers
    // after the row group was written must not change the statistics in the footer.
    const file = join(tmp.dir, 'detached-stats.parquet');
    const writer = createHyparquetPartWriter({ columns, compression: 'UNCOMPRESSED', sink: new FileObjectWriter(file) });
    const values = rowGroup(0, 30);
    await writer.writeRowGroup(values, 30);
    const notes = values[1];
    if (!isFlatColumn(notes)) throw new Error('text columns are built as FlatColumns');
    notes.plain.fill(0x7a); // 'z'
    await writer.finish();
    const [stats] = await duck.all(
      `SELECT stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata(${sqlString(file)}) WHERE path_in_schema = 'note'`,
    );
    expect(stats).toEqual({ lo: 'note 1 é', hi: 'note 8 é' });
  });
});
