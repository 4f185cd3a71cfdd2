/**
 * Progress on stderr while a run works: a line when each shard starts and finishes, and every few seconds a
 * line per table with rows, bytes and rate, so a long export never looks hung. stdout stays for the summary.
 */
import type { ShardProgress } from '../../lambdas/engine/environment';

export interface ProgressReporter {
  onProgress(progress: ShardProgress): void;
  stop(): void;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export const formatCount = (n: number) => n.toLocaleString('en-US');

export function progressReporter(write: (line: string) => void, everyMs = 5000): ProgressReporter {
  const shards = new Map<string, ShardProgress>();
  const started = Date.now();
  const timer = setInterval(() => {
    const tables = new Map<string, { rows: number; bytes: number; done: number; of: number; running: number }>();
    for (const p of shards.values()) {
      const t = tables.get(p.table) ?? { rows: 0, bytes: 0, done: 0, of: p.shardCount, running: 0 };
      t.rows += p.rows;
      t.bytes += p.bytes;
      if (p.state === 'done' || p.state === 'skipped') t.done++;
      else t.running++;
      tables.set(p.table, t);
    }
    const seconds = (Date.now() - started) / 1000;
    for (const [table, t] of tables) {
      if (t.done === t.of) continue;
      write(
        `  ${table}: ${t.done}/${t.of} shards done, ${t.running} running, ${formatCount(t.rows)} rows, ${formatBytes(t.bytes)}, ${formatCount(Math.round(t.rows / seconds))} rows/s`,
      );
    }
  }, everyMs);
  timer.unref();
  return {
    onProgress(p) {
      shards.set(`${p.table}#${p.shard}`, p);
      const name = `  ${p.table} shard ${p.shard + 1}/${p.shardCount}`;
      if (p.state === 'done') write(`${name}: done, ${formatCount(p.rows)} rows, ${formatBytes(p.bytes)}`);
      if (p.state === 'skipped') write(`${name}: already finished in an earlier attempt (${formatCount(p.rows)} rows), reused`);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
