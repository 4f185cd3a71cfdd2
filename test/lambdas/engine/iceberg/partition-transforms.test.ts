import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError, InternalError, ValueRefusedError } from '../../../../lambdas/engine/errors';
import type { IcebergField, IcebergType, PartitionField, PartitionSpec, PartitionTransform } from '../../../../lambdas/engine/iceberg/model';
import {
  applyTransform,
  bucketHash,
  humanString,
  javaUrlEncode,
  minimalTwosComplement,
  murmur3,
  parsePartitionBy,
  partitionKey,
  partitionPath,
  partitionResultType,
  resolvePartitionSpec,
  sameSpec,
  transformFunction,
  type PartitionValue,
} from '../../../../lambdas/engine/iceberg/partition-transforms';

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
/** Days since 1970-01-01 of an ISO date, by JS Date: a calendar independent of the module's. */
const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
/** Microseconds since the epoch of an ISO instant (millisecond part by JS Date, the rest added). */
const micros = (iso: string, extraMicros = 0) => BigInt(Date.parse(iso)) * 1000n + BigInt(extraMicros);

const field = (id: number, name: string, type: IcebergType): IcebergField => ({ id, name, required: false, type });
const SCHEMA: IcebergField[] = [
  field(1, 'id', 'long'),
  field(2, 'created_at', 'timestamptz'),
  field(3, 'region', 'string'),
  field(4, 'sku', 'string'),
  field(5, 'd', 'date'),
  field(6, 'ts', 'timestamp'),
  field(7, 'price', 'decimal(10, 2)'),
  field(8, 'score', 'double'),
  field(9, 'tags', { type: 'list', 'element-id': 20, 'element-required': false, element: 'string' }),
  field(10, 'Created At', 'timestamptz'),
  field(11, 'CreatedAt', 'date'),
  field(12, 'n', 'int'),
  field(13, 'flag', 'boolean'),
  field(14, 'blob', 'binary'),
  field(15, 'f', 'float'),
];

describe('bucket hashing matches every test value of the spec (Appendix B)', () => {
  it('hashes int and long as the same 8-byte long', () => {
    expect(bucketHash('int', 34)).toBe(2017239379);
    expect(bucketHash('long', 34n)).toBe(2017239379);
    expect(bucketHash('long', 34)).toBe(2017239379);
  });

  it('hashes a decimal by the minimal two’s-complement bytes of its unscaled value, whatever the scale', () => {
    expect(bucketHash('decimal(4, 2)', 1420n)).toBe(-500754589); // 14.20
    expect(bucketHash('decimal(9, 2)', 1420n)).toBe(-500754589);
    // The same value as the 4-byte fixed-width column layout: the padding is not hashed.
    expect(bucketHash('decimal(9, 2)', hex('0000058c'))).toBe(-500754589);
    expect([...minimalTwosComplement(1420n)]).toEqual([0x05, 0x8c]);
    expect([...minimalTwosComplement(-1420n)]).toEqual([0xfa, 0x74]);
    expect([...minimalTwosComplement(0n)]).toEqual([0]);
    expect([...minimalTwosComplement(128n)]).toEqual([0, 0x80]);
    expect([...minimalTwosComplement(-128n)]).toEqual([0x80]);
    expect([...minimalTwosComplement(-129n)]).toEqual([0xff, 0x7f]);
  });

  it('hashes a date as a long day count (the spec’s text says hashInt; its test value needs hashLong)', () => {
    expect(days('2017-11-16')).toBe(17486);
    expect(bucketHash('date', 17486)).toBe(-653330422);
    expect(murmur3(hex('4e440000'))).not.toBe(-653330422); // the 4-byte hashInt would be wrong
  });

  it('hashes time, timestamp and timestamptz microseconds as a long', () => {
    // time 22:31:08 (not a type pgsip writes; it is hashed as a long like the others)
    expect(bucketHash('long', 81_068_000_000n)).toBe(-662762989);
    expect(bucketHash('timestamp', micros('2017-11-16T22:31:08Z'))).toBe(-2047944441);
    expect(bucketHash('timestamp', micros('2017-11-16T22:31:08Z', 1))).toBe(-1207196810);
    expect(bucketHash('timestamptz', micros('2017-11-16T14:31:08-08:00'))).toBe(-2047944441);
    expect(bucketHash('timestamptz', micros('2017-11-16T14:31:08-08:00', 1))).toBe(-1207196810);
  });

  it('hashes strings as UTF-8, from a JS string or from bytes', () => {
    expect(bucketHash('string', 'iceberg')).toBe(1210000089);
    expect(bucketHash('string', utf8('iceberg'))).toBe(1210000089);
  });

  it('hashes binary (and a uuid’s 16 big-endian bytes) as they are', () => {
    expect(bucketHash('binary', hex('00010203'))).toBe(-188683207);
    expect(bucketHash('binary', hex('f79c3e09677c4bbda4793f349cb785e7'))).toBe(1488055340);
  });

  it('reproduces the values the spec gives for types that are not bucketed (4-byte and double-bits paths of murmur3)', () => {
    // boolean true: the spec's text says hashInt(1), but 1392991556 is hashLong(1), as for dates; Guava's
    // hashInt(1), the 4 bytes 01 00 00 00, is -68075478.
    expect(bucketHash('long', 1n)).toBe(1392991556);
    expect(murmur3(hex('01000000'))).toBe(-68075478);
    expect(bucketHash('long', 0x3ff0000000000000n)).toBe(-142385009); // 1.0 as doubleToLongBits
    expect(bucketHash('long', 0n)).toBe(1669671676); // 0.0
  });

  it('takes the bucket with the sign bit dropped: bucket[16](34) = 3', () => {
    expect(applyTransform('bucket[16]', 'int', 34)).toBe(3);
    expect(applyTransform('bucket[16]', 'long', 34n)).toBe(3);
    // A negative hash still lands in [0, N): -500754589 & 0x7fffffff = 1646729059.
    expect(applyTransform('bucket[7]', 'decimal(4, 2)', 1420n)).toBe(1646729059 % 7);
    expect(applyTransform('bucket[16]', 'string', null)).toBe(null);
  });
});

