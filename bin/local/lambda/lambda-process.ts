/**
 * One Lambda invocation of a deployed bundle (cdk.out asset), each in a fresh process of the Lambda runtime's
 * Node, with the function's environment: what the bundled-pipeline test and the benchmark's Lambda-shaped row
 * run. Cold every time, like the first invocation of a container.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureChild } from '../bench/measure';
import { lambdaNode } from './lambda-node';

const INVOKER = fileURLToPath(new URL('./invoke-handler.mjs', import.meta.url));

export interface BundleInvocation {
  /** The asset folder holding `index.mjs`. */
  assetDir: string;
  /** The function's `Handler`, e.g. `index.handler`. */
  handler: string;
  /** The whole environment of the process (the function's variables, plus whatever stands in for AWS). */
  env: NodeJS.ProcessEnv;
  event: unknown;
  /** Run pinned to these CPUs (`taskset -c`), as a Lambda of one vCPU is. */
  cpus?: string;
}

export interface BundleOutcome {
  ok: boolean;
  result?: unknown;
  errorType?: string;
  errorMessage?: string;
  /** What the function wrote: Powertools' JSON log lines, and anything else (which a test may refuse). */
  stdout: string;
  stderr: string;
  seconds: number;
  peakRssBytes: number | null;
}

export async function invokeBundle(invocation: BundleInvocation): Promise<BundleOutcome> {
  const work = await mkdtemp(join(tmpdir(), 'pgsip-invoke-'));
  try {
    const [file, exportName] = invocation.handler.split('.');
    const eventFile = join(work, 'event.json');
    const outcomeFile = join(work, 'outcome.json');
    await writeFile(eventFile, JSON.stringify(invocation.event));
    const node = lambdaNode();
    const args = [INVOKER, join(invocation.assetDir, `${file}.mjs`), exportName, eventFile, outcomeFile];
    const [command, argv] = invocation.cpus ? ['taskset', ['-c', invocation.cpus, node, ...args]] : [node, args];
    const measured = await measureChild(command, argv, { env: invocation.env });
    const outcome = JSON.parse(await readFile(outcomeFile, 'utf8')) as Pick<BundleOutcome, 'ok' | 'result' | 'errorType' | 'errorMessage'>;
    return { ...outcome, stdout: measured.stdout, stderr: measured.stderr, seconds: measured.seconds, peakRssBytes: measured.peakRssBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
