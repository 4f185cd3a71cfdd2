/**
 * Variable-length values that pass through as bytes: text-like types (their binary send format is the UTF-8
 * text, the client encoding being UTF8), json, jsonb (a version byte, then the text), bytea, and every type
 * exported in text form (`::text` in the select list). UUIDs are 16 raw bytes. Nothing is ever decoded into
 * a JS string.
 */
import type { ColumnBuilder } from '../column-mapping';
import { ByteArena } from './byte-arena';
import { DecodedColumnBuilder, badFieldLength, type ValueDecoder } from './value-decoder';

/** Copies the field's bytes, optionally after a one-byte format version that must equal `version`. */
export class BytesDecoder implements ValueDecoder {
  readonly width = 0;
  private readonly arena = new ByteArena();

  /** `version`: the expected leading version byte (jsonb: 1), stripped; null when the field is all payload. */
  constructor(
    private readonly column: string,
    private readonly version: number | null = null,
  ) {}

  decode(buf: Buffer, start: number, end: number): Uint8Array {
    if (this.version !== null) {
      if (end <= start || buf[start] !== this.version) {
        throw new Error(
          `column "${this.column}": unsupported jsonb binary format version ${end > start ? buf[start] : '(empty)'}`,
        );
      }
      start++;
    }
    return this.arena.copy(buf, start, end);
  }

  reset(): void {
    this.arena.reset();
  }
}

export class UuidDecoder implements ValueDecoder {
  readonly width = 16;
  private readonly arena = new ByteArena();

  constructor(private readonly column: string) {}

  decode(buf: Buffer, start: number, end: number): Uint8Array {
    if (end - start !== 16) throw badFieldLength(this.column, 'uuid', 16, end - start);
    return this.arena.copy(buf, start, end);
  }

  reset(): void {
    this.arena.reset();
  }
}

export function newBytesBuilder(column: string, version: number | null = null): ColumnBuilder {
  return new DecodedColumnBuilder(new BytesDecoder(column, version));
}

export function newUuidBuilder(column: string): ColumnBuilder {
  return new DecodedColumnBuilder(new UuidDecoder(column));
}
