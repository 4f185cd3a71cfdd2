/**
 * Iceberg data file metrics from the footer of a part pgsip wrote, checked against pyarrow.
 *
 * The parts come from a real Postgres table through the engine's own path: binary COPY, the column builders
 * of both type profiles, and the hyparquet part writer, cut into small row groups. pyarrow (Arrow C++, an
 * independent reader) reads each file back: its `pyarrow.compute` counts and min/max per column are what our
 * metrics must agree with, and what it reads from the footer is what `PartWriter.footer` must say.
 */
import copyStreams from 'pg-copy-streams';
import pg from 'pg';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type RunningPostgres } from '../../../../bin/local/embedded-postgres';
import { mapColumn, NATIVE, type ColumnProfile } from '../../../../lambdas/engine/columns/map-column';
import { dataFileMetrics, metricsColumnsOf, splitOffsets } from '../../../../lambdas/engine/iceberg/data-file-metrics';
import type { DataFileMetrics, IcebergPrimitive, IcebergType } from '../../../../lambdas/engine/iceberg/model';
import { compareBytes, compareValues, deserializeValue, serializeValue, type IcebergValue } from '../../../../lambdas/engine/iceberg/single-value';
import { createHyparquetPartWriter } from '../../../../lambdas/engine/parquet/hyparquet-part-writer';
import type { ColumnChunkFacts, PartFooterFacts } from '../../../../lambdas/engine/parquet/part-writer';
import { BinaryCopyParser } from '../../../../lambdas/engine/postgres/binary-copy-parser';
import { describeTable } from '../../../../lambdas/engine/postgres/catalog';
import { quoteIdent } from '../../../../lambdas/engine/postgres/table-name';
import type { ObjectWriter } from '../../../../lambdas/engine/destinations/destination';
import { decodeOracleValue, pyarrowOracle, type OracleColumn, type OracleFile } from '../../../support/pyarrow-oracle';

// Postgres and a folder of its own (not type-roundtrip.ts's fixture, which loads the whole export pipeline).
const fx = {} as { db: RunningPostgres; client: pg.Client; dir: string };

beforeAll(async () => {
  [fx.db, fx.dir] = await Promise.all([startEmbeddedPostgres(), mkdtemp(join(tmpdir(), 'pgsip-metrics-'))]);
  fx.client = new pg.Client({ connectionString: fx.db.url });
  await fx.client.connect();
});

afterAll(async () => {
  await fx.client?.end();
  await fx.db?.stop();
  if (fx.dir) await rm(fx.dir, { recursive: true, force: true });
});

/** The part's bytes into a local file. */
class FileSink implements ObjectWriter {
  private readonly handle;
  private size = 0;

  constructor(path: string) {
    this.handle = open(path, 'w');
  }

  async write(chunk: Uint8Array): Promise<void> {
    await (await this.handle).write(chunk);
    this.size += chunk.length;
  }

  async close(): Promise<number> {
    await (await this.handle).close();
    return this.size;
  }

  async abort(): Promise<void> {
    await (await this.handle).close();
  }
}

const PORTABLE: ColumnProfile = { types: 'portable', infinity: 'keep' };
const ROWS = 40;
const GROUP_ROWS = 6;

/** The table's columns with the Iceberg type each is declared as (field id = position + 1). */
const COLUMNS: [name: string, type: IcebergType][] = [
  ['id', 'int'],
  ['big', 'long'],
  ['amount', 'decimal(12, 2)'],
  ['wide', 'decimal(38, 10)'],
  ['ratio', 'double'],
  ['zeros', 'double'],
  ['neg_zero', 'double'],
  ['r4', 'float'],
  ['nan_only', 'double'],
  ['label', 'string'],
  ['long_text', 'string'],
  ['blob', 'binary'],
  ['long_blob', 'binary'],
  ['day', 'date'],
  ['at', 'timestamp'],
  ['atz', 'timestamptz'],
  ['flag', 'boolean'],
  ['nothing', 'int'],
  ['tags', { type: 'list', 'element-id': 100, 'element-required': false, element: 'string' }],
];
const fieldId = (name: string) => COLUMNS.findIndex(([n]) => n === name) + 1;
const metricsColumns = metricsColumnsOf(COLUMNS.map(([name, type], i) => ({ id: i + 1, name, required: false, type })));

