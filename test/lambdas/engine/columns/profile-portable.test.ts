/**
 * The portable type profile: what every mainstream engine reads. Checked on the file itself (page types,
 * encodings, physical, logical and converted types per column, read with hyparquet's footer and page-header
 * parsers) and value by value through DuckDB against Postgres; ±infinity follows the run's policy. The native
 * profile keeps the exact logical types and V2 pages.
 */
import { parquetMetadata, type FileMetaData, type PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareColumn, exportFailure, exportTable, sqlString, useRoundTripFixture } from '../../../support/type-roundtrip';

const fx = useRoundTripFixture();

/** The footer and every page header of every column chunk of `file`. */
async function layout(file: string): Promise<{ metadata: FileMetaData; pages: Map<string, PageHeader[]> }> {
  const bytes = await readFile(file);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const metadata = parquetMetadata(buffer);
  const pages = new Map<string, PageHeader[]>();
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data!;
      const name = meta.path_in_schema.join('.');
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const reader = { view: new DataView(buffer), offset: start };
      const list = pages.get(name) ?? [];
      while (reader.offset < start + Number(meta.total_compressed_size)) {
        const header = parquetHeader(reader);
        list.push(header);
        reader.offset += header.compressed_page_size;
      }
      pages.set(name, list);
    }
  }
  return { metadata, pages };
}

const TABLE = 'every_type';

beforeAll(async () => {
  await fx.client.query(`
    CREATE TYPE hue AS ENUM ('red', 'green');
    CREATE TABLE ${TABLE} (
      id int PRIMARY KEY, s int2, b int8, r real, d float8, f bool,
      d4 numeric(4,1), d12 numeric(12,2), d18 numeric(18,3), d30 numeric(30,5), un numeric,
      t text, e hue, j json, jb jsonb, bin bytea, u uuid,
      dt date, tm time, ts timestamp, tz timestamptz, iv interval,
      ia int[], ua uuid[], ja jsonb[], na numeric(12,2)[], tsa timestamp[]
    );
    INSERT INTO ${TABLE} VALUES
      (1, 32767, 9223372036854775807, 1.5, 'NaN', true, 999.9, 1234567890.12, 123456789012345.678, '1234567890123456789012345.12345', 1.10,
       'héllo 🎉', 'red', '{"a": 1.000000000000000000001}', '{"b": [1, 2]}', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
       '2024-02-29', '23:59:59.999999', '1969-12-31 23:59:59.999999', '2024-01-01 00:00:00.000001+00', '1 year 2 mons 3 days',
       '{1,NULL,3}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', ARRAY['{"k": 1}'::jsonb], '{-0.01,NULL}', '{"2000-01-01 00:00:00"}'),
      (2, -32768, -9223372036854775808, -0.0, '-Infinity', false, -999.9, -0.01, -999999999999999.999, '-9999999999999999999999999.99999', -0.5,
       '', 'green', '[]', '{}', '\\x', '00000000-0000-0000-0000-000000000000',
       '0001-01-01', '00:00:00', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999+00', '-00:00:01',
       '{}', '{}', '{}', '{}', '{}'),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  `);
});