describe('truncate follows the spec’s examples', () => {
  it('truncates ints and longs downwards, negatives included', () => {
    expect(applyTransform('truncate[10]', 'int', 1)).toBe(0);
    expect(applyTransform('truncate[10]', 'int', -1)).toBe(-10);
    expect(applyTransform('truncate[10]', 'int', -10)).toBe(-10);
    expect(applyTransform('truncate[10]', 'int', 0)).toBe(0);
    expect(applyTransform('truncate[10]', 'long', 1n)).toBe(0n);
    expect(applyTransform('truncate[10]', 'long', -1n)).toBe(-10n);
    // Past 2^53: a snowflake id keeps every digit.
    expect(applyTransform('truncate[1000]', 'long', 9_007_199_254_740_993_123n)).toBe(9_007_199_254_740_993_000n);
  });

  it('wraps where Java int/long arithmetic wraps, so the partition value is the one Java computes', () => {
    expect(applyTransform('truncate[10]', 'int', -2147483648)).toBe(2147483646);
    expect(applyTransform('truncate[10]', 'long', -9223372036854775808n)).toBe(9223372036854775806n);
  });

  it('truncates decimals on the unscaled value: W=50 at scale 2 takes 10.65 to 10.50', () => {
    expect(applyTransform('truncate[50]', 'decimal(4, 2)', 1065n)).toBe(1050n);
    expect(applyTransform('truncate[50]', 'decimal(4, 2)', -1065n)).toBe(-1100n);
    expect(applyTransform('truncate[50]', 'decimal(9, 2)', hex('00000429'))).toBe(1050n);
  });

  it('truncates strings to L code points, from a JS string or UTF-8 bytes', () => {
    expect(applyTransform('truncate[3]', 'string', 'iceberg')).toBe('ice');
    expect(applyTransform('truncate[3]', 'string', utf8('iceberg'))).toBe('ice');
    expect(applyTransform('truncate[10]', 'string', utf8('ice'))).toBe('ice');
    for (const s of ['😀😀abc', 'ñé😀x', '日本語テキスト', 'a😀']) {
      const want = Array.from(s).slice(0, 2).join('');
      expect(applyTransform('truncate[2]', 'string', s)).toBe(want);
      expect(applyTransform('truncate[2]', 'string', utf8(s))).toBe(want);
    }
  });

  it('truncates binary to L bytes, into a copy', () => {
    const source = hex('0102030405');
    const out = applyTransform('truncate[3]', 'binary', source) as Uint8Array;
    expect([...out]).toEqual([1, 2, 3]);
    source[0] = 9;
    expect(out[0]).toBe(1);
  });
});