beforeAll(async () => {
  await fx.client.query(`
    CREATE TABLE metrics_src (
      id int, big bigint, amount numeric(12,2), wide numeric(38,10),
      ratio float8, zeros float8, neg_zero float8, r4 real, nan_only float8,
      label text, long_text text, blob bytea, long_blob bytea,
      day date, at timestamp, atz timestamptz, flag boolean, nothing int, tags text[]
    );
    INSERT INTO metrics_src
    SELECT i,
      CASE WHEN i = 3 THEN -9223372036854775808 WHEN i = 17 THEN 9223372036854775807 WHEN i % 11 = 0 THEN NULL ELSE i * 1000003 - 20000000 END,
      CASE WHEN i % 9 = 0 THEN NULL WHEN i = 5 THEN -9999999999.99 WHEN i = 33 THEN 9999999999.99 ELSE i * 14.2 - 300 END,
      CASE WHEN i = 2 THEN -9999999999999999999999999999.9999999999 WHEN i = 39 THEN 9999999999999999999999999999.9999999999
           WHEN i % 7 = 0 THEN NULL ELSE i * 1.0000000001 - 20 END,
      CASE i % 6 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN '-0'::float8 WHEN 2 THEN '0'::float8 WHEN 3 THEN NULL ELSE i * 0.25::float8 END,
      CASE WHEN i % 4 = 0 THEN NULL ELSE '0'::float8 END,
      CASE WHEN i % 4 = 0 THEN NULL ELSE '-0'::float8 END,
      CASE i % 5 WHEN 0 THEN 'NaN'::real WHEN 1 THEN NULL ELSE (i * 1.25 - 20)::real END,
      CASE WHEN i % 2 = 0 THEN 'NaN'::float8 END,
      CASE i % 8 WHEN 0 THEN NULL WHEN 1 THEN 'é' || i WHEN 2 THEN '日本' || i WHEN 3 THEN U&'\\E000' || i
                 WHEN 4 THEN U&'\\+01F600' || i WHEN 5 THEN 'abc' || i ELSE 'Zed' || i END,
      CASE WHEN i = 7 THEN repeat('z', 2000) WHEN i % 3 = 0 THEN NULL ELSE 'alph-' || repeat('é', 10 + i % 5) || i END,
      CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '\\x00'::bytea WHEN 2 THEN '\\x7f01'::bytea WHEN 3 THEN '\\x80'::bytea
                 ELSE decode(lpad(to_hex(i * 6), 2, '0') || 'ab', 'hex') END,
      CASE WHEN i = 11 THEN decode(repeat('ff', 2000), 'hex') WHEN i % 2 = 0 THEN NULL ELSE decode(repeat('0' || (i % 10)::text, 30), 'hex') END,
      CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN date '1969-12-31' - i WHEN 2 THEN date '1900-01-01' + i WHEN 3 THEN date '4000-12-31'
                 ELSE date '2025-01-01' + i END,
      CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN timestamp '1969-12-31 23:59:59.999999' WHEN 2 THEN timestamp '1900-01-01' + i * interval '1 hour'
                 WHEN 3 THEN timestamp '2025-01-01 12:00:00.123456' ELSE timestamp '2262-04-01 23:47:16' - i * interval '1 day' END,
      CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN timestamptz '1969-12-31 23:59:59.999999+00' - i * interval '1 second'
                 WHEN 2 THEN timestamptz '1901-12-13 20:45:52+02' ELSE timestamptz '2099-12-31 23:59:59.5-08' - i * interval '1 minute' END,
      CASE i % 3 WHEN 0 THEN NULL ELSE i % 2 = 0 END,
      NULL,
      CASE WHEN i % 4 = 0 THEN NULL ELSE ARRAY['t' || i, NULL, 'ü'] END
    FROM generate_series(1, ${ROWS}) AS i;
  `);
});

interface WrittenPart {
  file: string;
  bytes: number;
  footer: PartFooterFacts;
}