describe('the portable profile', () => {
  let file: string;
  beforeAll(async () => {
    // Tiny row groups and pages that straddle reads, as in the other round trips; portable is the default.
    ({ file } = await exportTable(fx, TABLE, { rowGroupRows: 2, sliceBytes: 9 }));
  });

  it('writes only V1 data pages (and dictionary pages), with PLAIN, RLE and RLE_DICTIONARY only', async () => {
    const { metadata, pages } = await layout(file);
    expect(metadata.row_groups).toHaveLength(2);
    for (const [column, headers] of pages) {
      for (const h of headers) expect(['DATA_PAGE', 'DICTIONARY_PAGE'], column).toContain(h.type);
    }
    for (const group of metadata.row_groups) {
      for (const chunk of group.columns) {
        const meta = chunk.meta_data!;
        for (const e of meta.encodings) expect(['PLAIN', 'RLE', 'RLE_DICTIONARY'], meta.path_in_schema.join('.')).toContain(e);
        for (const s of meta.encoding_stats ?? []) expect(s.page_type).not.toBe('DATA_PAGE_V2');
      }
    }
  });

  it('has no UUID, TIME or JSON annotation, and the converted types LogicalTypes.md requires', async () => {
    const { metadata } = await layout(file);
    const leaves = Object.fromEntries(metadata.schema.filter((e) => e.type).map((e) => [e.name, e]));
    for (const e of Object.values(leaves)) {
      expect(['UUID', 'TIME', 'JSON'], e.name).not.toContain(e.logical_type?.type);
      expect(['JSON', 'TIME_MICROS', 'TIME_MILLIS'], e.name).not.toContain(e.converted_type);
    }
    expect(leaves.s).toMatchObject({ type: 'INT32', converted_type: 'INT_16' });
    expect(leaves.b).toMatchObject({ type: 'INT64', converted_type: 'INT_64' });
    expect(leaves.id).toMatchObject({ type: 'INT32', converted_type: 'INT_32' });
    // Decimals as FIXED_LEN_BYTE_ARRAY of the minimal width, whatever the precision (Hive reads no other form).
    expect(leaves.d4).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, converted_type: 'DECIMAL', precision: 4, scale: 1 });
    expect(leaves.d12).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 6, converted_type: 'DECIMAL', precision: 12, scale: 2 });
    expect(leaves.d18).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 8, converted_type: 'DECIMAL' });
    expect(leaves.d30).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 13, converted_type: 'DECIMAL' });
    for (const c of ['t', 'e', 'j', 'jb', 'u', 'tm', 'iv', 'un']) expect(leaves[c], c).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(leaves.bin).toMatchObject({ type: 'BYTE_ARRAY' });
    expect(leaves.bin.converted_type).toBeUndefined();
    expect(leaves.dt).toMatchObject({ type: 'INT32', converted_type: 'DATE' });
    expect(leaves.ts).toMatchObject({ type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false } });
    expect(leaves.tz).toMatchObject({ type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true } });
    // Arrays: 3-level LISTs of the elements' portable mapping.
    const list = metadata.schema.find((e) => e.name === 'ua')!;
    expect(list.converted_type).toBe('LIST');
    const elements = metadata.schema.filter((e) => e.name === 'element' && e.type);
    expect(elements.map((e) => [e.type, e.converted_type, e.type_length])).toEqual([
      ['INT32', 'INT_32', undefined],
      ['BYTE_ARRAY', 'UTF8', undefined],
      ['BYTE_ARRAY', 'UTF8', undefined],
      ['FIXED_LEN_BYTE_ARRAY', 'DECIMAL', 6],
      ['INT64', 'TIMESTAMP_MICROS', undefined],
    ]);
  });

  it('keeps every value: DuckDB reads what Postgres holds', async () => {
    const same = async (pgExpr: string, duckExpr: string, normalize?: (s: string) => string) =>
      expect(await compareColumn(fx.client, fx.duck, { table: TABLE, file, key: 'id', pg: pgExpr, duck: duckExpr, normalize }), pgExpr).toEqual([]);
    const leadingZero = (x: string) => x.replace(/^(-?)\./, '$10.');
    for (const c of ['s', 'b', 'd4', 'd12', 'd18', 'd30', 'un', 't', 'e', 'j', 'iv', 'tm']) await same(c, c, leadingZero);
    await same('r::float8', 'r::DOUBLE', (x) => x.replace(/\.0$/, ''));
    await same('d', 'd', (x) => ({ nan: 'NaN', inf: 'Infinity', '-inf': '-Infinity' })[x] ?? x);
    await same('f', 'f');
    await same('jb::text', 'jb');
    await same(`encode(bin, 'hex')`, 'lower(hex(bin))');
    // uuid as its canonical text, exactly as Postgres prints it.
    await same('u::text', 'u');
    await same('dt', 'dt');
    await same('(extract(epoch FROM ts) * 1000000)::bigint', 'epoch_us(ts)');
    await same('(extract(epoch FROM tz) * 1000000)::bigint', 'epoch_us(tz)');
    await same(`array_to_string(ia, ',', '~')`, `array_to_string(list_transform(ia, x -> coalesce(x::VARCHAR, '~')), ',')`);
    await same(`array_to_string(ua, ',', '~')`, `array_to_string(list_transform(ua, x -> coalesce(x, '~')), ',')`);
    await same(`array_to_string(na, ',', '~')`, `array_to_string(list_transform(na, x -> coalesce(x::VARCHAR, '~')), ',')`, (x) => x.replace(/(^|,)(-?)\./g, '$1$20.'));
    const types = Object.fromEntries(
      (await fx.duck.all(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`)).map((r) => [r.column_name, r.column_type]),
    );
    expect(types).toMatchObject({ u: 'VARCHAR', tm: 'VARCHAR', j: 'VARCHAR', jb: 'VARCHAR', d12: 'DECIMAL(12,2)', d30: 'DECIMAL(30,5)', ts: 'TIMESTAMP', tz: 'TIMESTAMP WITH TIME ZONE', ua: 'VARCHAR[]' });
  });

  it('writes DECIMAL statistics in signed order, so filters that skip row groups by them are right', async () => {
    // Two rows a row group: row 1 (positive values) and row 2 (negative ones) in the first, NULLs in the second.
    for (const [where, expected] of [
      ['d12 < 0', 1],
      ['d12 > 0', 1],
      ['d4 < -999', 1],
      ['d18 > 0', 1],
      ['d30 < 0', 1],
      ['d30 > 1', 1],
    ] as const) {
      const [{ n }] = await fx.duck.all(`SELECT count(*)::INT AS n FROM read_parquet(${sqlString(file)}) WHERE ${where}`);
      expect(n, where).toBe(expected);
    }
    const { metadata } = await layout(file);
    const d12 = metadata.row_groups[0].columns.find((c) => c.meta_data!.path_in_schema[0] === 'd12')!.meta_data!.statistics!;
    // The negative bound is the minimum (unsigned byte order would make it the maximum); hyparquet decodes them.
    expect(d12.min_value).toBe(-0.01);
    expect(d12.max_value).toBeCloseTo(1234567890.12, 2);
  });

  it('records the profile in the manifest, and the infinity policy of date and timestamp columns', async () => {
    const { manifest } = await exportTable(fx, TABLE);
    expect(manifest.types).toBe('portable');
    const infinity = Object.fromEntries(manifest.columns.filter((c) => c.infinity).map((c) => [c.name, c.infinity]));
    expect(infinity).toEqual({ dt: 'error', ts: 'error', tz: 'error', tsa: 'error' });
    expect(manifest.columns.find((c) => c.name === 'u')?.parquetType).toBe('STRING');
  });
});

describe('±infinity under the portable profile', () => {
  beforeAll(async () => {
    await fx.client.query(`CREATE TABLE inf (id int PRIMARY KEY, dt date, ts timestamptz, tsa timestamp[]);
      INSERT INTO inf VALUES (1, 'infinity', '-infinity', '{infinity,NULL}'), (2, '2024-01-01', '2024-01-01 00:00:00+00', '{}');`);
  });

  it('is refused by default, naming table and column, and nothing is left behind', async () => {
    const { error, written } = await exportFailure(fx, 'inf');
    expect((error as Error).name).toBe('ValueRefusedError');
    expect((error as Error).message).toMatch(/^table "public"\."inf", column "dt": a date of ±infinity has no value every engine reads the same; export with "infinity": "clamp"/);
    expect(written).toEqual(['_plan.json']);
  });

  it('is clamped to 9999-12-31 23:59:59.999999 and 0001-01-01 when the run asks', async () => {
    const { file, manifest } = await exportTable(fx, 'inf', { infinity: 'clamp' });
    const rows = await fx.duck.all(`SELECT id, dt::VARCHAR AS dt, epoch_us(ts)::VARCHAR AS ts, list_transform(tsa, x -> epoch_us(x)::VARCHAR) AS tsa FROM read_parquet(${sqlString(file)}) ORDER BY id`);
    expect(rows[0]).toEqual({ id: 1, dt: '9999-12-31', ts: '-62135596800000000', tsa: ['253402300799999999', null] });
    expect(manifest.columns.filter((c) => c.infinity).map((c) => c.infinity)).toEqual(['clamp', 'clamp', 'clamp']);
  });
});

describe('the native profile', () => {
  it('keeps the exact logical types and V2 pages', async () => {
    const { file, manifest } = await exportTable(fx, TABLE, { types: 'native' });
    expect(manifest.types).toBe('native');
    const { metadata, pages } = await layout(file);
    expect([...pages.values()].flat().some((h) => h.type === 'DATA_PAGE_V2')).toBe(true);
    expect([...pages.values()].flat().some((h) => h.type === 'DATA_PAGE')).toBe(false);
    const leaves = Object.fromEntries(metadata.schema.filter((e) => e.type).map((e) => [e.name, e]));
    expect(leaves.u).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, logical_type: { type: 'UUID' } });
    expect(leaves.tm.logical_type).toMatchObject({ type: 'TIME' });
    expect(leaves.jb).toMatchObject({ converted_type: 'JSON' });
    expect(leaves.d12).toMatchObject({ type: 'INT64', converted_type: 'DECIMAL' });
    expect(manifest.columns.find((c) => c.name === 'ts')?.infinity).toBe('keep');
  });
});
