/**
 * Names with wildcards: Postgres quoting kept, `*` a wildcard only outside quotes, bad input refused with one
 * line naming it. No database: what the parsers accept and how a glob matches.
 */
import { describe, expect, it } from 'vitest';
import { lakeTable } from '../../../../lambdas/engine/catalog/lake-table';
import { InputError } from '../../../../lambdas/engine/errors';
import { ColumnRules, checksumKeyOf, parseColumnEntry, selectionOf } from '../../../../lambdas/engine/selection/column-rules';
import { hashKeyFor, hashKeyFromText } from '../../../../lambdas/engine/selection/hash-key';
import { canonicalPattern, hasWildcard, parseNamePattern, partMatches } from '../../../../lambdas/engine/selection/name-pattern';
import { checkTableEntry, checkTableSelection } from '../../../../lambdas/engine/selection/table-patterns';

const table = (glob: string) => parseNamePattern(glob, 1, 2, 'table pattern');

describe('name patterns', () => {
  it('fold unquoted parts to lower case, keep quoted ones, and match * outside quotes only', () => {
    const p = table('Public.Order_*');
    expect(p.parts.map((x) => x.text)).toEqual(['public', 'order_*']);
    expect(partMatches(p.parts[1], 'order_lines')).toBe(true);
    expect(partMatches(p.parts[1], 'order_')).toBe(true);
    expect(partMatches(p.parts[1], 'orders')).toBe(false);
    expect(partMatches(p.parts[1], 'Order_lines')).toBe(false);
    const literal = table('"Sales"."*"');
    expect(literal.parts).toEqual([{ text: 'Sales', glob: null }, { text: '*', glob: null }]);
    expect(partMatches(literal.parts[1], 'anything')).toBe(false);
    expect(partMatches(literal.parts[1], '*')).toBe(true);
    // Regular-expression characters in a name are plain characters.
    expect(partMatches(table('a.x$*').parts[1], 'x$y')).toBe(true);
    expect(partMatches(table('a.x$*').parts[1], 'xy')).toBe(false);
    expect(partMatches(table('a.*_log').parts[1], 'audit_log')).toBe(true);
    expect(partMatches(table('a.*').parts[1], 'Weird Table')).toBe(true);
  });

  it('tell a pattern from a name by a * outside quotes, and write patterns back canonically', () => {
    expect(hasWildcard('public.*')).toBe(true);
    expect(hasWildcard('public."*"')).toBe(false);
    expect(hasWildcard('public."a*b",x')).toBe(false);
    expect(canonicalPattern(table('Public.*'))).toBe('"public".*');
    expect(canonicalPattern(table('"We""ird".x*'))).toBe('"We""ird".x*');
  });

  it('refuse malformed entries with one line naming them', () => {
    expect(() => checkTableEntry('*')).toThrow('bad table pattern "*": a pattern must name its schema (e.g. public.*)');
    expect(() => checkTableEntry('public.*;drop')).toThrow('bad table pattern "public.*;drop": unexpected ";" at position 9');
    expect(() => checkTableEntry('"Sales"*.x')).toThrow(/^bad table pattern "\\"Sales\\"\*\.x": unexpected "\*"/);
    expect(() => checkTableEntry('a.b.*')).toThrow('bad table pattern "a.b.*": expected schema.table');
    expect(() => checkTableEntry('x;drop')).toThrow('bad table name "x;drop": unexpected ";" at position 2');
    expect(() => checkTableSelection({ tables: ['a.b'], excludeTables: 'a.c' })).toThrow('"excludeTables" must be a list');
    expect(() => parseColumnEntry('public.users', 'hashColumns')).toThrow('bad "hashColumns" entry "public.users": expected schema.table.column');
    expect(() => parseColumnEntry(3, 'excludeColumns')).toThrow(InputError);
    expect(() => ColumnRules.fromInput({ hashColumns: 'public.users.email' })).toThrow('"hashColumns" must be a list of schema.table.column names');
    expect(parseColumnEntry('public."Users".*', 'excludeColumns').parts.map((p) => p.text)).toEqual(['public', 'Users', '*']);
  });
});

