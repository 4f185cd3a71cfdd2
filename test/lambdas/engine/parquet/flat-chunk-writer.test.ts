/**
 * The flat column-chunk writer, through the part writer and the real builders, read back by DuckDB: values
 * across many pages with NULLs on page edges, the encoding choice (dictionary where it wins, PLAIN where not),
 * wide dictionary indexes, and footer statistics in Parquet's orders (signed integers, unsigned bytes, NaN
 * left out of float bounds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { LARGE_PAGE_BYTES, truncatedBounds } from '../../../../lambdas/engine/parquet/flat-chunk-writer';
import { createHyparquetPartWriter } from '../../../../lambdas/engine/parquet/hyparquet-part-writer';
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

function column(name: string, typeOid: number, pgType: string): ColumnMapping {
  return mapColumn({ name, pgType, typeOid, typmod: -1, elemTypeOid: null, nullable: true }, NATIVE);
}

type Field = Buffer | null;

/** Writes one part with one row group per entry of `groups`; each row is one field per column (null = NULL). */
async function writePart(name: string, columns: ColumnMapping[], groups: Field[][][], pageVersion: 1 | 2 = 2): Promise<string> {
  const file = join(tmp.dir, name);
  const writer = createHyparquetPartWriter({ columns, compression: 'SNAPPY', sink: new FileObjectWriter(file), pageVersion });
  for (const rows of groups) {
    const builders = columns.map((c) => c.newBuilder());
    for (const row of rows) {
      row.forEach((field, i) => (field === null ? builders[i].appendNull() : builders[i].append(field, 0, field.length)));
    }
    await writer.writeRowGroup(
      builders.map((b) => b.take()),
      rows.length,
    );
  }
  await writer.finish();
  return file;
}

const text = (s: string) => Buffer.from(s, 'utf8');
const int8 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const float8 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
};

