/**
 * Variable-length values that pass through as bytes: text-like types (their binary send format is the UTF-8
 * text, the client encoding being UTF8), json, jsonb (a version byte, then the text), bytea, and every type
 * exported in text form (`::text` in the select list). UUIDs are 16 raw bytes. Nothing is ever decoded into
 * a JS string.
 *
 * Column builders copy each field once, into one growing buffer already laid out as Parquet PLAIN (length
 * prefix, bytes): no object per value. LIST elements use the decoders, which hand out views into an arena.
 */
import { ValueRefusedError } from '../../errors';
import type { ColumnBuilder, ColumnValues, StagedValue } from '../column-mapping';
import type { FlatColumn } from '../flat-column';
import { ByteArena } from './byte-arena';
import { NullMask } from './null-mask';
import { badFieldLength, type ValueDecoder } from './value-decoder';

const MIN_CAPACITY = 64 * 1024;
/**
 * A buffer grown past this (a huge value, or an unusually large row group) is let go after `take()` instead of
 * being filled again, so one 100 MB value does not keep 100 MB per column for the rest of the shard.
 */
const KEEP_AT_MOST = 64 * 1024 * 1024;
/** Room a staged large value's buffer leaves after it, for the rest of the network chunk it ends in. */
const STAGED_ROOM = 128 * 1024;
/** Below this length a plain loop copies faster than a native call. */
const LOOP_COPY = 48;

/** PLAIN bytes plus NULL mask, shared by the variable and fixed-length byte builders. */
export abstract class PlainBytesBuilder implements ColumnBuilder {
  protected plain: Uint8Array = new Uint8Array(MIN_CAPACITY);
  protected pos = 0;
  protected count = 0;
  protected rows = 0;
  private readonly nulls = new NullMask();

  constructor(protected readonly column: string) {}

  abstract append(buf: Buffer, start: number, end: number): void;

  /** Room for `size` more bytes. */
  protected reserve(size: number): Uint8Array {
    const needed = this.pos + size;
    if (needed <= this.plain.length) return this.plain;
    const grown = new Uint8Array(Math.max(needed, this.plain.length * 2));
    grown.set(this.plain.subarray(0, this.pos));
    this.plain = grown;
    return grown;
  }

  protected copy(target: Uint8Array, at: number, buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (len <= LOOP_COPY) {
      for (let i = 0; i < len; i++) target[at + i] = buf[start + i];
    } else {
      buf.copy(target, at, start, end);
    }
  }

  appendNull(): void {
    this.nulls.set(this.rows++);
  }

  get bytes(): number {
    return this.pos + (this.rows >>> 3);
  }

  protected abstract shape(): Pick<FlatColumn, 'physical' | 'width'>;

  take(): ColumnValues {
    const { rows, pos } = this;
    const nullMask = this.nulls.take(rows);
    const out: FlatColumn = { kind: 'flat', ...this.shape(), rows, count: this.count, nullMask, plain: this.plain.subarray(0, pos) };
    // The same buffer is filled again: the caller is done with this row group before appending the next
    // (ColumnBuilder.take). A fresh allocation per row group made allocator churn a large part of peak RSS.
    if (this.plain.length > KEEP_AT_MOST) this.plain = new Uint8Array(MIN_CAPACITY);
    this.pos = 0;
    this.count = 0;
    this.rows = 0;
    return out;
  }
}

/** BYTE_ARRAY values, optionally after a one-byte format version that must equal `version` (jsonb: 1). */
export class BytesBuilder extends PlainBytesBuilder {
  constructor(
    column: string,
    private readonly version: number | null = null,
  ) {
    super(column);
  }

  append(buf: Buffer, start: number, end: number): void {
    if (this.version !== null) {
      if (end <= start || buf[start] !== this.version) {
        throw new ValueRefusedError(this.column, `unsupported jsonb binary format version ${end > start ? buf[start] : '(empty)'}`);
      }
      start++;
    }
    const len = end - start;
    const plain = this.reserve(len + 4);
    const at = this.pos;
    plain[at] = len & 0xff;
    plain[at + 1] = (len >>> 8) & 0xff;
    plain[at + 2] = (len >>> 16) & 0xff;
    plain[at + 3] = len >>> 24;
    this.copy(plain, at + 4, buf, start, end);
    this.pos = at + 4 + len;
    this.count++;
    this.rows++;
  }

  /**
   * A large value (ColumnBuilder.stage): a buffer laid out as this builder's PLAIN bytes, the 4-byte length
   * first, with room for the rows that follow it in the same network chunk. Committed into an empty builder,
   * the buffer becomes its PLAIN buffer (no copy); otherwise it is appended as any field.
   */
  stage(length: number): StagedValue {
    const buffer = new Uint8Array(4 + length + STAGED_ROOM);
    const target = buffer.subarray(4, 4 + length);
    return {
      target,
      commit: () => {
        if (this.pos !== 0) {
          this.append(Buffer.from(target.buffer, target.byteOffset, target.length), 0, target.length);
          return;
        }
        // jsonb: its version byte is checked and dropped, the length written one byte on.
        const skip = this.version === null ? 0 : 1;
        if (skip === 1 && target[0] !== this.version) {
          throw new ValueRefusedError(this.column, `unsupported jsonb binary format version ${length > 0 ? target[0] : '(empty)'}`);
        }
        const len = length - skip;
        buffer[skip] = len & 0xff;
        buffer[skip + 1] = (len >>> 8) & 0xff;
        buffer[skip + 2] = (len >>> 16) & 0xff;
        buffer[skip + 3] = len >>> 24;
        this.plain = buffer.subarray(skip);
        this.pos = 4 + len;
        this.count++;
        this.rows++;
      },
    };
  }

  protected shape(): Pick<FlatColumn, 'physical' | 'width'> {
    return { physical: 'BYTE_ARRAY', width: 0 };
  }
}

/** uuid: FIXED_LEN_BYTE_ARRAY(16), the 16 bytes as Postgres sends them. */
export class UuidBuilder extends PlainBytesBuilder {
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 16) throw badFieldLength(this.column, 'uuid', 16, end - start);
    const plain = this.reserve(16);
    this.copy(plain, this.pos, buf, start, end);
    this.pos += 16;
    this.count++;
    this.rows++;
  }

  protected shape(): Pick<FlatColumn, 'physical' | 'width'> {
    return { physical: 'FIXED_LEN_BYTE_ARRAY', width: 16 };
  }
}

/** For LIST elements: copies the field's bytes, optionally after a one-byte format version that must equal `version`. */
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
        throw new ValueRefusedError(this.column, `unsupported jsonb binary format version ${end > start ? buf[start] : '(empty)'}`);
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
  return new BytesBuilder(column, version);
}

export function newUuidBuilder(column: string): ColumnBuilder {
  return new UuidBuilder(column);
}
