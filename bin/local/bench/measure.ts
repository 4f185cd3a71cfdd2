/**
 * Runs one contender of the benchmark as a child process, the way a user would, and measures its wall time
 * and peak resident memory (the kernel's VmHWM of the process, read until it exits).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface ChildMeasurement {
  seconds: number;
  /** Peak RSS of the child in bytes, or null where /proc is not available. */
  peakRssBytes: number | null;
  stdout: string;
  stderr: string;
}

async function highWaterMark(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export async function measureChild(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<ChildMeasurement> {
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let peak: number | null = null;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const hwm = await highWaterMark(child.pid!);
      if (hwm !== null) peak = Math.max(peak ?? 0, hwm);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  polling = false;
  await poll;
  if (code !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { seconds, peakRssBytes: peak, stdout, stderr };
}
