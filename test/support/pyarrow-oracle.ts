/**
 * pyarrow (Arrow C++) as an independent oracle for Parquet files pgsip writes: pyarrow_oracle.py reads the
 * file with `pyarrow.parquet.read_table` and computes each column's counts and min/max with
 * `pyarrow.compute`, and reports what Arrow reads from the footer. pyarrow is installed on our machines and
 * in CI (`pip install pyarrow`); without it the tests fail with one line saying so.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./pyarrow_oracle.py', import.meta.url));

export interface OracleColumn {
  arrow_type: string;
  rows: number;
  null_count: number;
  kind: 'int' | 'decimal' | 'float' | 'bool' | 'bytes' | 'list';
  /** Floats only. */
  nan_count?: number;
  has_negative_zero?: boolean;
  has_positive_zero?: boolean;
  /** Over non-NULL, non-NaN values; null when there is none (see decodeOracleValue). */
  min?: string | boolean | null;
  max?: string | boolean | null;
}

export interface OracleChunk {
  path: string;
  physical_type: string;
  num_values: number;
  total_compressed_size: number;
  data_page_offset: number;
  dictionary_page_offset: number | null;
  null_count: number | null;
  has_min_max: boolean;
  min_raw: string | boolean | null;
  max_raw: string | boolean | null;
}

export interface OracleFile {
  pyarrow: string;
  num_rows: number;
  columns: Record<string, OracleColumn>;
  row_groups: { num_rows: number; columns: OracleChunk[] }[];
}

export function pyarrowOracle(file: string): OracleFile {
  try {
    return JSON.parse(execFileSync('python3', [SCRIPT, file], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] })) as OracleFile;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('python3 is not installed: the pyarrow oracle (test/support/pyarrow_oracle.py) needs it');
    const lines = (e.stderr ?? '').trim().split('\n');
    throw new Error(lines[lines.length - 1] || String(error));
  }
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * A value as the oracle wrote it: bigint for 'int' and 'decimal' (days, µs, unscaled), number for 'float'
 * (-0 and NaN kept), Uint8Array for 'bytes', boolean for 'bool'.
 */
export function decodeOracleValue(kind: OracleColumn['kind'], v: string | boolean | null | undefined): bigint | number | boolean | Uint8Array | null {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'int':
    case 'decimal':
      return BigInt(v as string);
    case 'float':
      return new DataView(hexBytes(v as string).buffer).getFloat64(0, false);
    case 'bytes':
      return hexBytes(v as string);
    case 'bool':
      return v as boolean;
    default:
      throw new Error(`no values for a ${kind} column`);
  }
}
