import { describe, expect, it } from 'vitest';
import { parseTableName, quoteTable, splitTableList } from '../../../../lambdas/engine/postgres/table-name';

describe('table names follow Postgres quoting', () => {
  it('folds unquoted identifiers to lower case and keeps quoted ones exactly', () => {
    expect(parseTableName('Public.Orders')).toEqual({ schema: 'public', name: 'orders' });
    expect(parseTableName('public."Weird Table"')).toEqual({ schema: 'public', name: 'Weird Table' });
    expect(parseTableName('"a""b"')).toEqual({ schema: null, name: 'a"b' });
    expect(parseTableName('"x.y"."z,w"')).toEqual({ schema: 'x.y', name: 'z,w' });
  });

  it.each([
    ['public.orders; DROP TABLE x', /unexpected ";"/],
    ['orders -- comment', /unexpected " "/],
    ['a.b.c', /expected table or schema.table/],
    ['"unterminated', /unterminated/],
    ['', /empty/],
    ['public.', /unexpected "end"/],
    ['""', /zero-length/],
  ])('refuses %j with a message naming it', (input, why) => {
    expect(() => parseTableName(input)).toThrow(why);
    expect(() => parseTableName(input)).toThrow(JSON.stringify(input));
  });

  it('re-quotes names so that they round-trip through the parser', () => {
    for (const name of ['Weird Table', 'a"b', 'x.y', 'ünïcødé']) {
      const quoted = quoteTable({ schema: 's', name });
      expect(parseTableName(quoted)).toEqual({ schema: 's', name });
    }
  });

  it('splits a table list only on commas outside quotes', () => {
    expect(splitTableList('a.b, public."c,d" ,e')).toEqual(['a.b', 'public."c,d"', 'e']);
  });
});
