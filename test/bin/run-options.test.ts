/**
 * `--partition-by` as `pgsip run` and `pgsip start` turn it into the execution input (bin/commands/run.ts): one
 * spec for every table of the run, or one per table; the spec itself is checked when the run is planned.
 */
import { describe, expect, it } from 'vitest';
import { parsePartitionBy, sharedRunInput } from '../../bin/commands/run';

describe('--partition-by', () => {
  it('gives one spec to every table of the run, or each named table its own', () => {
    expect(parsePartitionBy(['day(created_at), identity(region)'], ['public.a', 'public.b'])).toEqual({
      'public.a': 'day(created_at), identity(region)',
      'public.b': 'day(created_at), identity(region)',
    });
    expect(parsePartitionBy(['public.a=day(at)', '"Odd=Name".t = bucket(16, id)'], [])).toEqual({ 'public.a': 'day(at)', '"Odd=Name".t': 'bucket(16, id)' });
    expect(sharedRunInput({ partitionBy: ['public.a=month(at)'] }, ['public.a'])).toMatchObject({ partitionBy: { 'public.a': 'month(at)' } });
  });

  it('refuses, in one line, what it cannot give a table', () => {
    expect(() => parsePartitionBy(['day(a)', 'day(b)'], ['public.a'])).toThrow(/^--partition-by "day\(a\)": with several --partition-by, name each one's table/);
    expect(() => parsePartitionBy(['day(a)'], ['public.*'])).toThrow(/^--partition-by "day\(a\)": with table patterns, name the table/);
    expect(() => parsePartitionBy(['public.a='], [])).toThrow(/^--partition-by "public\.a=": no partition spec after "="/);
    expect(() => parsePartitionBy(['public.a=day(x)', 'public.a=day(y)'], [])).toThrow(/^--partition-by names public\.a twice/);
  });
});
