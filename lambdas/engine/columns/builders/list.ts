/**
 * One-dimensional arrays → Parquet LIST. Binary array format: int32 ndim, int32 has-null flag, int32 element
 * type OID, per dimension int32 length and int32 lower bound, then per element int32 length (-1 for NULL) and
 * the element's binary bytes. Each row becomes a JS array of decoded elements (null kept), an empty array
 * stays empty, a NULL array stays NULL.
 *
 * Loud, never silently different: a value with more than one dimension, or whose lower bound is not 1 (the
 * bound would be lost), raises UnsupportedColumnError naming the column.
 */
import { CopyStreamError, ValueRefusedError } from '../../errors';
import type { ColumnBuilder, ColumnValues } from '../column-mapping';
import type { ValueDecoder } from './value-decoder';


export class ListBuilder implements ColumnBuilder {
  private values: (unknown[] | null)[] = [];
  private held = 0;

  constructor(
    private readonly column: string,
    private readonly element: ValueDecoder,
  ) {}

  private corrupt(): Error {
    return new CopyStreamError(`column "${this.column}": malformed binary array value (the select list does not match the column mapping)`);
  }

  append(buf: Buffer, start: number, end: number): void {
    if (end - start < 12) throw this.corrupt();
    const ndim = buf.readInt32BE(start);
    if (ndim === 0) {
      this.values.push([]);
      this.held += 1;
      return;
    }
    if (ndim !== 1) {
      if (ndim > 1 && ndim <= 6) {
        throw new ValueRefusedError(
          this.column,
          `a ${ndim}-dimensional array value cannot be exported as a Parquet LIST; only one-dimensional arrays are supported`,
        );
      }
      throw this.corrupt();
    }
    if (end - start < 20) throw this.corrupt();
    const count = buf.readInt32BE(start + 12);
    const lower = buf.readInt32BE(start + 16);
    if (lower !== 1) {
      throw new ValueRefusedError(
        this.column,
        `an array value with lower bound ${lower} cannot be exported as a Parquet LIST without losing its bounds; only arrays starting at index 1 are supported`,
      );
    }
    const element = this.element;
    const width = element.width;
    const out: unknown[] = new Array(count);
    let p = start + 20;
    let held = count >>> 2;
    for (let i = 0; i < count; i++) {
      if (p + 4 > end) throw this.corrupt();
      const len = buf.readInt32BE(p);
      p += 4;
      if (len < 0) {
        out[i] = null;
      } else {
        if (p + len > end) throw this.corrupt();
        out[i] = element.decode(buf, p, p + len);
        p += len;
        held += width === 0 ? len + 4 : width;
      }
    }
    if (p !== end) throw this.corrupt();
    this.values.push(out);
    this.held += held + 1;
  }

  appendNull(): void {
    this.values.push(null);
    this.held += 1;
  }

  get bytes(): number {
    return this.held;
  }

  take(): ColumnValues {
    const out = this.values;
    this.values = [];
    this.held = 0;
    this.element.reset();
    return out;
  }
}
