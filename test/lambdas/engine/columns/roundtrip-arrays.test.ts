/**
 * Arrays (Parquet LIST) through the real path, and the values the mapping refuses loudly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ValueRefusedError } from '../../../../lambdas/engine/errors';
import { compareColumn, exportFailure, exportTable, sqlString, useRoundTripFixture } from '../../../support/type-roundtrip';

const fx = useRoundTripFixture();

/** JSON texts compared as values (Postgres and DuckDB space their JSON differently). */
function canonicalJson(text: string): string {
  return JSON.stringify(JSON.parse(text));
}

describe('one-dimensional arrays', () => {
  let file: string;

  beforeAll(async () => {
    await fx.client.query(`
      CREATE TYPE color AS ENUM ('red', 'green');
      CREATE TABLE arrs (
        id int PRIMARY KEY, ia int[], sa int2[], la bigint[], fa float8[], ba bool[], ta text[], na numeric(10,2)[],
        wa numeric(30,5)[], ua numeric[], tsa timestamp[], tza timestamptz[], da date[], ja jsonb[], jsa json[],
        ea color[], uua uuid[], bya bytea[], ina interval[], "arr ""q""" varchar[], ipa inet[]
      );
      INSERT INTO arrs VALUES
        (1, '{1,2,3}', '{-32768,32767}', '{9223372036854775807,-9223372036854775808}', '{1.5,-0.25}', '{t,f}',
         '{"a","héllo 🎉",""}', '{1.50,-0.01}', '{12345678901234567890.12345}', '{1.0,NaN,Infinity}',
         '{"1969-12-31 23:59:59.999999","infinity"}', '{"2024-01-01 00:00:00+00"}', '{2024-02-29,-infinity}',
         ARRAY['{"a": 1.000000000000000000001}'::jsonb], ARRAY['{"k":  [1,2]}'::json], '{red,green}',
         '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ARRAY['\\x00ff'::bytea, '\\x'::bytea], '{"1 day","-00:00:01"}', '{x,y}',
         '{::1,10.1.2.3/16,NULL}'),
        (2, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, '{NULL,1,NULL}', '{NULL}', '{NULL,0}', '{NULL,2}', '{NULL,t}', '{NULL,"x"}', '{NULL,0.00}', '{NULL}',
         '{NULL,-1e-20}', '{NULL}', '{NULL}', '{NULL}', ARRAY[NULL::jsonb], ARRAY[NULL::json], '{NULL,red}', '{NULL}',
         ARRAY[NULL::bytea], '{NULL}', '{NULL,""}', '{NULL}');
    `);
    file = (await exportTable(fx, 'arrs', { types: 'native', rowGroupRows: 2, sliceBytes: 13 })).file;
  });

  /** Element-wise: each side yields a JSON array of element texts, NULL for a NULL array. */
  async function expectSameList(column: string, pgElement = 'x::text', duckElement = 'CAST(x AS VARCHAR)'): Promise<void> {
    const c = `"${column.replace(/"/g, '""')}"`;
    const pgExpr =
      `CASE WHEN ${c} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(${pgElement} ORDER BY o) ` +
      `FROM unnest(${c}) WITH ORDINALITY AS u(x, o)), '[]') END`;
    const duckExpr = `CASE WHEN ${c} IS NULL THEN NULL ELSE to_json(list_transform(${c}, x -> ${duckElement})) END`;
    const mismatches = await compareColumn(fx.client, fx.duck, {
      table: 'arrs',
      file,
      key: 'id',
      pg: `(${pgExpr})`,
      duck: duckExpr,
      normalize: canonicalJson,
    });
    // Postgres side canonicalised the same way.
    const real = mismatches.filter((m) => m.pg === null || m.duck === null || canonicalJson(m.pg) !== m.duck);
    expect(real, column).toEqual([]);
  }

  it('keeps elements, NULL elements, empty arrays and NULL arrays', async () => {
    for (const c of ['ia', 'sa', 'la', 'ta', 'na', 'wa', 'ua', 'da', 'ja', 'jsa', 'ea', 'uua', 'ina', 'arr "q"']) {
      await expectSameList(c);
    }
    // inet elements as Postgres prints them (no /128 on a host), not as their cast to text would.
    const inets = await fx.duck.all(`SELECT ipa FROM read_parquet(${sqlString(file)}) ORDER BY id`);
    expect(inets.map((r) => r.ipa)).toEqual([['::1', '10.1.2.3/16', null], [], null, [null]]);
    await expectSameList('ba', `CASE WHEN x THEN 'true' WHEN NOT x THEN 'false' END`);
    await expectSameList('fa', 'x', 'x'); // as JSON numbers: the two print doubles differently
    await expectSameList('bya', `encode(x, 'hex')`, 'lower(hex(x))');
    await expectSameList(
      'tsa',
      `CASE WHEN isfinite(x) THEN (extract(epoch FROM x) * 1000000)::bigint::text ELSE x::text END`,
      `CASE WHEN isinf(x) THEN CAST(x AS VARCHAR) ELSE CAST(epoch_us(x) AS VARCHAR) END`,
    );
    await expectSameList('tza');
  });

  it('tells empty arrays, NULL arrays and NULL elements apart', async () => {
    const rows = await fx.duck.all(
      `SELECT id, ia IS NULL AS is_null, len(ia) AS n, CAST(ia AS VARCHAR) AS v FROM read_parquet(${sqlString(file)}) ORDER BY id`,
    );
    expect(rows.map((r) => [r.id, r.is_null, r.n === null ? null : Number(r.n), r.v])).toEqual([
      [1, false, 3, '[1, 2, 3]'],
      [2, false, 0, '[]'],
      [3, true, null, null],
      [4, false, 3, '[NULL, 1, NULL]'],
    ]);
  });

  it('keeps json elements exactly', async () => {
    const rows = await fx.duck.all(`SELECT CAST(ja[1] AS VARCHAR) AS ja, CAST(jsa[1] AS VARCHAR) AS jsa FROM read_parquet(${sqlString(file)}) WHERE id = 1`);
    expect(rows).toEqual([{ ja: '{"a": 1.000000000000000000001}', jsa: '{"k":  [1,2]}' }]);
  });

  it('writes LIST columns of the element types', async () => {
    const rows = await fx.duck.all(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
    const types = Object.fromEntries(rows.map((r) => [String(r.column_name), String(r.column_type)]));
    expect(types).toEqual({
      id: 'INTEGER',
      ia: 'INTEGER[]',
      sa: 'SMALLINT[]',
      la: 'BIGINT[]',
      fa: 'DOUBLE[]',
      ba: 'BOOLEAN[]',
      ta: 'VARCHAR[]',
      na: 'DECIMAL(10,2)[]',
      wa: 'DECIMAL(30,5)[]',
      ua: 'VARCHAR[]',
      tsa: 'TIMESTAMP[]',
      tza: 'TIMESTAMP WITH TIME ZONE[]',
      da: 'DATE[]',
      ja: 'JSON[]',
      jsa: 'JSON[]',
      ea: 'VARCHAR[]',
      uua: 'UUID[]',
      bya: 'BLOB[]',
      ina: 'VARCHAR[]',
      'arr "q"': 'VARCHAR[]',
      ipa: 'VARCHAR[]',
    });
  });
});

describe('large values', () => {
  it('keeps values larger than a builder chunk, across row groups', async () => {
    await fx.client.query(`
      CREATE TABLE bigvals (id int PRIMARY KEY, t text, b bytea, j jsonb, ta text[]);
      INSERT INTO bigvals
        SELECT g, repeat('é' || g, 20000 * g), decode(repeat('00ff', 50000 * g), 'hex'),
               jsonb_build_object('s', repeat('x', 70000 * g)), ARRAY[repeat('y', 90000), NULL, 'z']
          FROM generate_series(1, 5) g;
    `);
    const file = (await exportTable(fx, 'bigvals', { types: 'native', rowGroupRows: 2, sliceBytes: 65536 })).file;
    const pgRows = (await fx.client.query<{ id: string; t: string; b: string; j: string; ta: string }>(
      `SELECT id, md5(t) AS t, md5(b) AS b, md5(j::text) AS j, md5(array_to_string(ta, ',', '~')) AS ta FROM bigvals ORDER BY id`,
    )).rows;
    const duckRows = await fx.duck.all(
      `SELECT CAST(id AS VARCHAR) AS id, md5(t) AS t, md5(b) AS b, md5(CAST(j AS VARCHAR)) AS j,
              md5(array_to_string(list_transform(ta, x -> coalesce(x, '~')), ',')) AS ta
         FROM read_parquet(${sqlString(file)}) ORDER BY id`,
    );
    expect(duckRows).toEqual(pgRows);
  });
});

describe('values refused loudly', () => {
  async function exportFails(table: string, ddl: string): Promise<unknown> {
    await fx.client.query(ddl);
    const { error, written } = await exportFailure(fx, table, { types: 'native' });
    // Aborted: nothing left behind but the plan.
    expect(written).toEqual(['_plan.json']);
    return error;
  }

  it('refuses NaN in a numeric(10,2) column, naming the column', async () => {
    const error = await exportFails(
      'bad_nan',
      `CREATE TABLE bad_nan (id int, "Price ü" numeric(10,2)); INSERT INTO bad_nan VALUES (1, 1.5), (2, 'NaN');`,
    );
    expect(error).toBeInstanceOf(ValueRefusedError);
    expect((error as ValueRefusedError).column).toBe('Price ü');
    expect((error as Error).message).toMatch(/column "Price ü": numeric value NaN cannot be stored in Parquet DECIMAL\(10,2\)/);
  });

  it('refuses a two-dimensional array, naming the column', async () => {
    const error = await exportFails(
      'bad_2d',
      `CREATE TABLE bad_2d (id int, grid int[]); INSERT INTO bad_2d VALUES (1, '{1,2}'), (2, '{{1,2},{3,4}}');`,
    );
    expect(error).toBeInstanceOf(ValueRefusedError);
    expect((error as ValueRefusedError).column).toBe('grid');
    expect((error as Error).message).toMatch(/2-dimensional array/);
  });

  it('refuses an array whose lower bound is not 1', async () => {
    const error = await exportFails(
      'bad_bound',
      `CREATE TABLE bad_bound (id int, xs text[]); INSERT INTO bad_bound VALUES (1, '[0:1]={a,b}');`,
    );
    expect(error).toBeInstanceOf(ValueRefusedError);
    expect((error as Error).message).toMatch(/column "xs": an array value with lower bound 0/);
  });

  it('refuses a timestamp beyond what Parquet microseconds since 1970 can hold', async () => {
    const error = await exportFails(
      'bad_ts',
      `CREATE TABLE bad_ts (id int, at timestamp); INSERT INTO bad_ts VALUES (1, '294270-01-01 00:00:00');`,
    );
    expect(error).toBeInstanceOf(ValueRefusedError);
    expect((error as ValueRefusedError).column).toBe('at');
  });

  it('keeps NaN and infinities of an unconstrained numeric column as text', async () => {
    await fx.client.query(`CREATE TABLE ok_nan (id int, n numeric); INSERT INTO ok_nan VALUES (1, 'NaN'), (2, '-Infinity'), (3, 1.10);`);
    const file = (await exportTable(fx, 'ok_nan', { types: 'native' })).file;
    const rows = await fx.duck.all(`SELECT n FROM read_parquet(${sqlString(file)}) ORDER BY id`);
    expect(rows.map((r) => r.n)).toEqual(['NaN', '-Infinity', '1.10']);
  });
});
