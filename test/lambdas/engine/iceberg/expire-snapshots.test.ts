/**
 * Which snapshots retention expires (lambdas/engine/iceberg/expire-snapshots.ts), and the metadata without
 * them. The files deleted after are proven end to end in test/bin/iceberg-tables.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { snapshotsToExpire, withoutSnapshots } from '../../../../lambdas/engine/iceberg/expire-snapshots';
import type { Snapshot, TableMetadata } from '../../../../lambdas/engine/iceberg/model';
import { newTableMetadata, withSnapshot } from '../../../../lambdas/engine/iceberg/table-metadata';

const MINUTE = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A table with a snapshot committed at each of `minutes` (after T0), in order; those at `compactions` are no run's. */
function tableWith(minutes: number[], compactions: number[] = []): TableMetadata {
  let metadata = newTableMetadata({ location: 's3://lake/public/t', schema: { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'id', required: false, type: 'long' }] }, lastColumnId: 1, now: T0 });
  minutes.forEach((m, i) => {
    const snapshot: Snapshot = {
      'snapshot-id': 100 + i,
      ...(i > 0 ? { 'parent-snapshot-id': 99 + i } : {}),
      'sequence-number': i + 1,
      'timestamp-ms': T0 + m * MINUTE,
      'manifest-list': `s3://lake/public/t/metadata/snap-${100 + i}.avro`,
      summary: compactions.includes(i) ? { operation: 'replace', 'pgsip.compaction': `compact-${i}` } : { operation: 'append', 'pgsip.run-id': `r${i}` },
      'schema-id': 0,
    };
    metadata = withSnapshot(metadata, snapshot);
  });
  return metadata;
}

const ids = (snapshots: Snapshot[]) => snapshots.map((s) => s['snapshot-id']);

describe('snapshot expiry', () => {
  it('expires snapshots beyond the newest keepRuns once the keepRuns-th snapshot after each is past the grace period', () => {
    // Snapshots at minutes 0, 10, 20, 30; keep 2, grace 15 minutes, now minute 40.
    const metadata = tableWith([0, 10, 20, 30]);
    const now = new Date(T0 + 40 * MINUTE);
    // 101 left the newest two at minute 30 (10 minutes ago): kept; 100 at minute 20 (20 minutes ago): expired.
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 2, graceMinutes: 15, now }))).toEqual([100]);
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 2, graceMinutes: 0, now }))).toEqual([101, 100]);
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 4, graceMinutes: 0, now }))).toEqual([]);
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 1, graceMinutes: 0, now }))).toEqual([102, 101, 100]);
  });

  it('counts runs only: a compaction\'s snapshot is no run, and stays while fewer than keepRuns runs came after it', () => {
    // Runs at 0, 10, 30; a compaction at 20 (after the run at 10) and one at 40, current.
    const metadata = tableWith([0, 10, 20, 30, 40], [2, 4]);
    const now = new Date(T0 + 60 * MINUTE);
    // keepRuns 1: the run at 30 and what came after it stay; the compaction at 20 and the runs before go.
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 1, graceMinutes: 0, now }))).toEqual([102, 101, 100]);
    // keepRuns 2: the runs at 10 and 30 stay, so does the compaction between them.
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 2, graceMinutes: 0, now }))).toEqual([100]);
  });

  it('never expires the current snapshot, even when it is not among the newest (a table rolled back)', () => {
    const metadata = { ...tableWith([0, 10, 20]), 'current-snapshot-id': 100 };
    expect(ids(snapshotsToExpire(metadata, { keepRuns: 1, graceMinutes: 0, now: new Date(T0 + 60 * MINUTE) }))).toEqual([101]);
  });

  it('removes the expired snapshots and their snapshot-log entries, and logs the version it succeeds', () => {
    const metadata = tableWith([0, 10, 20]);
    const next = withoutSnapshots({ metadata, location: 's3://lake/public/t/metadata/v4.metadata.json' }, snapshotsToExpire(metadata, { keepRuns: 1, graceMinutes: 0, now: new Date(T0 + 60 * MINUTE) }), T0 + 61 * MINUTE);
    expect(ids(next.snapshots)).toEqual([102]);
    expect(next['snapshot-log'].map((e) => e['snapshot-id'])).toEqual([102]);
    expect(next['current-snapshot-id']).toBe(102);
    expect(next.refs).toEqual(metadata.refs);
    expect(next['last-updated-ms']).toBe(T0 + 61 * MINUTE);
    expect(next['metadata-log'].at(-1)).toEqual({ 'timestamp-ms': metadata['last-updated-ms'], 'metadata-file': 's3://lake/public/t/metadata/v4.metadata.json' });
  });
});