describe('flat column chunks', () => {
  it.each([1, 2] as const)('writes a page holding a value past LARGE_PAGE_BYTES in parts (V%i), and cuts its bounds at once', async (pageVersion) => {
    const huge = Buffer.concat([text('zz-huge:'), Buffer.alloc(LARGE_PAGE_BYTES + 12345, 'q')]);
    const rows: Field[][] = [];
    for (let i = 0; i < 2000; i++) rows.push([int8(BigInt(i)), i === 1234 ? huge : i % 5 === 0 ? null : text(`v${i}`)]);
    const columns = [column('k', PgOid.int8, 'bigint'), column('t', PgOid.text, 'text')];
    const file = await writePart(`large-v${pageVersion}.parquet`, columns, [rows], pageVersion);
    const back = await duck.all(`SELECT k, md5(t) AS m, length(t)::INT AS n FROM read_parquet(${sqlString(file)}) WHERE t IS NOT NULL AND (k = 1234 OR k < 3) ORDER BY k`);
    expect(back).toEqual([
      { k: 1n, m: createHash('md5').update('v1').digest('hex'), n: 2 },
      { k: 2n, m: createHash('md5').update('v2').digest('hex'), n: 2 },
      { k: 1234n, m: createHash('md5').update(huge).digest('hex'), n: huge.length },
    ]);
    const [nulls] = await duck.all(`SELECT count(*)::INT AS n FROM read_parquet(${sqlString(file)}) WHERE t IS NULL`);
    expect(nulls.n).toBe(400);
    // The max is the huge value: cut to 16 bytes (an upper bound, marked inexact), not held whole in the footer.
    const [stats] = await duck.all(`SELECT stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata(${sqlString(file)}) WHERE path_in_schema = 't'`);
    expect(stats).toEqual({ lo: 'v1', hi: 'zz-huge:qqqqqqqr' });
  });

  it('keeps every value and NULL across many pages, with NULLs on and around page edges', async () => {
    // ~3 MB of unique text: several 1 MiB pages, PLAIN (no dictionary can win on unique values).
    const rows: Field[][] = [];
    for (let i = 0; i < 60_000; i++) {
      const nullRow = i % 7 === 0 || (i > 20_000 && i < 20_100);
      rows.push([int8(BigInt(i) - 30_000n), nullRow ? null : text(`${i}:${'x'.repeat(i % 90)}é`)]);
    }
    const columns = [column('k', PgOid.int8, 'bigint'), column('t', PgOid.text, 'text')];
    const file = await writePart('pages.parquet', columns, [rows]);
    const back = await duck.all(`SELECT k, t FROM read_parquet(${sqlString(file)}) ORDER BY k`);
    expect(back).toHaveLength(rows.length);
    let mismatches = 0;
    back.forEach((r, i) => {
      const expected = rows[i][1] === null ? null : rows[i][1]!.toString('utf8');
      if (r.k !== BigInt(i) - 30_000n || r.t !== expected) mismatches++;
    });
    expect(mismatches).toBe(0);
    // The text chunk really spans several pages (its compressed size is far above one page's worth).
    const [meta] = await duck.all(
      `SELECT encodings, total_uncompressed_size AS size FROM parquet_metadata(${sqlString(file)}) WHERE path_in_schema = 't'`,
    );
    expect(meta.size as bigint).toBeGreaterThan(2n * 1024n * 1024n);
    expect(String(meta.encodings)).not.toContain('RLE_DICTIONARY');
  });

  it('dictionary-encodes repeating text, with indexes wider than 16 bits, and reads it back unchanged', async () => {
    // 300,000 draws from 100,000 values (~95,000 distinct seen): 17-bit indexes, the dictionary about a third
    // of the bytes. The draws are pseudo-random (xorshift), as real data would be, not an arithmetic lattice.
    const rows: Field[][] = [];
    const seen = new Set<number>();
    let x = 2463534242;
    for (let i = 0; i < 300_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const v = (x >>> 0) % 100_000;
      if (i % 50 !== 0) seen.add(v);
      rows.push([i % 50 === 0 ? null : text(`sku-${v}-${'abcdefghij'.slice(v % 10)}`)]);
    }
    const file = await writePart('dict.parquet', [column('s', PgOid.text, 'text')], [rows]);
    const [meta] = await duck.all(`SELECT encodings FROM parquet_metadata(${sqlString(file)})`);
    expect(String(meta.encodings)).toContain('RLE_DICTIONARY');
    const back = await duck.all(`SELECT s FROM read_parquet(${sqlString(file)})`);
    let mismatches = 0;
    back.forEach((r, i) => {
      const expected = rows[i][0] === null ? null : rows[i][0]!.toString('utf8');
      if (r.s !== expected) mismatches++;
    });
    expect(mismatches).toBe(0);
    const [counts] = await duck.all(`SELECT count(DISTINCT s) AS d, count(s) AS n FROM read_parquet(${sqlString(file)})`);
    expect(counts).toEqual({ d: BigInt(seen.size), n: 294_000n });
    expect(seen.size).toBeGreaterThan(65_536);
  });

  it('writes a single repeated value and an all-NULL row group', async () => {
    const same: Field[][] = Array.from({ length: 5000 }, () => [text('USD'), int8(7n)]);
    const none: Field[][] = Array.from({ length: 3000 }, () => [null, null]);
    const columns = [column('c', PgOid.text, 'text'), column('n', PgOid.int8, 'bigint')];
    const file = await writePart('same.parquet', columns, [same, none]);
    const back = await duck.all(
      `SELECT count(*) AS rows, count(c) AS cs, count(DISTINCT c) AS dc, sum(n) AS total FROM read_parquet(${sqlString(file)})`,
    );
    expect(back).toEqual([{ rows: 8000n, cs: 5000n, dc: 1n, total: 35000n }]);
    const stats = await duck.all(
      `SELECT row_group_id AS g, path_in_schema AS p, stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS nulls
         FROM parquet_metadata(${sqlString(file)}) ORDER BY g, column_id`,
    );
    expect(stats).toEqual([
      { g: 0n, p: 'c', lo: 'USD', hi: 'USD', nulls: 0n },
      { g: 0n, p: 'n', lo: '7', hi: '7', nulls: 0n },
      { g: 1n, p: 'c', lo: null, hi: null, nulls: 3000n },
      { g: 1n, p: 'n', lo: null, hi: null, nulls: 3000n },
    ]);
  });

  it('records statistics in Parquet order: signed int64, unsigned bytes, NaN left out of float bounds', async () => {
    const rows: Field[][] = [
      [int8(-9223372036854775808n), text('zebra'), float8(Number.NaN)],
      [int8(9223372036854775807n), text('éclair'), float8(-0)],
      [int8(-1n), text('Zebra'), float8(2.5)],
      [int8(4294967296n), null, float8(-7.25)],
      [null, text(''), null],
    ];
    const columns = [column('i', PgOid.int8, 'bigint'), column('s', PgOid.text, 'text'), column('f', PgOid.float8, 'double precision')];
    const file = await writePart('stats.parquet', columns, [rows]);
    const stats = await duck.all(
      `SELECT path_in_schema AS p, stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS nulls
         FROM parquet_metadata(${sqlString(file)}) ORDER BY column_id`,
    );
    expect(stats).toEqual([
      { p: 'i', lo: '-9223372036854775808', hi: '9223372036854775807', nulls: 1n },
      // UTF-8 byte order: '' < 'Zebra' < 'zebra' < 'éclair' (0xC3 sorts after every ASCII byte).
      { p: 's', lo: '', hi: 'éclair', nulls: 1n },
      { p: 'f', lo: '-7.25', hi: '2.5', nulls: 1n },
    ]);
    const back = await duck.all(`SELECT i, s, f FROM read_parquet(${sqlString(file)})`);
    expect(back.map((r) => r.i)).toEqual([-9223372036854775808n, 9223372036854775807n, -1n, 4294967296n, null]);
    expect(back.map((r) => r.s)).toEqual(['zebra', 'éclair', 'Zebra', null, '']);
    expect(Number.isNaN(back[0].f)).toBe(true);
    expect(Object.is(back[1].f, -0)).toBe(true);
  });
});

