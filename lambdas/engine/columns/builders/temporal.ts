/**
 * date, time, timestamp, timestamptz. Postgres sends dates as int32 days and timestamps as int64 microseconds,
 * both since 2000-01-01; Parquet counts from 1970-01-01. time is int64 microseconds since midnight in both.
 *
 * ±infinity follow DuckDB's convention, which DuckDB reads back as ±infinity (verified by the tests):
 * timestamp infinity = INT64 max, -infinity = -INT64 max; date infinity = INT32 max, -infinity = -INT32 max.
 * A finite timestamp that does not fit (after 294246 AD, where Postgres still has values) is an error.
 */
import { ValueRefusedError } from '../../errors';
import { FixedWidthBuilder, Int64WordsBuilder } from './fixed-width';
import { badFieldLength, type ValueDecoder } from './value-decoder';

/** Days from 1970-01-01 to 2000-01-01. */
export const PG_EPOCH_DAYS = 10957;
/** Microseconds from 1970-01-01 to 2000-01-01. */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

export const DATE_INFINITY = 2147483647;
export const DATE_NEG_INFINITY = -2147483647;
export const TIMESTAMP_INFINITY = 9223372036854775807n;
export const TIMESTAMP_NEG_INFINITY = -9223372036854775807n;

const PG_DATE_INFINITY = 0x7fffffff;
const PG_DATE_NEG_INFINITY = -0x80000000;
const PG_TIMESTAMP_INFINITY = 9223372036854775807n;
const PG_TIMESTAMP_NEG_INFINITY = -9223372036854775808n;

const TWO_32 = 4294967296;
const EPOCH_HI = Math.floor(Number(PG_EPOCH_MICROS) / TWO_32);
const EPOCH_LO = Number(PG_EPOCH_MICROS) - EPOCH_HI * TWO_32;

function shiftDate(raw: number): number {
  if (raw === PG_DATE_INFINITY) return DATE_INFINITY;
  if (raw === PG_DATE_NEG_INFINITY) return DATE_NEG_INFINITY;
  // Postgres dates end in 5874897 AD: shifted they stay below INT32 max.
  return raw + PG_EPOCH_DAYS;
}

function tooLate(column: string): ValueRefusedError {
  return new ValueRefusedError(
    column,
    'a timestamp after 294246 AD does not fit Parquet TIMESTAMP(MICROS) (int64 microseconds since 1970)',
  );
}

export class DateBuilder extends FixedWidthBuilder<Int32Array> {
  constructor(column: string) {
    super(column, 4, 'INT32');
  }
  protected allocate(capacity: number): Int32Array {
    return new Int32Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw badFieldLength(this.column, 'date', 4, end - start);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = shiftDate(buf.readInt32BE(start));
  }
}

/** time: microseconds since midnight, copied as they are. */
export class TimeBuilder extends Int64WordsBuilder {
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw badFieldLength(this.column, 'time', 8, end - start);
    const i = this.next() << 1;
    this.words[i] = buf.readInt32BE(start + 4);
    this.words[i + 1] = buf.readInt32BE(start);
  }
}

/** timestamp and timestamptz (both are UTC microseconds on the wire). */
export class TimestampBuilder extends Int64WordsBuilder {
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw badFieldLength(this.column, 'timestamp', 8, end - start);
    const hi = buf.readInt32BE(start);
    const lo = buf.readUInt32BE(start + 4);
    const i = this.next() << 1;
    const words = this.words;
    if (hi === 0x7fffffff && lo === 0xffffffff) {
      words[i] = -1;
      words[i + 1] = 0x7fffffff;
    } else if (hi === -0x80000000 && lo === 0) {
      words[i] = 1;
      words[i + 1] = -0x80000000;
    } else {
      let l = lo + EPOCH_LO;
      let h = hi + EPOCH_HI;
      if (l >= TWO_32) {
        l -= TWO_32;
        h++;
      }
      // Overflow, or a finite value landing exactly on the infinity marker.
      if (h > 0x7fffffff || (h === 0x7fffffff && l === 0xffffffff)) {
        this.unnext();
        throw tooLate(this.column);
      }
      words[i] = l | 0;
      words[i + 1] = h;
    }
  }
}

/** Single values, for LIST elements. */
export class TemporalDecoder implements ValueDecoder {
  readonly width: number;

  constructor(
    private readonly column: string,
    private readonly kind: 'date' | 'time' | 'timestamp',
  ) {
    this.width = kind === 'date' ? 4 : 8;
  }

  decode(buf: Buffer, start: number, end: number): unknown {
    const len = end - start;
    if (len !== this.width) throw badFieldLength(this.column, this.kind, this.width, len);
    if (this.kind === 'date') return shiftDate(buf.readInt32BE(start));
    const raw = buf.readBigInt64BE(start);
    if (this.kind === 'time') return raw;
    if (raw === PG_TIMESTAMP_INFINITY) return TIMESTAMP_INFINITY;
    if (raw === PG_TIMESTAMP_NEG_INFINITY) return TIMESTAMP_NEG_INFINITY;
    const shifted = raw + PG_EPOCH_MICROS;
    if (shifted >= TIMESTAMP_INFINITY) throw tooLate(this.column);
    return shifted;
  }

  reset(): void {}
}
