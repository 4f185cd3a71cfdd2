/** `pgsip sweep`: removes runs that never committed and are older than a given age. */
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { InputError } from '../../lambdas/engine/errors';
import { sweepAbandonedRuns } from '../../lambdas/engine/run/sweep';

export interface SweepOptions {
  dest: string;
  olderThan: string;
  dryRun?: boolean;
  s3Endpoint?: string;
}

/** `36h`, `2d`, or hours as a bare number. */
export function parseAge(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([hd]?)$/.exec(value.trim());
  if (!match) throw new InputError(`--older-than must be hours or days, like 48h or 2d (got ${JSON.stringify(value)})`);
  return Number(match[1]) * (match[2] === 'd' ? 24 : 1);
}

export async function sweep(options: SweepOptions, out: (line: string) => void): Promise<void> {
  const hours = parseAge(options.olderThan);
  const destination = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  const swept = await sweepAbandonedRuns(destination, '', hours, {
    dryRun: options.dryRun,
    onSkip: (runDir, reason) => out(`left ${destination.location(runDir)} alone: ${reason}`),
  });
  const verb = options.dryRun ? 'would remove' : 'removed';
  for (const run of swept) out(`${verb} ${destination.location(run.runDir)} (planned ${run.plannedAt}, never committed, ${run.objects} object(s))`);
  out(`${swept.length} abandoned run(s) older than ${hours} h ${options.dryRun ? 'found' : 'removed'} under ${destination.root}`);
}