describe('time transforms count whole units from 1970, downwards before it', () => {
  const dateCases: [string, number, number][] = [
    // date, year, month
    ['1970-01-01', 0, 0],
    ['1969-12-31', -1, -1],
    ['1969-01-01', -1, -12],
    ['1968-12-31', -2, -13],
    ['2024-02-29', 54, 54 * 12 + 1],
    ['2000-02-29', 30, 30 * 12 + 1],
    ['1900-03-01', -70, -70 * 12 + 2],
    ['1600-02-29', -370, -370 * 12 + 1],
    ['0001-01-01', -1969, -1969 * 12],
    ['9999-12-31', 8029, 8029 * 12 + 11],
  ];
  it.each(dateCases)('date %s -> year %i, month %i, day = the day count', (iso, year, month) => {
    const d = days(iso);
    expect(applyTransform('year', 'date', d)).toBe(year);
    expect(applyTransform('month', 'date', d)).toBe(month);
    expect(applyTransform('day', 'date', d)).toBe(d);
  });

  it('floors timestamps before 1970 (one microsecond before the epoch is day, hour, month and year -1)', () => {
    for (const type of ['timestamp', 'timestamptz'] as const) {
      expect(applyTransform('day', type, -1n)).toBe(-1);
      expect(applyTransform('hour', type, -1n)).toBe(-1);
      expect(applyTransform('month', type, -1n)).toBe(-1);
      expect(applyTransform('year', type, -1n)).toBe(-1);
      expect(applyTransform('day', type, 0n)).toBe(0);
      expect(applyTransform('day', type, -86_400_000_000n)).toBe(-1);
      expect(applyTransform('day', type, -86_400_000_001n)).toBe(-2);
      expect(applyTransform('hour', type, -3_600_000_000n)).toBe(-1);
      expect(applyTransform('hour', type, -3_600_000_001n)).toBe(-2);
    }
    const noon = micros('2025-01-01T12:00:00Z');
    expect(noon).toBe(1_735_732_800_000_000n);
    expect(applyTransform('day', 'timestamptz', noon)).toBe(20089);
    expect(applyTransform('hour', 'timestamptz', noon)).toBe(20089 * 24 + 12);
    expect(applyTransform('month', 'timestamptz', noon)).toBe(55 * 12);
    expect(applyTransform('year', 'timestamptz', noon)).toBe(55);
    expect(applyTransform('day', 'timestamp', micros('2024-02-29T23:59:59Z', 999_999))).toBe(days('2024-02-29'));
    expect(applyTransform('month', 'timestamp', micros('2024-02-29T23:59:59Z', 999_999))).toBe(54 * 12 + 1);
    expect(applyTransform('month', 'timestamp', micros('2024-03-01T00:00:00Z'))).toBe(54 * 12 + 2);
  });

  it('agrees with JS Date’s calendar on 2,000 pseudo-random instants over ±5,000 years', () => {
    const rnd = prng(7);
    for (let i = 0; i < 2000; i++) {
      const ms = Math.round((rnd() * 2 - 1) * 5000 * 365.25 * 86_400_000);
      const extra = Math.floor(rnd() * 1000);
      const date = new Date(ms);
      const t = BigInt(ms) * 1000n + BigInt(extra);
      const y = date.getUTCFullYear();
      expect(applyTransform('year', 'timestamp', t)).toBe(y - 1970);
      expect(applyTransform('month', 'timestamp', t)).toBe((y - 1970) * 12 + date.getUTCMonth());
      expect(applyTransform('day', 'timestamp', t)).toBe(Math.floor(ms / 86_400_000));
      expect(applyTransform('hour', 'timestamp', t)).toBe(Math.floor(ms / 3_600_000));
      const d = Math.floor(ms / 86_400_000);
      expect(applyTransform('month', 'date', d)).toBe((y - 1970) * 12 + date.getUTCMonth());
    }
  });

  it('refuses an hour past what an int holds instead of wrapping as Java would', () => {
    const year250000 = 250_000n * 365n * 86_400_000_000n;
    expect(() => applyTransform('hour', 'timestamp', year250000)).toThrow(ValueRefusedError);
    expect(applyTransform('day', 'timestamp', year250000)).toBe(250_000 * 365);
  });
});

