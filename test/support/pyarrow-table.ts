/**
 * pyarrow (Arrow C++, the Parquet reader under pandas; installed on our machines and in CI with `pip install
 * pyarrow`) reading Parquet files pgsip wrote: each file's columns with the field ids Arrow reads from them,
 * and their values as Arrow prints them (test/support/pyarrow_table.py).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./pyarrow_table.py', import.meta.url));

export interface PyarrowColumn {
  name: string;
  fieldId: number | null;
  type: string;
  values: (string | null)[];
}

export interface PyarrowFile {
  path: string;
  rows: number;
  columns: PyarrowColumn[];
}

export function readWithPyarrow(paths: string[]): PyarrowFile[] {
  try {
    return JSON.parse(execFileSync('python3', [SCRIPT, ...paths], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] })) as PyarrowFile[];
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('python3 is not installed: test/support/pyarrow_table.py needs it');
    const lines = (e.stderr ?? '').trim().split('\n');
    throw new Error(lines[lines.length - 1] || String(error));
  }
}
