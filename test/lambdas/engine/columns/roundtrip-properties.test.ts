/**
 * Property-based round trips (fast-check): random values of the numeric, temporal, text and array types are
 * inserted into Postgres, exported through the real path (binary COPY → builders → Parquet part) and read
 * back with DuckDB, value by value. A failure prints the smallest set of rows that breaks it.
 */
import fc from 'fast-check';
import type { TypeProfile } from '../../../../lambdas/engine/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareColumn, exportTable, useRoundTripFixture } from '../../../support/type-roundtrip';

const fx = useRoundTripFixture();

/** Runs per property: each run is one insert, one export and one DuckDB read (~50 ms). */
const RUNS = 12;

/** DuckDB prints DECIMAL(p,p) without the leading zero (`.5`); Postgres prints `0.5`. */
const leadingZero = (text: string) => text.replace(/^(-?)\./, '$10.');
const canonicalJson = (text: string) => JSON.stringify(JSON.parse(text));

/**
 * Replaces the table's rows with `rows` (column values as Postgres text or null, or JS arrays for array
 * columns), exports it with tiny row groups, and returns the Parquet file.
 */
async function load(table: string, columns: string[], rows: unknown[][], types: TypeProfile = 'native'): Promise<string> {
  await fx.client.query(`TRUNCATE ${table}`);
  const placeholders = columns.map((_, i) => `$${i + 2}`).join(', ');
  for (let i = 0; i < rows.length; i++) {
    await fx.client.query(`INSERT INTO ${table} (id, ${columns.join(', ')}) VALUES ($1, ${placeholders})`, [i + 1, ...rows[i]]);
  }
  return (await exportTable(fx, table, { types, rowGroupRows: 3, sliceBytes: 11 })).file;
}

async function mismatches(table: string, file: string, pgExpr: string, duckExpr: string, normalize?: (s: string) => string) {
  return compareColumn(fx.client, fx.duck, { table, file, key: 'id', pg: pgExpr, duck: duckExpr, normalize });
}

const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { freq: 6, nil: null });

/** An unscaled integer of at most `precision` digits, as the decimal text of scale `scale`. */
function decimalText(precision: number, scale: number): fc.Arbitrary<string> {
  const limit = 10n ** BigInt(precision) - 1n;
  const edges = fc.constantFrom(0n, limit, -limit, 1n, -1n);
  return fc.oneof(fc.bigInt({ min: -limit, max: limit }), edges).map((u) => {
    const digits = (u < 0n ? -u : u).toString().padStart(scale + 1, '0');
    const text = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
    return u < 0n ? `-${text}` : text;
  });
}