describe('identity keeps the value, in the documented representation', () => {
  it('returns each type’s representation', () => {
    expect(applyTransform('identity', 'long', 5n)).toBe(5n);
    expect(applyTransform('identity', 'long', 5)).toBe(5n);
    expect(applyTransform('identity', 'int', 5)).toBe(5);
    expect(applyTransform('identity', 'date', 20089)).toBe(20089);
    expect(applyTransform('identity', 'timestamptz', 1n)).toBe(1n);
    expect(applyTransform('identity', 'string', utf8('eu-west'))).toBe('eu-west');
    expect(applyTransform('identity', 'string', utf8('\ufeffa'))).toBe('\ufeffa'); // a leading BOM is data
    expect(applyTransform('truncate[1]', 'string', utf8('\ufeffab'))).toBe('\ufeff');
    expect(applyTransform('identity', 'boolean', true)).toBe(true);
    expect(applyTransform('identity', 'decimal(10, 2)', hex('fa74'))).toBe(-1420n);
    const bytes = hex('0102');
    const out = applyTransform('identity', 'binary', bytes);
    expect(out).toEqual(bytes);
    expect(out).not.toBe(bytes);
  });

  it('maps null to null whatever the transform', () => {
    const cases: [PartitionTransform, IcebergType][] = [
      ['identity', 'string'],
      ['year', 'date'],
      ['month', 'timestamp'],
      ['day', 'timestamptz'],
      ['hour', 'timestamp'],
      ['bucket[4]', 'binary'],
      ['truncate[4]', 'decimal(10, 2)'],
    ];
    for (const [t, type] of cases) expect(applyTransform(t, type, null)).toBe(null);
  });

  it('calls a wrong JS representation pgsip’s own error, naming the column', () => {
    const f = transformFunction('bucket[4]', 'int', 'n');
    expect(() => f(5n)).toThrow(InternalError);
    expect(() => f(5n)).toThrow(/column "n"/);
    expect(() => transformFunction('identity', 'long', 'id')(1.5)).toThrow(InternalError);
    expect(() => transformFunction('day', 'date', 'd')('2025-01-01')).toThrow(InternalError);
  });

  it('refuses transforms pgsip cannot write and types they do not take', () => {
    expect(() => transformFunction('void' as PartitionTransform, 'int', 'n')).toThrow(/"void" is not one pgsip can write/);
    expect(() => transformFunction('bucket[0]', 'int', 'n')).toThrow(InputError);
    expect(() => transformFunction('day', 'string', 'region')).toThrow(/column "region".*day needs a date/);
  });
});

describe('partitionResultType', () => {
  it.each([
    ['identity', 'string', 'string'],
    ['identity', 'decimal(10, 2)', 'decimal(10, 2)'],
    ['truncate[4]', 'long', 'long'],
    ['truncate[4]', 'string', 'string'],
    ['bucket[16]', 'string', 'int'],
    ['year', 'timestamp', 'int'],
    ['month', 'date', 'int'],
    ['hour', 'timestamptz', 'int'],
    ['day', 'timestamptz', 'date'],
    ['day', 'date', 'date'],
  ] as [PartitionTransform, IcebergType, IcebergType][])('%s of %s is %s', (t, source, result) => {
    expect(partitionResultType(t, source)).toBe(result);
  });

  it('refuses a transform the type does not take', () => {
    expect(() => partitionResultType('hour', 'date')).toThrow(/a date has no hours/);
  });
});

