/**
 * Every JSON file pgsip reads back from a destination goes through one typed reader that checks its format
 * version and shape: a file from another pgsip version, or damaged by hand, is refused with one line naming
 * it, never half-understood.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LatestPointer, RunManifest, ShardManifest, TablePlan } from '../../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { RunDocumentError } from '../../../../lambdas/engine/errors';
import { exportShard } from '../../../../lambdas/engine/export-shard';
import { silentLog } from '../../../../lambdas/engine/environment';
import { parseDocument, readDocument, serializeDocument } from '../../../../lambdas/engine/run/documents';
import { sweepAbandonedRuns } from '../../../../lambdas/engine/run/sweep';

const plan: TablePlan = {
  version: 1,
  runId: 'r1',
  table: '"public"."t"',
  schema: 'public',
  name: 't',
  runDir: 'public/t/run=r1',
  columns: [{ name: 'id', pgType: 'bigint', typeOid: 20, typmod: -1, elemTypeOid: null, nullable: false, parquetType: 'INT64' }],
  splitKey: { name: 'id', pgType: 'bigint' },
  shards: [{ runId: 'r1', table: '"public"."t"', runDir: 'public/t/run=r1', shard: 0, shardCount: 1, range: { lo: null, hi: null } }],
  options: { compression: 'SNAPPY', rowGroupBytes: 1024, partBytes: 2048, statementTimeoutMs: 1000, lockTimeoutMs: 100, sweepAfterHours: 48, types: 'native', infinity: 'keep', keepRuns: null, retentionGraceMinutes: 60, tableFormat: 'hive', maxDeleteShare: 0.1, compactAtDeleteFiles: null },
  plannedAt: '2026-12-01T00:00:00.000Z',
  estimatedRows: 0,
};
const shard: ShardManifest = {
  version: 1, runId: 'r1', table: '"public"."t"', shard: 0, range: { lo: null, hi: '10' }, attempt: 'ab12', rows: 3, bytes: 100,
  parts: [{ path: 'part-00000-0000-ab12.parquet', rows: 3, bytes: 100 }], checksum: { rows: 3, keySum: '6' }, snapshot: null, seconds: 0.1,
};
const run: RunManifest = {
  version: 1, table: '"public"."t"', runId: 'r1', rows: 3, bytes: 100,
  columns: [{ name: 'id', pgType: 'bigint', parquetType: 'INT64', nullable: false }],
  parts: shard.parts, shards: [{ shard: 0, range: shard.range, rows: 3, checksum: shard.checksum, parts: [shard.parts[0].path] }],
  splitKey: 'id', consistency: 'snapshot', compression: 'SNAPPY', types: 'native', mode: 'full', startedAt: 'a', committedAt: 'b', writer: 'pgsip',
};
const latest: LatestPointer = {
  version: 1, runId: 'r1', manifest: 'run=r1/_manifest.json', plannedAt: 'a', committedAt: 'b', runs: [{ runId: 'r1', manifest: 'run=r1/_manifest.json', mode: 'full' }],
};

describe('documents', () => {
  it('read back exactly what was written, for each kind', () => {
    expect(parseDocument('plan', serializeDocument(plan), 'p')).toEqual(plan);
    expect(parseDocument('shard', serializeDocument(shard), 's')).toEqual(shard);
    expect(parseDocument('manifest', serializeDocument(run), 'm')).toEqual(run);
    expect(parseDocument('latest', serializeDocument(latest), 'l')).toEqual(latest);
  });

  it('refuse a format version they do not know, saying which and what to do', () => {
    const future = JSON.stringify({ ...run, version: 2 });
    expect(() => parseDocument('manifest', future, '/lake/public/t/run=r1/_manifest.json')).toThrow(RunDocumentError);
    expect(() => parseDocument('manifest', future, '/lake/public/t/run=r1/_manifest.json')).toThrow(
      '/lake/public/t/run=r1/_manifest.json is a run manifest of format version 2; this pgsip reads version 1 (it was written by another pgsip version: use that one, or export again)',
    );
  });

  it('refuse a damaged document, naming the field', () => {
    const damaged = JSON.stringify({ ...shard, rows: '3' });
    expect(() => parseDocument('shard', damaged, 'x/_shards/00000.json')).toThrow(/^x\/_shards\/00000\.json is not a valid shard manifest: rows: /);
    const noRanges = JSON.stringify({ ...plan, shards: [{ ...plan.shards[0], range: undefined }] });
    expect(() => parseDocument('plan', noRanges, 'p')).toThrow(/^p is not a valid run plan: shards\.0\.range: /);
    expect(() => parseDocument('latest', '{"runId": ', 'l')).toThrow(/^l is not a latest-run pointer: not valid JSON/);
  });

  it('carry how a table splits: composite bounds as lists, page ranges, the reason for fewer shards', () => {
    const composite: TablePlan = {
      ...plan,
      splitKey: null,
      split: { by: 'key', columns: [{ name: 'region', pgType: 'text' }, { name: 'n', pgType: 'integer' }] },
      shards: [
        { ...plan.shards[0], shardCount: 2, range: { lo: null, hi: ['eu', '17'] } },
        { ...plan.shards[0], shard: 1, shardCount: 2, range: { lo: ['eu', '17'], hi: null } },
      ],
    };
    expect(parseDocument('plan', serializeDocument(composite), 'p')).toEqual(composite);
    const whole: TablePlan = { ...plan, splitKey: null, split: { by: 'whole' }, splitReason: 'only 1 row(s)' };
    expect(parseDocument('plan', serializeDocument(whole), 'p')).toEqual(whole);
    expect(() => parseDocument('plan', JSON.stringify({ ...plan, split: { by: 'hash' } }), 'p')).toThrow(/^p is not a valid run plan: split\.by: /);
    expect(() => parseDocument('plan', JSON.stringify({ ...plan, shards: [{ ...plan.shards[0], range: { lo: [1], hi: null } }] }), 'p')).toThrow(/shards\.0\.range\.lo/);
  });

  it('accept the `_latest.json` of pgsip 0.1, which had no version and names one full run', () => {
    const { version: _, runs: __, ...old } = latest;
    expect(parseDocument('latest', JSON.stringify(old), 'l')).toEqual(latest);
  });

  it('read a manifest written before incremental runs as a full run', () => {
    const { mode: _, ...old } = run;
    expect(parseDocument('manifest', JSON.stringify(old), 'm')).toEqual(run);
  });
});

describe('readers in the run phases', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pgsip-docs-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('Export refuses a plan of another format version before touching the database', async () => {
    const destination = new LocalFolderDestination(work);
    await destination.put('public/t/run=v2/_plan.json', JSON.stringify({ ...plan, runId: 'v2', runDir: 'public/t/run=v2', version: 2 }));
    const env = { destination, log: silentLog, connect: () => Promise.reject(new Error('must not connect')) };
    await expect(exportShard({ ...plan.shards[0], runId: 'v2', runDir: 'public/t/run=v2' }, env)).rejects.toThrow(
      `${join(work, 'public/t/run=v2/_plan.json')} is a run plan of format version 2; this pgsip reads version 1`,
    );
  });

  it('the sweep leaves a run it cannot read alone and says so, instead of failing or deleting it', async () => {
    const destination = new LocalFolderDestination(work);
    await mkdir(join(work, 'public/u/run=old'), { recursive: true });
    await writeFile(join(work, 'public/u/run=old/_plan.json'), '{"version": 7}');
    const skipped: string[] = [];
    const swept = await sweepAbandonedRuns(destination, 'public/u/', 1, { now: new Date('2100-01-01'), onSkip: (dir, why) => skipped.push(`${dir}: ${why}`) });
    expect(swept).toEqual([]);
    expect(skipped).toEqual([`public/u/run=old: ${join(work, 'public/u/run=old/_plan.json')} is a run plan of format version 7; this pgsip reads version 1 (it was written by another pgsip version: use that one, or export again)`]);
    expect(await readDocument(destination, 'latest', 'public/u/_latest.json')).toBeNull();
  });
});
