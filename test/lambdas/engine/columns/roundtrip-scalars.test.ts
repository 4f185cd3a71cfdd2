/**
 * Scalar types under the native profile (the portable one: profile-portable.test.ts), through the real path: Postgres binary COPY → builders → Parquet part → DuckDB, compared value by
 * value with what Postgres says.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compareColumn, exportTable, sqlString, useRoundTripFixture } from '../../../support/type-roundtrip';

const fx = useRoundTripFixture();

/**
 * Counts rows matching `where` on both sides. DuckDB skips row groups by their min/max statistics, so wrong
 * statistics show up as a wrong count (the exports cut tiny row groups to make that likely).
 */
async function expectSameCounts(table: string, file: string, wheres: [pgWhere: string, duckWhere: string][]): Promise<void> {
  for (const [pgWhere, duckWhere] of wheres) {
    const pgCount = (await fx.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${pgWhere}`)).rows[0].n;
    const duckCount = (await fx.duck.all(`SELECT count(*) AS n FROM read_parquet(${sqlString(file)}) WHERE ${duckWhere}`))[0].n;
    expect(String(duckCount), `${table} WHERE ${pgWhere}`).toBe(pgCount);
    expect(Number(pgCount), `${table} WHERE ${pgWhere} should match some rows`).toBeGreaterThan(0);
  }
}

async function describeTypes(file: string): Promise<Record<string, string>> {
  const rows = await fx.duck.all(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
  return Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.column_type)]));
}

/** DuckDB prints DECIMAL(p,p) without the leading zero (`.5`, `-.5`); Postgres prints `0.5`. */
function leadingZero(text: string): string {
  return text.replace(/^(-?)\./, '$10.');
}

async function expectSame(
  table: string,
  file: string,
  pgExpr: string,
  duckExpr: string,
  normalize?: (duck: string) => string,
): Promise<void> {
  const mismatches = await compareColumn(fx.client, fx.duck, { table, file, key: 'id', pg: pgExpr, duck: duckExpr, normalize });
  expect(mismatches, `${table}: ${pgExpr} vs ${duckExpr}`).toEqual([]);
}

describe('integers, floats, booleans', () => {
  let file: string;

  beforeAll(async () => {
    await fx.client.query(`
      CREATE TABLE nums (id int PRIMARY KEY, s int2, i int4, b int8, r real, d float8, f bool);
      INSERT INTO nums VALUES
        (1, 0, 0, 0, 0, 0, false),
        (2, 32767, 2147483647, 9223372036854775807, 3.4028235e38, 1.7976931348623157e308, true),
        (3, -32768, -2147483648, -9223372036854775808, -1.17549435e-38, 5e-324, false),
        (4, NULL, NULL, NULL, NULL, NULL, NULL),
        (5, -1, -1, -1, 'NaN', 'NaN', true),
        (6, 12345, 123456789, 1234567890123456789, 'Infinity', 'Infinity', NULL),
        (7, 1, 2, 4294967296, '-Infinity', '-Infinity', true),
        (8, 2, 3, -4294967297, 0.1, 0.1, false),
        (9, 3, 4, 9007199254740993, 1.5, -0.0, true);
    `);
    // Row groups of two rows: some without NULLs (typed arrays), some with.
    const result = await exportTable(fx, 'nums', { types: 'native', rowGroupRows: 2, sliceBytes: 7 });
    file = result.file;
    expect(result.rows).toBe(9);
    expect(result.rowGroups).toBe(5);
  });

  it('keeps every integer exactly, int8 limits included', async () => {
    for (const c of ['s', 'i', 'b']) await expectSame('nums', file, c, c);
  });

  it('keeps floats bit for bit, NaN and infinities included', async () => {
    const pgRows = (await fx.client.query<{ id: string; r: string | null; d: string | null }>(
      'SELECT id, r::text AS r, d::text AS d FROM nums ORDER BY id',
    )).rows;
    const duckRows = await fx.duck.all(`SELECT id, r, d FROM read_parquet(${sqlString(file)}) ORDER BY id`);
    expect(duckRows).toHaveLength(pgRows.length);
    pgRows.forEach((p, i) => {
      const d = duckRows[i];
      const want = (text: string | null, single: boolean) =>
        text === null ? null : single ? Math.fround(Number(text)) : Number(text);
      expect(Object.is(d.r, want(p.r, true)), `r of row ${p.id}: ${p.r} vs ${String(d.r)}`).toBe(true);
      expect(Object.is(d.d, want(p.d, false)), `d of row ${p.id}: ${p.d} vs ${String(d.d)}`).toBe(true);
    });
  });

  it('keeps booleans and NULLs', async () => {
    await expectSame('nums', file, `CASE WHEN f THEN 'true' WHEN NOT f THEN 'false' END`, 'f');
  });

  it('writes statistics that filters can trust', async () => {
    await expectSameCounts('nums', file, [
      ['b > 4294967296', 'b > 4294967296'],
      ['i < 0', 'i < 0'],
      ['s = 32767', 's = 32767'],
      ['d > 1', 'd > 1'],
      ['r < 0', 'r < 0'],
    ]);
  });

  it('writes the intended Parquet types', async () => {
    expect(await describeTypes(file)).toEqual({
      id: 'INTEGER',
      s: 'SMALLINT',
      i: 'INTEGER',
      b: 'BIGINT',
      r: 'FLOAT',
      d: 'DOUBLE',
      f: 'BOOLEAN',
    });
  });
});

describe('numeric', () => {
  let file: string;

  beforeAll(async () => {
    await fx.client.query(`
      CREATE TABLE decs (
        id int PRIMARY KEY,
        n12 numeric(12,2), n38 numeric(38,10), n5 numeric(5,5), n9 numeric(9,3), n18 numeric(18,0),
        n20 numeric(20,4), un numeric, big numeric(50,2), neg numeric(3,-2), over numeric(3,5)
      );
      INSERT INTO decs VALUES
        (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (2, 9999999999.99, 9999999999999999999999999999.9999999999, 0.99999, 999999.999, 999999999999999999,
            9999999999999999.9999, 123456789012345678901234567890.123456789012345678901234567890,
            123456789012345678901234567890123456789012345678.12, 99900, 0.00999),
        (3, -9999999999.99, -9999999999999999999999999999.9999999999, -0.99999, -999999.999, -999999999999999999,
            -9999999999999999.9999, -0.000000000000000000000000000000000001, -1.5, -99900, -0.00999),
        (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (5, 0.01, 0.0000000001, 0.00001, 0.001, 1, 0.0001, 'NaN', 0.01, 100, 0.00001),
        (6, -0.01, -0.0000000001, -0.00001, -0.001, -1, -0.0001, 'Infinity', 1e40, -100, -0.00001),
        (7, 12345.6, 1234567890123456789.0123456789, 0.1, 10000, 10000, 10000, '-Infinity', 10000, 1200, 0.0001),
        (8, 1e9, 1e27, 0.5, 100000.5, 100000000000000000, 1e15, 1.10, 1.5e10, 9900, 0.005);
    `);
    file = (await exportTable(fx, 'decs', { types: 'native', rowGroupRows: 3, sliceBytes: 5 })).file;
  });

  it('keeps constrained numerics exactly as DECIMAL', async () => {
    for (const c of ['n12', 'n38', 'n5', 'n9', 'n18', 'n20', 'neg', 'over']) {
      await expectSame('decs', file, c, c, leadingZero);
    }
  });

  it('keeps unconstrained and wide numerics as their exact text, NaN and infinities included', async () => {
    await expectSame('decs', file, 'un', 'un');
    await expectSame('decs', file, 'big', 'big');
    const special = await fx.duck.all(`SELECT un FROM read_parquet(${sqlString(file)}) WHERE id IN (5, 6, 7) ORDER BY id`);
    expect(special.map((r) => r.un)).toEqual(['NaN', 'Infinity', '-Infinity']);
  });

  it('writes statistics that filters can trust', async () => {
    await expectSameCounts('decs', file, [
      ['n12 < 0', 'n12 < 0'],
      ['n9 > 1000', 'n9 > 1000'],
      ['n20 < 0', 'n20 < 0'],
      ['n38 > 1', 'n38 > 1'],
      ['n5 > 0.4', 'n5 > 0.4'],
    ]);
  });

  it('writes DECIMAL(p,s) with the intended precision and scale', async () => {
    expect(await describeTypes(file)).toMatchObject({
      n12: 'DECIMAL(12,2)',
      n38: 'DECIMAL(38,10)',
      n5: 'DECIMAL(5,5)',
      n9: 'DECIMAL(9,3)',
      n18: 'DECIMAL(18,0)',
      n20: 'DECIMAL(20,4)',
      un: 'VARCHAR',
      big: 'VARCHAR',
      neg: 'DECIMAL(5,0)',
      over: 'DECIMAL(5,5)',
    });
    const physical = await fx.duck.all(
      `SELECT name, type, type_length FROM parquet_schema(${sqlString(file)}) WHERE name IN ('n9', 'n12', 'n20', 'n38') ORDER BY name`,
    );
    expect(physical.map((r) => [r.name, r.type, r.type_length === null ? null : String(r.type_length)])).toEqual([
      ['n12', 'INT64', null],
      ['n20', 'FIXED_LEN_BYTE_ARRAY', '9'],
      ['n38', 'FIXED_LEN_BYTE_ARRAY', '16'],
      ['n9', 'INT32', null],
    ]);
  });
});

describe('date and time', () => {
  let file: string;

  beforeAll(async () => {
    await fx.client.query(`
      CREATE TABLE times (id int PRIMARY KEY, d date, t time, ts timestamp, tz timestamptz);
      INSERT INTO times VALUES
        (1, '1970-01-01', '00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00'),
        (2, '1969-12-31', '23:59:59.999999', '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999+00'),
        (3, '2000-01-01', '24:00:00', '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.000001+00'),
        (4, '9999-12-31', '12:34:56.789012', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00'),
        (5, '1900-02-28', '00:00:00.000001', '1900-02-28 12:00:00.123456', '1900-02-28 12:00:00.123456-05:30'),
        (6, '0044-03-15 BC', NULL, '0044-03-15 10:00:00.5 BC', '0044-03-15 10:00:00.5+00 BC'),
        (7, 'infinity', '13:00', 'infinity', 'infinity'),
        (8, '-infinity', '14:00', '-infinity', '-infinity'),
        (9, NULL, NULL, NULL, NULL),
        (10, '2024-02-29', '01:02:03', '2024-02-29 01:02:03.4', '2024-02-29 01:02:03.4+09');
    `);
    file = (await exportTable(fx, 'times', { types: 'native', rowGroupRows: 4, sliceBytes: 3 })).file;
  });

  it('keeps dates to the day, ±infinity as DuckDB infinities', async () => {
    await expectSame(
      'times',
      file,
      `CASE WHEN isfinite(d) THEN (d - date '1970-01-01')::text ELSE d::text END`,
      `CASE WHEN isinf(d) THEN CAST(d AS VARCHAR) ELSE CAST(d - DATE '1970-01-01' AS VARCHAR) END`,
    );
    const inf = await fx.duck.all(`SELECT isinf(d) AS i, d > DATE '2000-01-01' AS later FROM read_parquet(${sqlString(file)}) WHERE id IN (7, 8) ORDER BY id`);
    expect(inf).toEqual([
      { i: true, later: true },
      { i: true, later: false },
    ]);
  });

  it('keeps times to the microsecond, 24:00:00 included', async () => {
    await expectSame('times', file, 't', 't');
  });

  it('keeps timestamps to the microsecond before 1970, near 9999 and BC; ±infinity as DuckDB infinities', async () => {
    for (const c of ['ts', 'tz']) {
      await expectSame(
        'times',
        file,
        `CASE WHEN isfinite(${c}) THEN (extract(epoch FROM ${c}) * 1000000)::bigint::text ELSE ${c}::text END`,
        `CASE WHEN isinf(${c}) THEN CAST(${c} AS VARCHAR) ELSE CAST(epoch_us(${c}) AS VARCHAR) END`,
      );
    }
    // Same text for ordinary values (both sides print UTC).
    const text = await fx.duck.all(`SELECT CAST(ts AS VARCHAR) AS ts, CAST(tz AS VARCHAR) AS tz FROM read_parquet(${sqlString(file)}) WHERE id = 4`);
    expect(text).toEqual([{ ts: '9999-12-31 23:59:59.999999', tz: '9999-12-31 23:59:59.999999+00' }]);
  });

  it('writes statistics that filters can trust', async () => {
    await expectSameCounts('times', file, [
      [`ts > '2000-01-01' AND isfinite(ts)`, `ts > TIMESTAMP '2000-01-01' AND NOT isinf(ts)`],
      [`tz < '1970-01-01 00:00:00+00'`, `tz < TIMESTAMPTZ '1970-01-01 00:00:00+00'`],
      [`d > '2000-01-01'`, `d > DATE '2000-01-01'`],
      [`t > '13:30'`, `t > TIME '13:30'`],
    ]);
  });

  it('writes DATE, TIME, TIMESTAMP and TIMESTAMP WITH TIME ZONE', async () => {
    expect(await describeTypes(file)).toEqual({
      id: 'INTEGER',
      d: 'DATE',
      t: 'TIME',
      ts: 'TIMESTAMP',
      tz: 'TIMESTAMP WITH TIME ZONE',
    });
  });
});

describe('text-like, json, bytea, uuid and the text fallback', () => {
  let file: string;
  const table = `public."Weird Table"`;

  beforeAll(async () => {
    await fx.client.query(`
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');
      CREATE DOMAIN posint AS int CHECK (VALUE > 0);
      CREATE DOMAIN money2 AS numeric(10,2);
      CREATE TABLE ${table} (
        id int PRIMARY KEY, t text, v varchar(10), c char(5), n name, e mood, dom posint, dm money2,
        j json, jb jsonb, b bytea, u uuid, i interval, ip inet, m money, r int4range, x xml, tt timetz, bits bit(4),
        "Weird ""Col"" ü" text, "select" int, "UPPER case" text
      );
      INSERT INTO ${table} VALUES
        (1, 'hello', 'héllo', 'ab', 'pg_class', 'sad', 1, 12.30,
         '{"a": 1.000000000000000000001, "big": 123456789012345678901234567890}',
         '{"a": 1.000000000000000000001, "big": 123456789012345678901234567890}',
         '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 year 2 mons 3 days 04:05:06.789',
         '192.168.0.1/24', 12.34, '[1,10)', '<a>x</a>', '12:00:00+05:30', B'1010', 'quoted', 1, 'up'),
        (2, '', '', '', '', 'happy 😀', 2, -0.01,
         '  [1, 2,   "spaces kept"] ', '[]', '\\x', '00000000-0000-0000-0000-000000000000', '-1 days -00:00:01',
         '::1', -1, 'empty', '', '00:00:00-14', B'0000', '', 2, ''),
        (3, '日本語 🎉 multi-byte', 'ü€𝄞', 'üü', 'name ü', 'ok', 3, 0,
         '{"dup": 1, "dup": 2}', '{"dup": 1, "dup": 2, "z": [true, null, "é"]}',
         '\\xdeadbeef', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'P0D', '2001:db8::/32', 0, '(,5]',
         '<r><![CDATA[<>&]]></r>', '23:59:59.999999+00', B'1111', 'x"y', 3, 'é'),
        (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL);
    `);
    file = (await exportTable(fx, table, { types: 'native', rowGroupRows: 3, sliceBytes: 11 })).file;
  });

  it('keeps text, varchar, char(n) padding, name and enums byte for byte', async () => {
    for (const c of ['t', 'v', 'n', 'e', '"Weird ""Col"" ü"', '"UPPER case"']) await expectSame(table, file, c, c);
    await expectSame(table, file, `CASE WHEN c IS NOT NULL THEN format('%s', c) END`, 'c');
    const padded = await fx.duck.all(`SELECT c FROM read_parquet(${sqlString(file)}) WHERE id = 1`);
    expect(padded).toEqual([{ c: 'ab   ' }]);
  });

  it('resolves domains to their base type', async () => {
    await expectSame(table, file, 'dom', 'dom');
    await expectSame(table, file, 'dm', 'dm');
    expect(await describeTypes(file)).toMatchObject({ dom: 'INTEGER', dm: 'DECIMAL(10,2)', select: 'INTEGER' });
  });

  it('keeps json and jsonb text exactly as Postgres returns it', async () => {
    await expectSame(table, file, 'j', 'j');
    await expectSame(table, file, 'jb', 'jb');
    const first = await fx.duck.all(`SELECT CAST(j AS VARCHAR) AS j, CAST(jb AS VARCHAR) AS jb FROM read_parquet(${sqlString(file)}) WHERE id = 1`);
    expect(first).toEqual([
      {
        j: '{"a": 1.000000000000000000001, "big": 123456789012345678901234567890}',
        jb: '{"a": 1.000000000000000000001, "big": 123456789012345678901234567890}',
      },
    ]);
    const spaces = await fx.duck.all(`SELECT CAST(j AS VARCHAR) AS j FROM read_parquet(${sqlString(file)}) WHERE id = 2`);
    expect(spaces).toEqual([{ j: '  [1, 2,   "spaces kept"] ' }]);
  });

  it('keeps bytea and uuid bytes', async () => {
    await expectSame(table, file, `encode(b, 'hex')`, 'lower(hex(b))');
    await expectSame(table, file, 'u', 'u');
  });

  it('exports interval as ISO 8601 and other types in their Postgres text form', async () => {
    for (const c of ['i', 'm', 'r', 'x', 'tt', 'bits']) await expectSame(table, file, c, c);
    // inet as Postgres prints it (its output function: no /128 on a host), which differs from its cast to text.
    // The raw client receives exactly what the server prints.
    const printed = (await fx.client.query<{ ip: string | null }>(`SELECT ip FROM ${table} ORDER BY id`)).rows.map((r) => r.ip);
    expect(printed).toEqual(['192.168.0.1/24', '::1', '2001:db8::/32', null]);
    const read = await fx.duck.all(`SELECT ip FROM read_parquet(${sqlString(file)}) ORDER BY id`);
    expect(read.map((r) => r.ip)).toEqual(printed);
    const iso = await fx.duck.all(`SELECT i FROM read_parquet(${sqlString(file)}) WHERE id = 1`);
    expect(iso).toEqual([{ i: 'P1Y2M3DT4H5M6.789S' }]);
  });

  it('writes statistics that filters can trust', async () => {
    await expectSameCounts(table, file, [
      [`t > 'i'`, `t > 'i'`],
      [`v = 'ü€𝄞'`, `v = 'ü€𝄞'`],
      [`u > 'b0000000-0000-0000-0000-000000000000'`, `u > UUID 'b0000000-0000-0000-0000-000000000000'`],
    ]);
  });

  it('writes STRING, JSON, BLOB and UUID columns', async () => {
    expect(await describeTypes(file)).toEqual({
      id: 'INTEGER',
      t: 'VARCHAR',
      v: 'VARCHAR',
      c: 'VARCHAR',
      n: 'VARCHAR',
      e: 'VARCHAR',
      dom: 'INTEGER',
      dm: 'DECIMAL(10,2)',
      j: 'JSON',
      jb: 'JSON',
      b: 'BLOB',
      u: 'UUID',
      i: 'VARCHAR',
      ip: 'VARCHAR',
      m: 'VARCHAR',
      r: 'VARCHAR',
      x: 'VARCHAR',
      tt: 'VARCHAR',
      bits: 'VARCHAR',
      'Weird "Col" ü': 'VARCHAR',
      select: 'INTEGER',
      'UPPER case': 'VARCHAR',
    });
  });
});