/** Exports `metrics_src` the way a shard does (binary COPY → builders → part writer), a row group every GROUP_ROWS rows. */
async function writePart(profile: ColumnProfile, name: string): Promise<WrittenPart> {
  const catalog = await describeTable(fx.client, 'metrics_src');
  const mappings = catalog.columns.map((c) => mapColumn(c, profile));
  expect(mappings.map((m) => m.plan.name)).toEqual(COLUMNS.map(([n]) => n));
  const builders = mappings.map((m) => m.newBuilder());
  const file = join(fx.dir, name);
  const writer = createHyparquetPartWriter({
    columns: mappings,
    compression: 'SNAPPY',
    sink: new FileSink(file),
    pageVersion: profile.types === 'portable' ? 1 : 2,
  });
  expect(() => writer.footer).toThrow(/once it is finished/);
  const parser = new BinaryCopyParser(builders);
  const select = mappings.map((m) => m.select(quoteIdent(m.plan.name))).join(', ');
  const stream = fx.client.query(copyStreams.to(`COPY (SELECT ${select} FROM ${catalog.quoted} ORDER BY id) TO STDOUT (FORMAT binary)`));
  let inGroup = 0;
  const flush = async () => {
    const rows = inGroup;
    inGroup = 0;
    if (rows > 0) await writer.writeRowGroup(builders.map((b) => b.take()), rows);
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    // Small slices: a push completes at most one row, so row groups are exactly GROUP_ROWS rows.
    for (let at = 0; at < chunk.length; at += 16) {
      inGroup += parser.push(chunk.subarray(at, at + 16));
      if (inGroup >= GROUP_ROWS) await flush();
    }
  }
  parser.finish();
  await flush();
  const bytes = await writer.finish();
  return { file, bytes, footer: writer.footer };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A footer statistic decoded the way pyarrow's `min_raw`/`max_raw` report it. */
function rawOf(chunk: ColumnChunkFacts, bytes: Uint8Array): string | boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (chunk.physicalType) {
    case 'BOOLEAN':
      return bytes[0] !== 0;
    case 'INT32':
      return String(view.getInt32(0, true));
    case 'INT64':
      return String(view.getBigInt64(0, true));
    case 'FLOAT':
    case 'DOUBLE': {
      const v = chunk.physicalType === 'FLOAT' ? view.getFloat32(0, true) : view.getFloat64(0, true);
      const out = new DataView(new ArrayBuffer(8));
      out.setFloat64(0, v, false);
      return hex(new Uint8Array(out.buffer));
    }
    default:
      return hex(bytes);
  }
}

function expectFooterAsPyarrowReadsIt(part: WrittenPart, oracle: OracleFile): void {
  expect(oracle.num_rows).toBe(ROWS);
  expect(part.footer.rowGroups).toHaveLength(Math.ceil(ROWS / GROUP_ROWS));
  expect(oracle.row_groups).toHaveLength(part.footer.rowGroups.length);
  let comparedBounds = 0;
  part.footer.rowGroups.forEach((group, g) => {
    const theirs = oracle.row_groups[g];
    expect(group.numRows).toBe(theirs.num_rows);
    expect(group.columns).toHaveLength(theirs.columns.length);
    group.columns.forEach((chunk, c) => {
      const t = theirs.columns[c];
      const where = `row group ${g}, ${t.path}`;
      expect(chunk.path.join('.'), where).toBe(t.path);
      expect(chunk.physicalType, where).toBe(t.physical_type);
      expect(chunk.numValues, where).toBe(t.num_values);
      expect(chunk.totalCompressedSize, where).toBe(t.total_compressed_size);
      expect(chunk.startOffset, where).toBe(t.dictionary_page_offset ?? t.data_page_offset);
      expect(chunk.statistics?.nullCount ?? null, where).toBe(t.null_count);
      if (t.has_min_max) {
        comparedBounds++;
        expect(chunk.statistics?.minValue && rawOf(chunk, chunk.statistics.minValue), where).toBe(t.min_raw);
        expect(chunk.statistics?.maxValue && rawOf(chunk, chunk.statistics.maxValue), where).toBe(t.max_raw);
      }
    });
  });
  // pyarrow must have vouched for most chunks' bounds, or this comparison says little.
  expect(comparedBounds).toBeGreaterThan(part.footer.rowGroups.length * 10);
  expect(part.footer.rowGroups[0].startOffset).toBe(4);
}

/** The oracle's value in single-value.ts's representation for `type`. */
function oracleValue(type: IcebergPrimitive, column: OracleColumn, which: 'min' | 'max'): IcebergValue | null {
  const v = decodeOracleValue(column.kind, column[which]);
  if (v === null) return null;
  if (type === 'int' || type === 'date') return Number(v);
  return v;
}

