/**
 * Committing runs to an Iceberg table when commits meet: the catalog's compare-and-swap lets one win, and the
 * other reads the table again and decides again (a run planned earlier keeps the newer snapshot; a run planned
 * later is re-applied on the new base), a run committed once is never committed twice, and a table that keeps
 * moving on ends in one loud line. The interleavings are forced through the catalog, not left to timing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { silentLog } from '../../../../lambdas/engine/environment';
import { commitToIcebergTable, tableRefOf } from '../../../../lambdas/engine/iceberg/commit-table';
import { FileSystemCatalog } from '../../../../lambdas/engine/iceberg/file-system-catalog';
import { type IcebergCatalog, objectUri } from '../../../../lambdas/engine/iceberg/iceberg-catalog';
import { decodeManifest, decodeManifestList } from '../../../../lambdas/engine/iceberg/manifest-avro';
import type { IcebergSchema } from '../../../../lambdas/engine/iceberg/model';
import { history, succeeding } from '../../../../lambdas/engine/iceberg/table-metadata';
import { serializeValue } from '../../../../lambdas/engine/iceberg/single-value';
import { icebergRun } from '../../../support/iceberg-run';

const SCHEMA: IcebergSchema = { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'id', required: false, type: 'long' }] };

let dir: string;
let destination: LocalFolderDestination;
let catalog: FileSystemCatalog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgsip-iceberg-commit-'));
  destination = new LocalFolderDestination(dir);
  catalog = new FileSystemCatalog(destination, (key) => objectUri(destination, key));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A committed full run of two parts, as Commit hands it over (the parts' files are not read). */
const run = (runId: string, plannedAt: string) => icebergRun({ runId, plannedAt, table: 't', location: objectUri(destination, 'public/t'), schema: SCHEMA, parts: 2 });

/** The catalog, with a hook that runs once just before the first commit it is asked for. */
function racing(before: () => Promise<unknown>): IcebergCatalog {
  let fired = false;
  return {
    name: 'racing',
    load: (table) => catalog.load(table),
    async commit(table, base, metadata) {
      if (!fired) {
        fired = true;
        await before();
      }
      return catalog.commit(table, base, metadata);
    },
  };
}

const env = (c: IcebergCatalog = catalog) => ({ destination, catalog: c, log: silentLog });

/** The runs of the table's history, oldest first, and the files live now. */
async function state() {
  const a = run('x', '2026-01-01T00:00:00.000Z');
  const loaded = await catalog.load(tableRefOf(a.plan));
  const runs = history(loaded!.metadata).map((s) => s.summary['pgsip.run-id']).reverse();
  const head = history(loaded!.metadata)[0];
  const list = decodeManifestList(new Uint8Array((await destination.get(new URL(head['manifest-list']).pathname.slice(dir.length + 1)))!));
  const live: string[] = [];
  for (const m of list) {
    const { entries } = decodeManifest(new Uint8Array((await destination.get(new URL(m.manifest_path).pathname.slice(dir.length + 1)))!));
    for (const e of entries) if (e.status !== 2) live.push(e.data_file.file_path.replace(/^.*\/run=/, 'run='));
  }
  return { runs, live: live.sort(), version: loaded!.version };
}