describe('truncatedBounds', () => {
  const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('utf8'));
  const compare = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b));

  it('keeps short bounds exact and cuts long ones so that they still enclose the values', () => {
    expect(truncatedBounds(bytes('{"a":1}'), bytes('{"b":2}'))).toEqual({ min: bytes('{"a":1}'), max: bytes('{"b":2}'), minExact: true, maxExact: true });
    const min = bytes('{"aaaaaaaaaaaaaaaaaaaa": 1}');
    const max = bytes('{"zzzzzzzzzzzzzzzzzzzz": 1}');
    const cut = truncatedBounds(min, max);
    expect(text(cut.min)).toBe('{"aaaaaaaaaaaaaa');
    expect(text(cut.max)).toBe('{"zzzzzzzzzzzzzz'.slice(0, 15) + '{');
    expect(cut).toMatchObject({ minExact: false, maxExact: false });
    expect(compare(cut.min, min)).toBeLessThanOrEqual(0);
    expect(compare(cut.max!, max)).toBeGreaterThan(0);
  });

  it('never cuts inside a multi-byte character, and steps back over characters it cannot increment', () => {
    // 15 ASCII bytes then 'é' (2 bytes) straddling byte 16: the cut falls before it.
    const min = bytes('abcdefghijklmnoé and more');
    expect(text(truncatedBounds(min, min).min)).toBe('abcdefghijklmno');
    // A prefix ending in non-ASCII or DEL: the max steps back to the last ASCII character below 0x7f.
    const max = bytes('ab\u007f€€€€€€€€€€€€ and more');
    const cut = truncatedBounds(max, max);
    expect(text(cut.max)).toBe('ac');
    expect(compare(cut.max!, max)).toBeGreaterThan(0);
    // Nothing incrementable: no max at all rather than a wrong one.
    expect(truncatedBounds(bytes('€€€€€€€€€€'), bytes('€€€€€€€€€€')).max).toBeNull();
  });
});