describe('column rules', () => {
  const users = {
    oid: 1,
    schema: 'public',
    name: 'users',
    quoted: '"public"."users"',
    relkind: 'r',
    primaryKey: [],
    estimatedRows: 0,
    heapBytes: 0,
    columns: ['id', 'email', 'password_hash'].map((name) => ({ name, pgType: 'text', typeOid: 25, typmod: -1, elemTypeOid: null, nullable: true })),
  };

  it('exclude and hash the columns they name, and say which entry named nothing', () => {
    const rules = ColumnRules.fromInput({ excludeColumns: ['public.users.password_hash'], hashColumns: ['*.*.email', 'public.users.nope'] });
    const selected = rules.select(users);
    expect(selected.excluded).toEqual(['password_hash']);
    expect(selected.columns.map((c) => [c.name, c.hashed ?? false])).toEqual([
      ['id', false],
      ['email', true],
    ]);
    expect(() => rules.checkAllMatched()).toThrow('"hashColumns" entry "public.users.nope" names no column of the tables this run exports');
  });

  it('refuse a column both excluded and hashed, and excluding every column', () => {
    expect(() => ColumnRules.fromInput({ excludeColumns: ['public.users.email'], hashColumns: ['public.*.email'] }).select(users)).toThrow(
      'column "email" of "public"."users" is both excluded ("public.users.email") and hashed ("public.*.email"): choose one',
    );
    expect(() => ColumnRules.fromInput({ excludeColumns: ['public.users.*'] }).select(users)).toThrow(
      '"excludeColumns" removes every column of "public"."users": leave the table out instead ("excludeTables", --exclude-tables)',
    );
  });

  it('keep the key sum only while the split key is written unchanged, and record the selection for the manifest', () => {
    const column = (name: string, hashed?: boolean) => ({ name, pgType: 'bigint', typeOid: 20, typmod: -1, elemTypeOid: null, nullable: false, parquetType: 'INT64', ...(hashed ? { hashed } : {}) });
    const splitKey = { name: 'id', pgType: 'bigint' };
    expect(checksumKeyOf({ splitKey, columns: [column('id')] })).toEqual(splitKey);
    expect(checksumKeyOf({ splitKey, columns: [column('id', true)] })).toBeNull();
    expect(checksumKeyOf({ splitKey, columns: [column('v')] })).toBeNull();
    // Only integer keys are summed: a uuid or text key is checked by count.
    expect(checksumKeyOf({ splitKey: { name: 'id', pgType: 'uuid' }, columns: [{ ...column('id'), pgType: 'uuid', typeOid: 2950, parquetType: 'STRING' }] })).toBeNull();
    expect(selectionOf({ columns: [column('id', true), column('v')], excluded: ['secret'] })).toEqual({ excluded: ['secret'], hashed: ['id'] });
    expect(selectionOf({ columns: [column('v')] })).toEqual({});
  });
});

describe('hash key', () => {
  it('is the bytes of its text, without a file’s trailing newline, and at least 16 of them', () => {
    expect(Buffer.from(hashKeyFromText('0123456789abcdef\n', 'f')).toString()).toBe('0123456789abcdef');
    expect(() => hashKeyFromText('short-key', '--hash-key-file /k')).toThrow('the hash key from --hash-key-file /k is 9 bytes; hashing needs at least 16');
  });

  it('is asked for only when a plan hashes a column, and its absence names the column', async () => {
    const plan = { table: '"public"."users"', columns: [{ name: 'email', pgType: 'text', typeOid: 25, typmod: -1, elemTypeOid: null, nullable: true, parquetType: 'STRING', hashed: true }] };
    expect(await hashKeyFor([{ ...plan, columns: [] }], {})).toBeUndefined();
    await expect(hashKeyFor([plan], {})).rejects.toThrow(
      'table "public"."users", column "email" is to be hashed but no hash key is configured (pgsip run: --hash-key-file or PGSIP_HASH_KEY; on AWS: the "hashKey" field of the database secret)',
    );
    await expect(hashKeyFor([plan], { hashKey: async () => new Uint8Array(8) })).rejects.toThrow('the hash key is 8 bytes; hashing needs at least 16');
  });
});

describe('catalog description of a hashed column', () => {
  it('is a string whose comment says it holds HMAC-SHA-256 hex of the Postgres value', () => {
    const manifest = {
      version: 1 as const, table: '"public"."users"', runId: 'r', rows: 0, bytes: 0, parts: [], shards: [], splitKey: null,
      consistency: 'snapshot' as const, compression: 'SNAPPY', types: 'portable' as const, mode: 'full' as const, startedAt: 'a', committedAt: 'b', writer: 'w',
      columns: [{ name: 'email', pgType: 'text', parquetType: 'STRING', nullable: true }, { name: 'id', pgType: 'bigint', parquetType: 'INT64', nullable: false }],
      excluded: ['password_hash'],
      hashed: ['email'],
    };
    expect(lakeTable(manifest, 's3://b/p/public/users/run=r').columns).toEqual([
      { name: 'email', type: 'string', comment: 'text, as hex HMAC-SHA-256 of its text' },
      { name: 'id', type: 'bigint', comment: 'bigint' },
    ]);
  });
});