describe('property: numeric types', () => {
  beforeAll(async () => {
    await fx.client.query(`CREATE TABLE p_num (id int PRIMARY KEY, s int2, i int4, b int8,
      d9 numeric(9,4), d12 numeric(12,2), d18 numeric(18,0), d38 numeric(38,10), dp numeric(5,5), un numeric)`);
  });

  // Native: DECIMAL as INT32, INT64 or FIXED_LEN_BYTE_ARRAY by precision; portable: FIXED_LEN_BYTE_ARRAY always.
  it.each(['native', 'portable'] as const)('%s: integers and DECIMAL(p,s) of every physical width come back exactly; unconstrained numeric as its exact text', async (types) => {
    const row = fc.tuple(
      nullable(fc.integer({ min: -32768, max: 32767 }).map(String)),
      nullable(fc.integer().map(String)),
      nullable(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
      nullable(decimalText(9, 4)),
      nullable(decimalText(12, 2)),
      nullable(decimalText(18, 0)),
      nullable(decimalText(38, 10)),
      nullable(decimalText(5, 5)),
      nullable(fc.oneof(decimalText(60, 25), decimalText(20, 0), fc.constantFrom('NaN', 'Infinity', '-Infinity', '0.000000000000000000001'))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 25 }), async (rows) => {
        const file = await load('p_num', ['s', 'i', 'b', 'd9', 'd12', 'd18', 'd38', 'dp', 'un'], rows, types);
        for (const c of ['s', 'i', 'b', 'un']) expect(await mismatches('p_num', file, c, c), c).toEqual([]);
        for (const c of ['d9', 'd12', 'd18', 'd38', 'dp']) expect(await mismatches('p_num', file, c, c, leadingZero), c).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Microseconds from 1970 covering 0001-01-01 to 9999-12-31 (what both sides print the same way). */
const MICROS_MIN = -62135596800000000n;
const MICROS_MAX = 253402300799999999n;

describe('property: temporal types', () => {
  beforeAll(async () => {
    await fx.client.query(`CREATE TABLE p_time (id int PRIMARY KEY, ts timestamp, tz timestamptz, d date, t time)`);
  });

  it('timestamps keep every microsecond, dates every day, times every microsecond; ±infinity kept', async () => {
    const micros = fc.oneof(
      fc.bigInt({ min: MICROS_MIN, max: MICROS_MAX }),
      fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
      fc.constantFrom(0n, -1n, 946684800000000n, 946684799999999n),
    );
    const stamp = fc.oneof({ weight: 9, arbitrary: micros.map((m) => `epoch:${m}`) }, { weight: 1, arbitrary: fc.constantFrom('infinity', '-infinity') });
    const day = fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: -719162, max: 2932896 }).map((n) => `day:${n}`) },
      { weight: 1, arbitrary: fc.constantFrom('infinity', '-infinity') },
    );
    const time = fc.integer({ min: 0, max: 86_399_999_999 }).map((n) => `time:${n}`);
    const row = fc.tuple(nullable(stamp), nullable(stamp), nullable(day), nullable(time));
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 25 }), async (rows) => {
        await fx.client.query('TRUNCATE p_time');
        // Values go in as SQL computed from exact integers, so the generator never depends on text parsing.
        const sqlOf = (v: string | null, kind: 'ts' | 'tz' | 'd' | 't') => {
          if (v === null) return 'NULL';
          if (v === 'infinity' || v === '-infinity') return `'${v}'`;
          const [tag, n] = v.split(':');
          if (tag === 'epoch') {
            const base = kind === 'ts' ? `timestamp '1970-01-01'` : `timestamptz '1970-01-01 00:00:00+00'`;
            return `${base} + make_interval(secs => 0) + (${n} / 1000000) * interval '1 second' + (${n} % 1000000) * interval '1 microsecond'`;
          }
          if (tag === 'day') return `date '1970-01-01' + (${n})`;
          return `time '00:00' + ${n} * interval '1 microsecond'`;
        };
        const values = rows.map((r, i) => `(${i + 1}, ${sqlOf(r[0], 'ts')}, ${sqlOf(r[1], 'tz')}, ${sqlOf(r[2], 'd')}, ${sqlOf(r[3], 't')})`);
        await fx.client.query(`INSERT INTO p_time VALUES ${values.join(', ')}`);
        const file = (await exportTable(fx, 'p_time', { types: 'native', rowGroupRows: 3, sliceBytes: 11 })).file;
        for (const c of ['ts', 'tz']) {
          const pgExpr = `CASE WHEN isfinite(${c}) THEN (extract(epoch FROM ${c}) * 1000000)::bigint::text ELSE ${c}::text END`;
          const duckExpr = `CASE WHEN isinf(${c}) THEN CAST(${c} AS VARCHAR) ELSE CAST(epoch_us(${c}) AS VARCHAR) END`;
          expect(await mismatches('p_time', file, pgExpr, duckExpr), c).toEqual([]);
        }
        expect(await mismatches('p_time', file, 'd', 'd'), 'd').toEqual([]);
        expect(
          await mismatches('p_time', file, `(extract(epoch FROM t) * 1000000)::bigint`, `CAST(epoch_us(t) AS VARCHAR)`),
          't',
        ).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Any Unicode text Postgres accepts (no NUL), multi-byte and astral characters included. */
const pgText = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\0/g, ''));

describe('property: text types', () => {
  beforeAll(async () => {
    await fx.client.query(`CREATE TABLE p_text (id int PRIMARY KEY, t text, v varchar(50), c char(5), j jsonb, js json)`);
  });

  it('text, varchar, char(n) and json(b) keep every byte', async () => {
    const json = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v).replace(/\\u0000/g, ''));
    const row = fc.tuple(
      nullable(pgText),
      nullable(pgText),
      nullable(fc.string({ unit: 'grapheme-ascii', maxLength: 5 })),
      nullable(json),
      nullable(json),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 25 }), async (rows) => {
        const file = await load('p_text', ['t', 'v', 'c', 'j', 'js'], rows);
        for (const c of ['t', 'v', 'j', 'js']) expect(await mismatches('p_text', file, c, c), c).toEqual([]);
        // char(n) as Postgres prints it: blank-padded.
        expect(await mismatches('p_text', file, `CASE WHEN c IS NOT NULL THEN format('%s', c) END`, 'c'), 'c').toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: array types', () => {
  beforeAll(async () => {
    await fx.client.query(`CREATE TABLE p_arr (id int PRIMARY KEY, ia int4[], ba int8[], ta text[], na numeric(10,2)[], tsa timestamptz[])`);
  });

  it('one-dimensional arrays keep elements, NULL elements, empty arrays and NULL arrays', async () => {
    const list = <T>(arb: fc.Arbitrary<T>) => nullable(fc.array(nullable(arb), { maxLength: 6 }));
    const row = fc.tuple(
      list(fc.integer()),
      list(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
      list(pgText),
      list(decimalText(10, 2)),
      list(fc.bigInt({ min: MICROS_MIN, max: MICROS_MAX }).map((m) => new Date(Number(m / 1000n)).toISOString())),
    );
    const elementJson = (column: string, pgElement = 'x::text') =>
      `CASE WHEN ${column} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(${pgElement} ORDER BY o) FROM unnest(${column}) WITH ORDINALITY AS u(x, o)), '[]') END`;
    const duckJson = (column: string, duckElement = 'CAST(x AS VARCHAR)') =>
      `CASE WHEN ${column} IS NULL THEN NULL ELSE to_json(list_transform(${column}, x -> ${duckElement})) END`;
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), async (rows) => {
        const file = await load('p_arr', ['ia', 'ba', 'ta', 'na', 'tsa'], rows);
        for (const c of ['ia', 'ba', 'ta']) {
          const found = await mismatches('p_arr', file, `(${elementJson(c)})`, duckJson(c), canonicalJson);
          expect(found.filter((m) => m.pg === null || m.duck === null || canonicalJson(m.pg) !== m.duck), c).toEqual([]);
        }
        const na = await mismatches('p_arr', file, `(${elementJson('na')})`, duckJson('na'), canonicalJson);
        const fixZero = (s: string) => JSON.stringify((JSON.parse(s) as (string | null)[]).map((x) => (x === null ? null : leadingZero(x))));
        expect(na.filter((m) => m.pg === null || m.duck === null || fixZero(canonicalJson(m.pg)) !== fixZero(m.duck)), 'na').toEqual([]);
        const tsa = await mismatches(
          'p_arr',
          file,
          `(${elementJson('tsa', '(extract(epoch FROM x) * 1000000)::bigint::text')})`,
          duckJson('tsa', 'CAST(epoch_us(x) AS VARCHAR)'),
          canonicalJson,
        );
        expect(tsa.filter((m) => m.pg === null || m.duck === null || canonicalJson(m.pg) !== m.duck), 'tsa').toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
