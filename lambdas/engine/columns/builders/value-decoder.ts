/**
 * Decoding of single Postgres binary-send fields into the JS values hyparquet-writer accepts, and the plain
 * column builder that collects such values in a JS array (for types that have no typed-array form, and for
 * the elements of LIST columns).
 */
import { CopyStreamError } from '../../errors';
import type { ColumnBuilder, ColumnValues, ValueDecoder } from '../column-mapping';

export type { ValueDecoder } from '../column-mapping';

/** Collects decoded values (or null) in a JS array. */
export class DecodedColumnBuilder implements ColumnBuilder {
  private values: unknown[] = [];
  private held = 0;

  constructor(private readonly decoder: ValueDecoder) {}

  append(buf: Buffer, start: number, end: number): void {
    this.values.push(this.decoder.decode(buf, start, end));
    const width = this.decoder.width;
    this.held += width === 0 ? end - start + 4 : width;
  }

  appendNull(): void {
    this.values.push(null);
  }

  get bytes(): number {
    return this.held + (this.values.length >>> 3);
  }

  take(): ColumnValues {
    const out = this.values;
    this.values = [];
    this.held = 0;
    this.decoder.reset();
    return out;
  }
}

/** The error for a field whose length does not fit its type: the COPY query and the mapping disagree. */
export function badFieldLength(column: string, type: string, expected: number, actual: number): Error {
  return new CopyStreamError(
    `column "${column}": a ${type} field must be ${expected} bytes in binary COPY, got ${actual} (the select list does not match the column mapping)`,
  );
}