describe('partition paths are Java’s toHumanString, URL-encoded', () => {
  const spec = (specFields: [string, PartitionTransform, number][]): PartitionField[] =>
    specFields.map(([name, transform, source], i) => ({ name, transform, 'source-id': source, 'field-id': 1000 + i }));

  it('writes day and bucket as in the README example', () => {
    const fields = spec([
      ['created_at_day', 'day', 2],
      ['id_bucket', 'bucket[16]', 1],
    ]);
    expect(partitionPath(fields, { created_at_day: days('2025-01-01'), id_bucket: 3 }, SCHEMA)).toBe('created_at_day=2025-01-01/id_bucket=3');
  });

  it('writes year, month, hour, null and negative years as Java does', () => {
    const fields = spec([
      ['ts_year', 'year', 6],
      ['d_month', 'month', 5],
      ['created_at_hour', 'hour', 2],
      ['region', 'identity', 3],
    ]);
    const hour = applyTransform('hour', 'timestamptz', micros('2025-01-01T12:34:56Z'));
    expect(partitionPath(fields, { ts_year: 55, d_month: 660, created_at_hour: hour, region: null }, SCHEMA)).toBe(
      'ts_year=2025/d_month=2025-01/created_at_hour=2025-01-01-12/region=null',
    );
    expect(humanString('year', 'date', -1)).toBe('1969');
    expect(humanString('month', 'date', -1)).toBe('1969-12');
    expect(humanString('hour', 'timestamp', -1)).toBe('1969-12-31-23');
    expect(humanString('day', 'date', days('0001-01-01') - 366)).toBe('0000-01-01');
    expect(humanString('year', 'date', -1975)).toBe('-005');
    expect(humanString('day', 'date', days('0001-01-01') - 366 - 365)).toBe('-001-01-01');
  });

  it('URL-encodes names and values as java.net.URLEncoder does', () => {
    const fields = spec([
      ['region', 'identity', 3],
      ['Created At_day', 'day', 10],
    ]);
    expect(partitionPath(fields, { region: 'eu west/1+ü~!', 'Created At_day': 0 }, SCHEMA)).toBe(
      'region=eu+west%2F1%2B%C3%BC%7E%21/Created+At_day=1970-01-01',
    );
    expect(javaUrlEncode("a-b_c.d*e'(f)")).toBe('a-b_c.d*e%27%28f%29');
  });

  it('prints identity timestamps, decimals, binary and booleans as Java does', () => {
    const ts = micros('2017-11-16T22:31:08Z');
    expect(humanString('identity', 'timestamp', ts)).toBe('2017-11-16T22:31:08');
    expect(humanString('identity', 'timestamptz', ts + 1n)).toBe('2017-11-16T22:31:08.000001+00:00');
    expect(humanString('identity', 'timestamp', ts + 120_000n)).toBe('2017-11-16T22:31:08.12');
    expect(humanString('identity', 'timestamp', -1n)).toBe('1969-12-31T23:59:59.999999');
    expect(humanString('identity', 'decimal(10, 2)', 1050n)).toBe('10.50');
    expect(humanString('truncate[50]', 'decimal(10, 2)', -1100n)).toBe('-11.00');
    expect(humanString('identity', 'decimal(20, 8)', 1n)).toBe('1E-8');
    expect(humanString('identity', 'decimal(20, 7)', 12n)).toBe('0.0000012');
    expect(humanString('identity', 'binary', hex('fbff'))).toBe('+/8=');
    expect(humanString('identity', 'boolean', false)).toBe('false');
    expect(humanString('identity', 'long', 9_007_199_254_740_993n)).toBe('9007199254740993');
    const fields = spec([['created_at', 'identity', 2]]);
    expect(partitionPath(fields, { created_at: ts }, SCHEMA)).toBe('created_at=2017-11-16T22%3A31%3A08%2B00%3A00');
  });

  it('is empty for an unpartitioned spec and refuses a tuple that lacks a field', () => {
    expect(partitionPath([], {}, SCHEMA)).toBe('');
    expect(() => partitionPath(spec([['region', 'identity', 3]]), {}, SCHEMA)).toThrow(/no value for "region"/);
  });
});

describe('partitionKey', () => {
  it('is the same whatever order the tuple was built in', () => {
    expect(partitionKey({ a: 1, b: 'x' })).toBe(partitionKey({ b: 'x', a: 1 }));
  });

  it('tells apart values that print alike', () => {
    const tuples: Record<string, PartitionValue>[] = [
      { a: null },
      { a: 'null' },
      { a: 1 },
      { a: 1n },
      { a: '1' },
      { a: true },
      { a: 'true' },
      { a: utf8('1') },
      { a: 1, b: null },
      { 'a":"n","1': null },
      {},
    ];
    const keys = new Set(tuples.map(partitionKey));
    expect(keys.size).toBe(tuples.length);
    expect(partitionKey({ a: hex('0102') })).toBe(partitionKey({ a: hex('0102') }));
  });
});

