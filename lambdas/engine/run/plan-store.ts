/** Reads `_plan.json` once per run folder and container: every shard of a run reads the same file. */
import type { TablePlan } from '../contracts';
import type { Destination } from '../destinations/destination';
import { RunDocumentError } from '../errors';
import { readDocument } from './documents';
import { planKey } from './layout';

const cache = new Map<string, TablePlan>();

export async function loadPlan(destination: Destination, runDir: string): Promise<TablePlan> {
  const cacheKey = `${destination.root}|${runDir}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const plan = await readDocument(destination, 'plan', planKey(runDir));
  if (!plan) throw new RunDocumentError(`no plan at ${destination.location(planKey(runDir))}: was this run planned?`);
  cache.set(cacheKey, plan);
  if (cache.size > 256) cache.delete(cache.keys().next().value!);
  return plan;
}