function bound(metrics: DataFileMetrics, which: 'lower' | 'upper', id: number, type: IcebergPrimitive): IcebergValue | undefined {
  const bytes = (which === 'lower' ? metrics.lower_bounds : metrics.upper_bounds).get(id);
  return bytes === undefined ? undefined : deserializeValue(type, bytes);
}

function expectMetricsAsPyarrowComputesThem(metrics: DataFileMetrics, oracle: OracleFile): void {
  // column_sizes: every leaf's chunks, keyed by the leaf's field id (a list's element id).
  COLUMNS.forEach(([name, type], i) => {
    const id = typeof type === 'string' ? i + 1 : type['element-id'];
    const sum = oracle.row_groups.reduce((n, g) => n + g.columns[i].total_compressed_size, 0);
    expect(metrics.column_sizes.get(id), `column_sizes of ${name}`).toBe(sum);
  });
  expect(metrics.column_sizes.size).toBe(COLUMNS.length);

  for (const [name, type] of COLUMNS) {
    const id = fieldId(name);
    const column = oracle.columns[name];
    if (typeof type !== 'string') {
      // LIST: no counts and no bounds, for the list nor its element (Iceberg Java's ParquetMetrics).
      expect(column.kind).toBe('list');
      for (const m of [metrics.value_counts, metrics.null_value_counts, metrics.nan_value_counts, metrics.lower_bounds, metrics.upper_bounds]) {
        expect(m.has(id) || m.has(type['element-id']), `${name} has no metrics`).toBe(false);
      }
      continue;
    }
    expect(metrics.value_counts.get(id), `value_counts of ${name}`).toBe(column.rows);
    expect(metrics.null_value_counts.get(id), `null_value_counts of ${name}`).toBe(column.null_count);
    const floating = type === 'float' || type === 'double';
    expect(metrics.nan_value_counts.get(id), `nan_value_counts of ${name}`).toBe(floating ? column.nan_count : undefined);

    const min = oracleValue(type, column, 'min');
    const max = oracleValue(type, column, 'max');
    const lower = bound(metrics, 'lower', id, type);
    const upper = bound(metrics, 'upper', id, type);
    if (min === null) {
      // Every value NULL or NaN: counts only.
      expect([lower, upper], `${name} bounds`).toEqual([undefined, undefined]);
      continue;
    }
    expect(lower, `${name} has a lower bound`).toBeDefined();
    // A bound encloses every value, in Iceberg's order.
    expect(compareValues(type, lower!, min), `${name}: lower bound <= min`).toBeLessThanOrEqual(0);
    if (upper !== undefined) expect(compareValues(type, upper, max!), `${name}: upper bound >= max`).toBeGreaterThanOrEqual(0);
    if (type === 'string' || type === 'binary') {
      const minBytes = serializeValue(type, min);
      const maxBytes = serializeValue(type, max!);
      const lowerBytes = metrics.lower_bounds.get(id)!;
      // Exact when short; otherwise a prefix of the min, at most 16 bytes (and whole characters for strings).
      if (minBytes.length <= 16) expect(hex(lowerBytes), `${name} lower`).toBe(hex(minBytes));
      else {
        expect(lowerBytes.length, `${name} lower`).toBeLessThanOrEqual(16);
        expect(lowerBytes.length, `${name} lower`).toBeGreaterThanOrEqual(13);
        expect(hex(minBytes).startsWith(hex(lowerBytes)), `${name} lower is a prefix of the min`).toBe(true);
      }
      if (upper !== undefined) {
        const upperBytes = metrics.upper_bounds.get(id)!;
        if (maxBytes.length <= 16) expect(hex(upperBytes), `${name} upper`).toBe(hex(maxBytes));
        else {
          expect(upperBytes.length, `${name} upper`).toBeLessThanOrEqual(16);
          expect(compareBytes(upperBytes, maxBytes), `${name} upper > max`).toBeGreaterThan(0);
        }
      }
      continue;
    }
    expect(upper, `${name} has an upper bound`).toBeDefined();
    if (floating) {
      // Numerically the min and max; a zero lower bound is -0 and a zero upper bound +0.
      expect(lower === min, `${name} lower ${String(lower)} vs ${String(min)}`).toBe(true);
      expect(upper === max, `${name} upper ${String(upper)} vs ${String(max)}`).toBe(true);
      if (min === 0) expect(Object.is(lower, -0), `${name} lower is -0`).toBe(true);
      if (max === 0) expect(Object.is(upper, 0), `${name} upper is +0`).toBe(true);
    } else {
      expect(lower, `${name} lower`).toEqual(min);
      expect(upper, `${name} upper`).toEqual(max);
    }
  }
}

