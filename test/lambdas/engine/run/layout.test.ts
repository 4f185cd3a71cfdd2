import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pathSegment, runDirOf, tableDir } from '../../../../lambdas/engine/run/layout';

const hash8 = (name: string) => createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);

describe('folder names of schemas and tables', () => {
  it('keeps plain names as they are', () => {
    expect(tableDir('public', 'orders')).toBe('public/orders');
    expect(runDirOf('shop', 'order_items_2024', 'r1')).toBe('shop/order_items_2024/run=r1');
  });

  it('gives every other name a readable lower-case form and a hash of the exact name', () => {
    expect(pathSegment('Weird Table')).toBe(`weird_table-${hash8('Weird Table')}`);
    expect(pathSegment('Sales')).toBe(`sales-${hash8('Sales')}`);
    expect(pathSegment('Prix ü')).toBe(`prix_u-${hash8('Prix ü')}`);
    expect(pathSegment('日本')).toBe(`name-${hash8('日本')}`);
  });

  it('never gives two names one folder, not even where case is folded', () => {
    const names = ['sales', 'Sales', 'SALES', 'a b', 'a_b', 'a-b', 'a.b', 'A B'];
    const folders = names.map(pathSegment);
    expect(new Set(folders.map((f) => f.toLowerCase())).size).toBe(names.length);
  });

  it('makes folders that cannot leave the table folder and hold no character S3 tools mangle', () => {
    for (const name of ['..', '.', 'a/b', 'a%20b', 'x\\y', ' lead', 'ü', 'a?b#c']) {
      const segment = pathSegment(name);
      expect(segment, name).toMatch(/^[a-z0-9_]+(-[0-9a-f]{8})?$/);
    }
  });
});
