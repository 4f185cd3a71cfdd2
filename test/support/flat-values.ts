/**
 * Reads builder output back as one JS value per row (null for NULL), whatever its form: a FlatColumn's PLAIN
 * bytes are decoded independently of the writer (INT64 as bigint, INT32/FLOAT/DOUBLE as number, byte arrays
 * as Uint8Array copies), a JS array is returned as it is.
 */
import type { ColumnValues } from '../../lambdas/engine/columns/column-mapping';
import { isFlatColumn } from '../../lambdas/engine/columns/flat-column';

export function rowValues(values: ColumnValues): unknown[] {
  if (!isFlatColumn(values)) return values;
  const { plain, rows, nullMask, physical, width } = values;
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const out: unknown[] = [];
  let pos = 0;
  for (let row = 0; row < rows; row++) {
    if (nullMask && nullMask[row] === 1) {
      out.push(null);
      continue;
    }
    switch (physical) {
      case 'INT32':
        out.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 'INT64':
        out.push(view.getBigInt64(pos, true));
        pos += 8;
        break;
      case 'FLOAT':
        out.push(view.getFloat32(pos, true));
        pos += 4;
        break;
      case 'DOUBLE':
        out.push(view.getFloat64(pos, true));
        pos += 8;
        break;
      case 'FIXED_LEN_BYTE_ARRAY':
        out.push(plain.slice(pos, pos + width));
        pos += width;
        break;
      case 'BYTE_ARRAY': {
        const len = view.getInt32(pos, true);
        out.push(plain.slice(pos + 4, pos + 4 + len));
        pos += 4 + len;
        break;
      }
    }
  }
  if (pos !== plain.length) throw new Error(`FlatColumn has ${plain.length - pos} bytes after its ${rows} rows`);
  return out;
}