describe.each<[string, ColumnProfile]>([
  ['portable', PORTABLE],
  ['native', NATIVE],
])('metrics of a part written under the %s profile', (label, profile) => {
  let part: WrittenPart;
  let oracle: OracleFile;
  let metrics: DataFileMetrics;

  beforeAll(async () => {
    part = await writePart(profile, `metrics-${label}.parquet`);
    oracle = pyarrowOracle(part.file);
    metrics = dataFileMetrics(part.footer, metricsColumns);
  });

  it('exposes the footer pyarrow reads: sizes, counts, offsets and statistics of every chunk', () => {
    expectFooterAsPyarrowReadsIt(part, oracle);
  });

  it('agrees with pyarrow.compute on every column: counts, NaNs, and bounds enclosing every value', () => {
    expectMetricsAsPyarrowComputesThem(metrics, oracle);
  });

  it('has the bounds worked out by hand', () => {
    const get = (name: string, which: 'lower' | 'upper') => {
      const type = COLUMNS[fieldId(name) - 1][1] as IcebergPrimitive;
      return bound(metrics, which, fieldId(name), type);
    };
    expect(get('big', 'lower')).toBe(-(1n << 63n));
    expect(get('big', 'upper')).toBe((1n << 63n) - 1n);
    expect(get('amount', 'lower')).toBe(-999999999999n);
    expect(get('amount', 'upper')).toBe(999999999999n);
    // Minimal bytes, not the 6 bytes Parquet stores numeric(12,2) in (portable) or the 8 of INT64 (native).
    expect(hex(metrics.lower_bounds.get(fieldId('amount'))!)).toBe('ff172b5af001');
    expect(hex(metrics.upper_bounds.get(fieldId('wide'))!)).toBe('4b3b4ca85a86c47a098a223fffffffff');
    expect(Object.is(get('ratio', 'lower'), -0)).toBe(true);
    expect(get('ratio', 'upper')).toBe(10);
    // Only +0.0 in the column: Parquet writes the zero min as -0, still a lower bound in Iceberg's order.
    expect(Object.is(get('zeros', 'lower'), -0)).toBe(true);
    expect(Object.is(get('zeros', 'upper'), 0)).toBe(true);
    expect(Object.is(get('neg_zero', 'lower'), -0)).toBe(true);
    expect(Object.is(get('neg_zero', 'upper'), 0)).toBe(true);
    expect(metrics.nan_value_counts.get(fieldId('nan_only'))).toBe(ROWS / 2);
    // Code point order: the emoji (F0 9F ...) sorts after U+E000 (EE 80 80), which UTF-16 would put last.
    expect(get('label', 'upper')).toBe('😀4');
    expect(get('label', 'lower')).toBe('Zed14');
    // The 2000-byte max is cut and rounded up by the writer; the 30-byte-or-longer min is cut on a character.
    expect(get('long_text', 'upper')).toBe('zzzzzzzzzzzzzzz{');
    expect(get('long_text', 'lower')).toBe('alph-ééééé');
    // 2000 bytes of 0xff have no shorter upper bound: the writer kept no max, so the file has no upper bound.
    expect(metrics.upper_bounds.has(fieldId('long_blob'))).toBe(false);
    expect(hex(metrics.lower_bounds.get(fieldId('long_blob'))!)).toBe('01'.repeat(16));
    expect(hex(metrics.lower_bounds.get(fieldId('blob'))!)).toBe('00');
    expect(hex(metrics.upper_bounds.get(fieldId('blob'))!)).toBe('eaab');
    expect(get('day', 'lower')).toBe(-25567 + 2);
    expect(get('day', 'upper')).toBe(Date.UTC(4000, 11, 31) / 86_400_000);
    expect(get('at', 'lower')).toBe(BigInt(Date.UTC(1900, 0, 1, 2)) * 1000n);
    expect(get('atz', 'lower')).toBe(BigInt(Date.UTC(1901, 11, 13, 18, 45, 52)) * 1000n);
    expect([get('flag', 'lower'), get('flag', 'upper')]).toEqual([false, true]);
    expect(metrics.value_counts.get(fieldId('nothing'))).toBe(ROWS);
    expect(metrics.null_value_counts.get(fieldId('nothing'))).toBe(ROWS);
  });

  it('gives the row groups as split offsets, ascending, where pyarrow finds them', () => {
    const offsets = splitOffsets(part.footer);
    const theirs = oracle.row_groups.map((g) => g.columns[0].dictionary_page_offset ?? g.columns[0].data_page_offset);
    expect(offsets).toEqual(theirs);
    expect(offsets[0]).toBe(4);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(part.bytes).toBeGreaterThan(offsets[offsets.length - 1]);
  });
});