describe('committing to an Iceberg table when commits meet', () => {
  it('keeps the newer run when a run planned later committed first: the older one is not added', async () => {
    const older = run('older', '2026-01-01T00:00:00.000Z');
    const newer = run('newer', '2026-01-01T00:05:00.000Z');
    const answer = await commitToIcebergTable(older, env(racing(() => commitToIcebergTable(newer, env()))));
    expect(answer).toMatchObject({ outcome: 'kept-newer' });
    expect(await state()).toEqual({ runs: ['newer'], live: ['run=newer/part-0-0-aaaa.parquet', 'run=newer/part-1-0-aaaa.parquet'], version: '1' });
  });

  it('re-applies a run planned later on the new base when an older run committed first: both snapshots, the newer one current', async () => {
    const older = run('older', '2026-01-01T00:00:00.000Z');
    const newer = run('newer', '2026-01-01T00:05:00.000Z');
    const answer = await commitToIcebergTable(newer, env(racing(() => commitToIcebergTable(older, env()))));
    expect(answer).toMatchObject({ outcome: 'committed', operation: 'overwrite' });
    // The newer full run's snapshot lists the older one's files as deleted: they are not live.
    expect(await state()).toEqual({ runs: ['older', 'newer'], live: ['run=newer/part-0-0-aaaa.parquet', 'run=newer/part-1-0-aaaa.parquet'], version: '2' });
  });

  it('commits a run once: a Commit that finds its run in the history changes nothing', async () => {
    const first = run('first', '2026-01-01T00:00:00.000Z');
    await commitToIcebergTable(first, env());
    expect(await commitToIcebergTable(first, env())).toMatchObject({ outcome: 'unchanged' });
    expect((await state()).version).toBe('1');
  });

  it('gives up, in one line naming the table and the run, on a table that keeps moving on', async () => {
    const stuck: IcebergCatalog = { name: 'stuck', load: (t) => catalog.load(t), commit: async () => ({ committed: false, reason: 'test' }) };
    await expect(commitToIcebergTable(run('stuck', '2026-01-01T00:00:00.000Z'), env(stuck))).rejects.toThrow(
      'table "public"."t": the Iceberg table kept moving on under 5 attempts to commit run stuck; commit it again (pgsip run --run-id stuck)',
    );
    // What the failed attempts wrote is removed: no table, no stray metadata.
    expect(await destination.list('public/t/metadata/')).toEqual([]);
  });
});

describe('an incremental run whose table moved on since it was planned', () => {
  const long = (n: number) => Buffer.from(serializeValue('long', BigInt(n))).toString('base64');
  /** A run whose one part holds ids [lo, hi] (its manifest bounds: the commit reads no file of another range). */
  const ranged = (r: ReturnType<typeof run>, lo: number, hi: number) => {
    for (const part of r.manifest.parts) part.metrics = { ...part.metrics!, lowerBounds: { 1: long(lo) }, upperBounds: { 1: long(hi) } };
    return r;
  };
  /** An append-only incremental run of ids [lo, hi], planned now on the table as it stands. */
  const appendRun = async (runId: string, lo: number, hi: number) => {
    await new Promise((ok) => setTimeout(ok, 5));
    const r = ranged(run(runId, new Date().toISOString()), lo, hi);
    r.manifest.mode = 'incremental';
    r.plan.incremental = { mode: 'incremental', cursor: 'id', cursorType: 'bigint', primaryKey: ['id'], lookbackSeconds: 0, from: '0', through: String(hi), snapshotAt: r.plan.plannedAt, before: null, openSince: null, continues: 'first', reason: 'test' };
    r.plan.iceberg!.base = (await catalog.load(tableRefOf(r.plan)))?.metadataLocation ?? null;
    return r;
  };

  it('is refused when a pgsip run committed since: its rows were read from an older watermark', async () => {
    await commitToIcebergTable(ranged(run('first', '2026-01-01T00:00:00.000Z'), 1, 10), env());
    const inc = await appendRun('inc', 11, 20);
    await commitToIcebergTable(ranged(run('other', '2026-01-01T00:05:00.000Z'), 1, 10), env());
    await expect(commitToIcebergTable(inc, env())).rejects.toThrow(
      'table "public"."t": run other was committed to the Iceberg table after run inc was planned, so this run\'s rows were read from an older watermark; run again (a new run reads from the new one)',
    );
  });

  it("goes on when only another writer's commit moved the table (compaction, a property): no row's version changed", async () => {
    await commitToIcebergTable(ranged(run('first', '2026-01-01T00:00:00.000Z'), 1, 10), env());
    const inc = await appendRun('inc', 11, 20);
    const ref = tableRefOf(inc.plan);
    const base = (await catalog.load(ref))!;
    const moved = await catalog.commit(ref, base, succeeding({ ...base.metadata, properties: { ...base.metadata.properties, 'written-by': 'another engine' } }, { location: base.metadataLocation, metadata: base.metadata }));
    expect(moved.committed).toBe(true);
    expect(await commitToIcebergTable(inc, env())).toMatchObject({ outcome: 'committed', operation: 'append' });
    expect((await state()).runs).toEqual(['first', 'inc']);
  });
});
