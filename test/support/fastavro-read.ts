/**
 * fastavro (Python; its own Avro implementation, not avsc) as an independent reader of the Avro files pgsip
 * writes: fastavro_read.py reads each file and reports its header metadata, the writer's schema as fastavro
 * parsed it, and its records. fastavro is installed on our machines and in CI (`pip install fastavro`); without
 * it the tests fail with one line saying so.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./fastavro_read.py', import.meta.url));

/** A JSON value as fastavro_read.py writes it (tagged objects for longs, bytes, dates, timestamps, decimals). */
export type FastavroValue =
  | null
  | boolean
  | number
  | string
  | FastavroValue[]
  | { $long: string }
  | { $bytes: string }
  | { $date: number }
  | { $timestamp_us: number }
  | { $decimal: string }
  | { [key: string]: FastavroValue };

export interface FastavroFile {
  codec: string;
  metadata: Record<string, string>;
  /** The writer's schema as fastavro parsed it from the header (attributes such as field-id kept). */
  schema: unknown;
  records: FastavroValue[];
}

/** Reads each file (its bytes, by name) with fastavro, in one Python process. */
export function readWithFastavro(files: Record<string, Uint8Array>): Record<string, FastavroFile> {
  const dir = mkdtempSync(join(tmpdir(), 'pgsip-fastavro-'));
  try {
    const names = Object.keys(files);
    const paths = names.map((name, i) => {
      const path = join(dir, `${i}.avro`);
      writeFileSync(path, files[name]);
      return path;
    });
    let out: string;
    try {
      out = execFileSync('python3', [SCRIPT, ...paths], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new Error('python3 is not installed: the fastavro reader (test/support/fastavro_read.py) needs it');
      const lines = (e.stderr ?? '').trim().split('\n');
      throw new Error(lines[lines.length - 1] || String(error));
    }
    const parsed = JSON.parse(out) as FastavroFile[];
    return Object.fromEntries(names.map((name, i) => [name, parsed[i]]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