describe('parsePartitionBy', () => {
  it('reads transforms, assigns Java’s names and field ids from 1000', () => {
    expect(parsePartitionBy('day(created_at), bucket(16, id)', SCHEMA)).toEqual([
      { name: 'created_at_day', transform: 'day', 'source-id': 2, 'field-id': 1000 },
      { name: 'id_bucket', transform: 'bucket[16]', 'source-id': 1, 'field-id': 1001 },
    ]);
    expect(parsePartitionBy('year(d),month(ts),hour(created_at),truncate(4, sku),region', SCHEMA, 1005)).toEqual([
      { name: 'd_year', transform: 'year', 'source-id': 5, 'field-id': 1005 },
      { name: 'ts_month', transform: 'month', 'source-id': 6, 'field-id': 1006 },
      { name: 'created_at_hour', transform: 'hour', 'source-id': 2, 'field-id': 1007 },
      { name: 'sku_trunc', transform: 'truncate[4]', 'source-id': 4, 'field-id': 1008 },
      { name: 'region', transform: 'identity', 'source-id': 3, 'field-id': 1009 },
    ]);
  });

  it('accepts identity(col), Spark’s plurals, either argument order and upper-case words', () => {
    const one = (text: string) => parsePartitionBy(text, SCHEMA)[0];
    expect(one('identity(region)')).toEqual(one('region'));
    expect(one('DAYS(created_at)')).toEqual(one('day(created_at)'));
    expect(one('truncate(sku, 4)')).toEqual(one('truncate(4, sku)'));
    expect(one('  bucket ( 16 ,id )  ')).toEqual(one('bucket(16, id)'));
    expect(one('identity(flag)').transform).toBe('identity');
    expect(parsePartitionBy('   ', SCHEMA)).toEqual([]);
  });

  it('reads column names as Postgres does: unquoted fold to lower case, quoted keep everything', () => {
    expect(parsePartitionBy('day(Created_At)', SCHEMA)[0].name).toBe('created_at_day');
    expect(parsePartitionBy('day("Created At")', SCHEMA)[0]).toEqual({ name: 'Created At_day', transform: 'day', 'source-id': 10, 'field-id': 1000 });
    expect(parsePartitionBy('"CreatedAt", day("Created At")', SCHEMA).map((f) => f.name)).toEqual(['CreatedAt', 'Created At_day']);
  });

  const refusals: [string, RegExp][] = [
    ['day(region)', /^bad partition entry "day\(region\)": column "region": it is a string; day needs a date, timestamp or timestamptz column$/],
    ['hour(d)', /column "d": it is a date; hour needs a timestamp or timestamptz column \(a date has no hours\)/],
    ['bucket(16, score)', /column "score": it is a double; bucket needs/],
    ['bucket(16, flag)', /column "flag": it is a boolean; bucket needs/],
    ['truncate(4, d)', /column "d": it is a date; truncate needs an int, long, decimal, string or binary column/],
    ['score', /column "score": it is a double: pgsip does not partition by a float or double/],
    ['identity(f)', /column "f": it is a float: pgsip does not partition by a float or double/],
    ['tags', /column "tags": it is a list<string>; only primitive columns can be partitioned by/],
    ['day(nope)', /bad partition entry "day\(nope\)": no column "nope"$/],
    ['day(createdat)', /no column "createdat" \(there is "CreatedAt": quote it to keep its case\)/],
    ['region, identity(region)', /bad partition entry "identity\(region\)": column "region": partition field "region" is already made by "region"/],
    ['bucket(16, id), bucket(8, id)', /entry "bucket\(8, id\)": column "id": partition field "id_bucket" is already made by "bucket\(16, id\)"/],
    ['day(ts), month(ts)', /entry "month\(ts\)": column "ts" is already partitioned by "day\(ts\)"; use one of year, month, day, hour per column/],
    ['day(ts', /entry "day\(ts": missing "\)"/],
    ['day(ts) x', /unexpected text after "\)"/],
    ['bucket(id)', /entry "bucket\(id\)": expected bucket\(N, column\)/],
    ['bucket(0, id)', /the bucket count must be from 1 to 2147483647, not 0/],
    ['truncate(99999999999, sku)', /the width must be from 1/],
    ['day(ts, d)', /expected day\(column\)/],
    ['foo(ts)', /unknown transform "foo"; expected identity, year, month, day, hour, bucket or truncate/],
    ['"day"(ts)', /unknown transform "day"/],
    ['region sku', /unexpected text after "region"; separate entries with commas/],
    ['region,,sku', /^bad partition list "region,,sku": entry 2 is empty$/],
    ['region,', /entry 2 is empty/],
    ['day("ts)', /unterminated quoted identifier/],
    ['day(ts);drop', /unexpected ";"/],
    ['(ts)', /expected a column name or a transform/],
  ];
  it.each(refusals)('refuses %j with one line naming it', (text, why) => {
    let error: unknown;
    try {
      parsePartitionBy(text, SCHEMA);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    const message = (error as Error).message;
    expect(message).toMatch(why);
    expect(message).not.toContain('\n');
  });

  it('refuses a partition field name that is another column of the table', () => {
    const schema = [...SCHEMA, field(30, 'ts_day', 'date')];
    expect(() => parsePartitionBy('day(ts)', schema)).toThrow(/column "ts": its partition field would be named "ts_day", which is already a column of the table/);
    expect(parsePartitionBy('ts_day', schema)[0].name).toBe('ts_day');
  });
});

describe('sameSpec and resolvePartitionSpec', () => {
  const wanted = parsePartitionBy('day(created_at), bucket(16, id)', SCHEMA);
  const unpartitioned: PartitionSpec = { 'spec-id': 0, fields: [] };

  it('calls specs equivalent when source, transform and name agree field by field, ids aside', () => {
    expect(sameSpec(wanted, wanted.map((f) => ({ ...f, 'field-id': f['field-id'] + 7 })))).toBe(true);
    expect(sameSpec({ 'spec-id': 3, fields: wanted }, wanted)).toBe(true);
    expect(sameSpec(wanted, [...wanted].reverse())).toBe(false);
    expect(sameSpec(wanted, wanted.slice(0, 1))).toBe(false);
    expect(sameSpec(wanted, [wanted[0], { ...wanted[1], transform: 'bucket[8]' }])).toBe(false);
    expect(sameSpec(unpartitioned, [])).toBe(true);
  });

  it('reuses an equivalent spec as it is', () => {
    const existing: PartitionSpec = { 'spec-id': 1, fields: wanted.map((f) => ({ ...f, 'field-id': f['field-id'] + 10 })) };
    expect(resolvePartitionSpec(wanted, [unpartitioned, existing], 1011)).toEqual({ spec: existing, added: false, lastPartitionId: 1011 });
    expect(resolvePartitionSpec([], [unpartitioned, existing], 1011).spec).toBe(unpartitioned);
  });

  it('adds a new spec, reusing the ids of fields that existed before and counting on from last-partition-id', () => {
    const old: PartitionSpec = { 'spec-id': 1, fields: [{ name: 'id_bucket', transform: 'bucket[16]', 'source-id': 1, 'field-id': 1000 }] };
    const result = resolvePartitionSpec(wanted, [unpartitioned, old], 1000);
    expect(result.added).toBe(true);
    expect(result.lastPartitionId).toBe(1001);
    expect(result.spec).toEqual({
      'spec-id': 2,
      fields: [
        { name: 'created_at_day', transform: 'day', 'source-id': 2, 'field-id': 1001 },
        { name: 'id_bucket', transform: 'bucket[16]', 'source-id': 1, 'field-id': 1000 },
      ],
    });
    // A first spec of a new table.
    expect(resolvePartitionSpec(wanted, [], 999).spec).toEqual({ 'spec-id': 0, fields: wanted });
  });
});

// ------------------------------------------------------------------------------------------------------------------
// Cross-check against an independent implementation. Python's mmh3 and pyiceberg are not installed here (and PyPI is
// not reachable), but Debian's libguava-java is: Guava's murmur3_32_fixed is the very hash Iceberg Java buckets with,
// and java.time / BigDecimal / URLEncoder are what Iceberg Java formats partition values with. The oracle glues them
// as Iceberg does (partition-oracle/PartitionOracle.java). Without Java or Guava this part is skipped; the spec's own
// test values above still run.
// ------------------------------------------------------------------------------------------------------------------
const GUAVA = ['/usr/share/java/guava.jar'].find((p) => existsSync(p));
const JAVA_OK = GUAVA !== undefined && spawnSync('java', ['-version']).status === 0;
const ORACLE = join(dirname(fileURLToPath(import.meta.url)), 'partition-oracle', 'PartitionOracle.java');

function oracle(requests: string[]): string[] {
  const run = spawnSync('java', ['-cp', GUAVA!, ORACLE], { input: requests.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`oracle failed: ${run.stderr}`);
  const lines = run.stdout.split('\n');
  lines.pop();
  expect(lines).toHaveLength(requests.length);
  return lines;
}

/** A small deterministic PRNG (mulberry32), so a failure is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(!JAVA_OK)('cross-check against Guava and java.time (Iceberg Java’s own building blocks)', () => {
  it('agrees on hashes, time transforms, human strings, truncation and URL encoding for pseudo-random inputs', () => {
    const rnd = prng(20250101);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(0, 255));
    const randomLong = (): bigint => BigInt.asIntN(64, (BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff)));
    const alphabet = ['a', 'Z', '0', ' ', '/', '+', '~', '%', 'é', 'ß', '日', '本', '😀', '𝄞', '\u0000', '\u00a0', '\ufeff', '"', '='];
    const randomString = (n: number) => Array.from({ length: n }, () => alphabet[int(0, alphabet.length - 1)]).join('');
    const hexOf = (b: Uint8Array) => (b.length === 0 ? '-' : Buffer.from(b).toString('hex'));
    // Postgres's timestamp range, and around the epoch and the signed boundaries of a unit.
    const PG_MIN = -210_866_803_200_000_000n; // 4713-11-24 BC
    // Up to about the year 240,000: past 246,970 an hour no longer fits an int (refused here, wrapped by Java).
    const PG_MAX = 7_500_000_000_000_000_000n;
    const randomMicros = (): bigint => {
      const pick = int(0, 3);
      if (pick === 0) return BigInt(int(-10_000_000, 10_000_000)) * 1_000_000n + BigInt(int(-1, 1));
      if (pick === 1) return BigInt(int(-100, 100)) * 3_600_000_000n + BigInt(int(-1, 1));
      const span = PG_MAX - PG_MIN;
      return PG_MIN + (span * BigInt(int(0, 0x7fffffff))) / 0x7fffffffn;
    };

    const checks: { request: string; ours: () => string }[] = [];
    const add = (request: string, ours: () => string) => checks.push({ request, ours });

    for (let i = 0; i < 300; i++) {
      const bytes = randomBytes(int(0, 40));
      add(`hashbytes ${hexOf(bytes)}`, () => String(bucketHash('binary', bytes)));
      const long = randomLong();
      add(`hashlong ${long}`, () => String(bucketHash('long', long)));
      const i32 = int(-0x80000000, 0x7fffffff);
      add(`hashlong ${i32}`, () => String(bucketHash('int', i32)));
      const s = randomString(int(0, 12));
      add(`hashstring ${hexOf(utf8(s))}`, () => String(bucketHash('string', utf8(s))));
      const unscaled = BigInt.asIntN(int(1, 127), randomLong() * randomLong());
      add(`hashdecimal ${unscaled} 2`, () => String(bucketHash('decimal(38, 2)', unscaled)));
      const width = int(1, 2 ** 31 - 1);
      add(`truncint ${width % 1000 || 1} ${i32}`, () => String(applyTransform(`truncate[${width % 1000 || 1}]`, 'int', i32)));
      add(`truncint ${width} ${i32}`, () => String(applyTransform(`truncate[${width}]`, 'int', i32)));
      add(`trunclong ${width} ${long}`, () => String(applyTransform(`truncate[${width}]`, 'long', long)));
      add(`truncdecimal ${unscaled} 2 ${width % 100 || 1}`, () => String(applyTransform(`truncate[${width % 100 || 1}]`, 'decimal(38, 2)', unscaled)));
      const scale = int(0, 12);
      add(`decimal ${unscaled} ${scale}`, () => humanString('identity', `decimal(38, ${scale})`, unscaled));
      const length = int(1, 8);
      add(`truncstring ${length} ${hexOf(utf8(s))}`, () => hexOf(utf8(applyTransform(`truncate[${length}]`, 'string', utf8(s)) as string)));
      add(`url ${hexOf(utf8(s))}`, () => javaUrlEncode(s));
      add(`base64 ${hexOf(bytes)}`, () => humanString('identity', 'binary', bytes));

      const t = randomMicros();
      add(`micros ${t}`, () => (['year', 'month', 'day', 'hour'] as const).map((u) => String(applyTransform(u, 'timestamp', t))).join(' '));
      add(`timestamp ${t}`, () => `${humanString('identity', 'timestamp', t)} ${humanString('identity', 'timestamptz', t)}`);
      const d = int(-2_500_000, 2_932_896); // 4713 BC .. 9999-12-31
      add(`dates ${d}`, () => (['year', 'month', 'day'] as const).map((u) => String(applyTransform(u, 'date', d))).join(' '));
      const ordinal = int(-3_000_000, 3_000_000);
      add(`human ${ordinal}`, () =>
        [humanString('year', 'date', ordinal), humanString('month', 'date', ordinal), humanString('day', 'date', ordinal), humanString('hour', 'timestamp', ordinal)].join(' '),
      );
    }
    for (const edge of [0n, -1n, 1n, 127n, 128n, -128n, -129n, 255n, 256n, -(2n ** 127n), 2n ** 127n - 1n]) {
      add(`hashdecimal ${edge} 0`, () => String(bucketHash('decimal(38, 0)', edge)));
    }
    for (const edge of [-2147483648, 2147483647, -1, 0]) {
      for (const w of [1, 7, 10, 2 ** 30 + 1, 2 ** 31 - 1]) add(`truncint ${w} ${edge}`, () => String(applyTransform(`truncate[${w}]`, 'int', edge)));
    }
    for (const edge of [-(2n ** 63n), 2n ** 63n - 1n, -1n]) {
      for (const w of [1, 10, 2 ** 31 - 1]) add(`trunclong ${w} ${edge}`, () => String(applyTransform(`truncate[${w}]`, 'long', edge)));
    }

    const answers = oracle(checks.map((c) => c.request));
    const mismatches = checks.map((c, i) => ({ request: c.request, java: answers[i], ours: c.ours() })).filter((m) => m.java !== m.ours);
    expect(mismatches).toEqual([]);
  });
});