describe('dataFileMetrics on footers built by hand: the rules a footer from elsewhere could test', () => {
  const le32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return b;
  };
  const le64 = (v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, v, true);
    return b;
  };
  const f64 = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    return b;
  };
  const utf8 = (s: string) => new TextEncoder().encode(s);

  function chunk(physicalType: ColumnChunkFacts['physicalType'], o: { min?: Uint8Array; max?: Uint8Array; nulls?: number | null; nans?: number; values?: number; noStats?: boolean; size?: number }): ColumnChunkFacts {
    return {
      path: ['c'],
      physicalType,
      totalCompressedSize: o.size ?? 100,
      numValues: o.values ?? 10,
      startOffset: 4,
      statistics: o.noStats
        ? null
        : { nullCount: o.nulls === undefined ? 0 : o.nulls, nanCount: o.nans ?? null, minValue: o.min ?? null, maxValue: o.max ?? null, minExact: true, maxExact: true },
    };
  }
  const footerOf = (...groups: ColumnChunkFacts[][]): PartFooterFacts => ({
    rowGroups: groups.map((columns, g) => ({ numRows: 10, startOffset: 4 + 1000 * (groups.length - g), columns })),
  });
  const one = (type: IcebergType, ...chunks: ColumnChunkFacts[]) => dataFileMetrics(footerOf(...chunks.map((c) => [c])), [{ fieldId: 1, type, leafIndex: 0 }]);
  const lowerOf = (m: DataFileMetrics) => m.lower_bounds.get(1);
  const upperOf = (m: DataFileMetrics) => m.upper_bounds.get(1);

  it('merges row groups: the least min, the greatest max, sums of sizes and counts', () => {
    const m = one('int', chunk('INT32', { min: le32(-5), max: le32(7), nulls: 2, size: 30 }), chunk('INT32', { min: le32(-9), max: le32(3), nulls: 1, size: 12 }));
    expect(m.column_sizes.get(1)).toBe(42);
    expect(m.value_counts.get(1)).toBe(20);
    expect(m.null_value_counts.get(1)).toBe(3);
    expect(m.nan_value_counts.has(1)).toBe(false);
    expect(hex(lowerOf(m)!)).toBe(hex(le32(-9)));
    expect(hex(upperOf(m)!)).toBe(hex(le32(7)));
  });

  it('skips a row group of NULLs only, but drops a bound a row group holding values lacks', () => {
    const allNull = chunk('INT64', { nulls: 10 });
    const m = one('long', allNull, chunk('INT64', { min: le64(1n), max: le64(2n), nulls: 0 }));
    expect([lowerOf(m), upperOf(m)].map((b) => b && hex(b))).toEqual([hex(le64(1n)), hex(le64(2n))]);
    const noMax = one('binary', chunk('BYTE_ARRAY', { min: Uint8Array.of(1), nulls: 3 }), chunk('BYTE_ARRAY', { min: Uint8Array.of(0), max: Uint8Array.of(9) }));
    expect(hex(lowerOf(noMax)!)).toBe('00');
    expect(upperOf(noMax)).toBeUndefined();
    // Without a null count it cannot tell whether a bound-less chunk is empty: no bounds.
    const unknown = one('int', chunk('INT32', { nulls: null }), chunk('INT32', { min: le32(1), max: le32(1) }));
    expect([lowerOf(unknown), upperOf(unknown), unknown.null_value_counts.has(1)]).toEqual([undefined, undefined, false]);
  });

  it('keeps value counts but no null count and no bounds when a chunk has no statistics', () => {
    const m = one('int', chunk('INT32', { noStats: true }), chunk('INT32', { min: le32(1), max: le32(2) }));
    expect(m.value_counts.get(1)).toBe(20);
    expect(m.null_value_counts.has(1)).toBe(false);
    expect(m.lower_bounds.size + m.upper_bounds.size).toBe(0);
  });

  it('floats: counts NaNs, never makes NaN a bound, widens zeros to -0 / +0', () => {
    const onlyNaN = one('double', chunk('DOUBLE', { nulls: 4, nans: 6 }));
    expect([onlyNaN.value_counts.get(1), onlyNaN.null_value_counts.get(1), onlyNaN.nan_value_counts.get(1)]).toEqual([10, 4, 6]);
    expect(onlyNaN.lower_bounds.size + onlyNaN.upper_bounds.size).toBe(0);
    // Another writer's NaN min: counts only (Iceberg Java does the same).
    const nanBound = one('double', chunk('DOUBLE', { min: f64(Number.NaN), max: f64(3), nans: 1 }));
    expect(nanBound.lower_bounds.size + nanBound.upper_bounds.size).toBe(0);
    expect(nanBound.nan_value_counts.get(1)).toBe(1);
    // A +0 min may hide a -0 (Parquet's rule): the lower bound is -0; a -0 max may hide a +0: the upper is +0.
    const zeros = one('double', chunk('DOUBLE', { min: f64(0), max: f64(-0), nans: 0 }));
    expect(Object.is(deserializeValue('double', lowerOf(zeros)!), -0)).toBe(true);
    expect(Object.is(deserializeValue('double', upperOf(zeros)!), 0)).toBe(true);
    const float = one('float', chunk('FLOAT', { min: Uint8Array.of(0, 0, 0xc0, 0xbf), max: Uint8Array.of(0, 0, 0xc0, 0x3f), nans: 0 }));
    expect([deserializeValue('float', lowerOf(float)!), deserializeValue('float', upperOf(float)!)]).toEqual([-1.5, 1.5]);
    // A missing NaN count in one chunk: no NaN count for the file.
    const partial = one('double', chunk('DOUBLE', { min: f64(1), max: f64(1), nans: 0 }), chunk('DOUBLE', { min: f64(1), max: f64(1) }));
    expect(partial.nan_value_counts.has(1)).toBe(false);
  });

  it('converts every decimal layout to minimal big-endian bytes', () => {
    const int32 = one('decimal(9, 2)', chunk('INT32', { min: le32(-1420), max: le32(1420) }));
    expect([hex(lowerOf(int32)!), hex(upperOf(int32)!)]).toEqual(['fa74', '058c']);
    const int64 = one('decimal(18, 2)', chunk('INT64', { min: le64(-129n), max: le64(128n) }));
    expect([hex(lowerOf(int64)!), hex(upperOf(int64)!)]).toEqual(['ff7f', '0080']);
    const fixed = one('decimal(12, 2)', chunk('FIXED_LEN_BYTE_ARRAY', { min: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x80), max: Uint8Array.of(0, 0, 0, 0, 0, 0) }));
    expect([hex(lowerOf(fixed)!), hex(upperOf(fixed)!)]).toEqual(['80', '00']);
    // Signed order across row groups, not the unsigned order of the bytes.
    const merged = one(
      'decimal(12, 2)',
      chunk('FIXED_LEN_BYTE_ARRAY', { min: Uint8Array.of(0, 0, 0, 0, 0, 5), max: Uint8Array.of(0, 0, 0, 0, 0, 9) }),
      chunk('FIXED_LEN_BYTE_ARRAY', { min: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xfe), max: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff) }),
    );
    expect([hex(lowerOf(merged)!), hex(upperOf(merged)!)]).toEqual(['fe', '09']);
  });

  it('orders string bounds by UTF-8 bytes across row groups', () => {
    const m = one('string', chunk('BYTE_ARRAY', { min: utf8('😀'), max: utf8('😀') }), chunk('BYTE_ARRAY', { min: utf8('\uE000'), max: utf8('\uE000') }));
    expect(deserializeValue('string', lowerOf(m)!)).toBe('\uE000');
    expect(deserializeValue('string', upperOf(m)!)).toBe('😀');
  });

  it("applies Iceberg's truncate(16): 16 code points for strings, 16 bytes for binary, the upper bound rounded up or dropped", () => {
    const long = 'é'.repeat(10) + 'abcdefghijklmnop';
    const m = one('string', chunk('BYTE_ARRAY', { min: utf8(long), max: utf8(long) }));
    expect(deserializeValue('string', lowerOf(m)!)).toBe('é'.repeat(10) + 'abcdef');
    expect(deserializeValue('string', upperOf(m)!)).toBe('é'.repeat(10) + 'abcdeg');
    // The last of the 16 code points cannot grow: the one before does, and the rest go.
    const top = 'a'.repeat(15) + '\u{10FFFF}' + 'zz';
    expect(deserializeValue('string', upperOf(one('string', chunk('BYTE_ARRAY', { min: utf8(top), max: utf8(top) })))!)).toBe('a'.repeat(14) + 'b');
    // U+D7FF grows past the surrogates to U+E000.
    const edge = 'a'.repeat(15) + '\uD7FF' + 'z';
    expect(deserializeValue('string', upperOf(one('string', chunk('BYTE_ARRAY', { min: utf8(edge), max: utf8(edge) })))!)).toBe('a'.repeat(15) + '\uE000');
    const none = '\u{10FFFF}'.repeat(17);
    const unbounded = one('string', chunk('BYTE_ARRAY', { min: utf8('a'), max: utf8(none) }));
    expect(deserializeValue('string', lowerOf(unbounded)!)).toBe('a');
    expect(upperOf(unbounded)).toBeUndefined();
    const bin = one('binary', chunk('BYTE_ARRAY', { min: new Uint8Array(20).fill(1), max: Uint8Array.of(...new Uint8Array(15).fill(1), 0xff, 0xff, 7) }));
    expect(hex(lowerOf(bin)!)).toBe('01'.repeat(16));
    expect(hex(upperOf(bin)!)).toBe('01'.repeat(14) + '02');
    expect(upperOf(one('binary', chunk('BYTE_ARRAY', { min: Uint8Array.of(0), max: new Uint8Array(20).fill(0xff) })))).toBeUndefined();
    // A longer truncate length keeps them whole.
    const whole = dataFileMetrics(footerOf([chunk('BYTE_ARRAY', { min: utf8(long), max: utf8(long) })]), [{ fieldId: 1, type: 'string', leafIndex: 0 }], { truncateLength: 64 });
    expect(deserializeValue('string', whole.upper_bounds.get(1)!)).toBe(long);
  });

  it('gives a list column its leaf size under the element id and nothing else', () => {
    const list: IcebergType = { type: 'list', 'element-id': 7, 'element-required': false, element: 'string' };
    const m = one(list, chunk('BYTE_ARRAY', { min: utf8('a'), max: utf8('b'), size: 11 }), chunk('BYTE_ARRAY', { min: utf8('a'), max: utf8('b'), size: 5 }));
    expect([...m.column_sizes]).toEqual([[7, 16]]);
    expect(m.value_counts.size + m.null_value_counts.size + m.nan_value_counts.size + m.lower_bounds.size + m.upper_bounds.size).toBe(0);
  });

  it('refuses a leaf whose physical type cannot hold the Iceberg type', () => {
    expect(() => one('int', chunk('INT64', { min: le64(1n), max: le64(1n) }))).toThrow(/INT64 leaf cannot hold Iceberg int/);
    expect(() => one('string', chunk('INT32', { min: le32(1), max: le32(1) }))).toThrow(/cannot hold Iceberg string/);
    expect(() => one('int', chunk('INT32', { min: Uint8Array.of(1), max: le32(1) }))).toThrow(/4 bytes/);
    expect(() => dataFileMetrics(footerOf([]), [{ fieldId: 1, type: 'int', leafIndex: 0 }])).toThrow(/no leaf 0/);
  });

  it('sorts split offsets ascending', () => {
    const footer = footerOf([chunk('INT32', {})], [chunk('INT32', {})], [chunk('INT32', {})]);
    expect(splitOffsets(footer)).toEqual([1004, 2004, 3004]);
  });
});
