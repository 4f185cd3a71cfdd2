import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAge } from '../../../../bin/commands/sweep';
import type { TablePlan } from '../../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { sweepAbandonedRuns } from '../../../../lambdas/engine/run/sweep';

let folder: string;
let destination: LocalFolderDestination;

async function fakeRun(runId: string, plannedAt: string, committed: boolean) {
  const dir = `public/t/run=${runId}`;
  const plan: TablePlan = {
    version: 1, runId, table: '"public"."t"', schema: 'public', name: 't', runDir: dir, columns: [], splitKey: null, shards: [],
    options: { compression: 'SNAPPY', rowGroupBytes: 1024, partBytes: 1024, statementTimeoutMs: 1000, lockTimeoutMs: 100, sweepAfterHours: 48, types: 'native', infinity: 'keep', keepRuns: null, retentionGraceMinutes: 60, tableFormat: 'hive', maxDeleteShare: 0.1, compactAtDeleteFiles: null },
    plannedAt, estimatedRows: 0,
  };
  await destination.put(`${dir}/_plan.json`, JSON.stringify(plan));
  await destination.put(`${dir}/part-00000-0000-abcd1234.parquet`, 'PAR1');
  await destination.put(`${dir}/_shards/00000.json`, '{}');
  if (committed) {
    await destination.put(`${dir}/_manifest.json`, '{}');
    await destination.put(`${dir}/_SUCCESS`, '');
  }
}

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'pgsip-sweep-'));
  destination = new LocalFolderDestination(folder);
  await fakeRun('old-failed', '2026-11-01T00:00:00.000Z', false);
  await fakeRun('old-committed', '2026-11-01T00:00:00.000Z', true);
  await fakeRun('recent-failed', '2026-11-20T23:00:00.000Z', false);
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('sweeping abandoned runs', () => {
  const now = new Date('2026-11-21T00:00:00.000Z');

  it('removes every object of uncommitted runs older than the age, and nothing else', async () => {
    const swept = await sweepAbandonedRuns(destination, '', 48, { now });
    expect(swept.map((r) => [r.runId, r.objects])).toEqual([['old-failed', 3]]);
    const left = await destination.list('');
    expect(left.some((k) => k.includes('old-failed'))).toBe(false);
    expect(left.filter((k) => k.includes('old-committed'))).toHaveLength(5);
    expect(left.filter((k) => k.includes('recent-failed'))).toHaveLength(3);
  });

  it('a dry run reports the same and removes nothing', async () => {
    const before = await destination.list('');
    const swept = await sweepAbandonedRuns(destination, '', 48, { now, dryRun: true });
    expect(swept.map((r) => r.runId)).toEqual(['old-failed']);
    expect(await destination.list('')).toEqual(before);
  });

  it('never removes the run that is committing', async () => {
    const swept = await sweepAbandonedRuns(destination, 'public/t/', 1, { now, keepRunId: 'recent-failed' });
    expect(swept.map((r) => r.runId)).toEqual(['old-failed']);
  });

  it('reads ages in hours or days', () => {
    expect(parseAge('36h')).toBe(36);
    expect(parseAge('2d')).toBe(48);
    expect(parseAge('12')).toBe(12);
    expect(() => parseAge('soon')).toThrow('--older-than must be hours or days');
  });
});
