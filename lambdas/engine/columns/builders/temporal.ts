/**
 * date, time, timestamp, timestamptz. Postgres sends dates as int32 days and timestamps as int64 microseconds,
 * both since 2000-01-01; Parquet counts from 1970-01-01. time is int64 microseconds since midnight in both.
 *
 * ±infinity follow the run's policy (InfinityPolicy in contracts.ts):
 * - `keep`: DuckDB's convention, which DuckDB reads back as ±infinity (verified by the tests): timestamp
 *   infinity = INT64 max, -infinity = -INT64 max; date infinity = INT32 max, -infinity = -INT32 max.
 * - `clamp`: 9999-12-31 23:59:59.999999 and 0001-01-01 00:00:00 (dates 9999-12-31 and 0001-01-01), the
 *   "end of time" warehouses use (Spark's JDBC reader maps Postgres's infinities the same way).
 * - `error`: the shard stops with a ValueRefusedError naming the column.
 * A finite timestamp that does not fit (after 294246 AD, where Postgres still has values) is an error.
 */
import type { InfinityPolicy } from '../../contracts';
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

/** `clamp`: the last microsecond of 9999 and the first of year 1, as µs and days since 1970. */
export const TIMESTAMP_END_OF_TIME = 253402300799999999n;
export const TIMESTAMP_START_OF_TIME = -62135596800000000n;
export const DATE_END_OF_TIME = 2932896;
export const DATE_START_OF_TIME = -719162;

const PG_DATE_INFINITY = 0x7fffffff;
const PG_DATE_NEG_INFINITY = -0x80000000;
const PG_TIMESTAMP_INFINITY = 9223372036854775807n;
const PG_TIMESTAMP_NEG_INFINITY = -9223372036854775808n;

const TWO_32 = 4294967296;
const EPOCH_HI = Math.floor(Number(PG_EPOCH_MICROS) / TWO_32);
const EPOCH_LO = Number(PG_EPOCH_MICROS) - EPOCH_HI * TWO_32;

function refuseInfinity(column: string, type: 'date' | 'timestamp'): ValueRefusedError {
  return new ValueRefusedError(
    column,
    `a ${type} of ±infinity has no value every engine reads the same; export with "infinity": "clamp" (9999-12-31 / 0001-01-01) or the native type profile (DuckDB's convention)`,
  );
}

function shiftDate(raw: number, column: string, infinity: InfinityPolicy): number {
  if (raw === PG_DATE_INFINITY || raw === PG_DATE_NEG_INFINITY) {
    const positive = raw === PG_DATE_INFINITY;
    if (infinity === 'error') throw refuseInfinity(column, 'date');
    if (infinity === 'clamp') return positive ? DATE_END_OF_TIME : DATE_START_OF_TIME;
    return positive ? DATE_INFINITY : DATE_NEG_INFINITY;
  }
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
  constructor(
    column: string,
    private readonly infinity: InfinityPolicy,
  ) {
    super(column, 4, 'INT32');
  }
  protected allocate(capacity: number): Int32Array {
    return new Int32Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw badFieldLength(this.column, 'date', 4, end - start);
    // Decoded before next(): a refused value must not take a slot.
    const day = shiftDate(buf.readInt32BE(start), this.column, this.infinity);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = day;
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

/** The two int32 words (low, high) of an int64. */
function words64(v: bigint): [number, number] {
  return [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))];
}
const [END_LO, END_HI] = words64(TIMESTAMP_END_OF_TIME);
const [START_LO, START_HI] = words64(TIMESTAMP_START_OF_TIME);

/** timestamp and timestamptz (both are UTC microseconds on the wire). */
export class TimestampBuilder extends Int64WordsBuilder {
  constructor(
    column: string,
    private readonly infinity: InfinityPolicy,
  ) {
    super(column);
  }

  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw badFieldLength(this.column, 'timestamp', 8, end - start);
    const hi = buf.readInt32BE(start);
    const lo = buf.readUInt32BE(start + 4);
    const positive = hi === 0x7fffffff && lo === 0xffffffff;
    const negative = hi === -0x80000000 && lo === 0;
    if ((positive || negative) && this.infinity === 'error') throw refuseInfinity(this.column, 'timestamp');
    const i = this.next() << 1;
    const words = this.words;
    if (positive || negative) {
      const clamp = this.infinity === 'clamp';
      words[i] = positive ? (clamp ? END_LO : -1) : clamp ? START_LO : 1;
      words[i + 1] = positive ? (clamp ? END_HI : 0x7fffffff) : clamp ? START_HI : -0x80000000;
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
    private readonly infinity: InfinityPolicy,
  ) {
    this.width = kind === 'date' ? 4 : 8;
  }

  decode(buf: Buffer, start: number, end: number): unknown {
    const len = end - start;
    if (len !== this.width) throw badFieldLength(this.column, this.kind, this.width, len);
    if (this.kind === 'date') return shiftDate(buf.readInt32BE(start), this.column, this.infinity);
    const raw = buf.readBigInt64BE(start);
    if (this.kind === 'time') return raw;
    if (raw === PG_TIMESTAMP_INFINITY || raw === PG_TIMESTAMP_NEG_INFINITY) {
      const positive = raw === PG_TIMESTAMP_INFINITY;
      if (this.infinity === 'error') throw refuseInfinity(this.column, 'timestamp');
      if (this.infinity === 'clamp') return positive ? TIMESTAMP_END_OF_TIME : TIMESTAMP_START_OF_TIME;
      return positive ? TIMESTAMP_INFINITY : TIMESTAMP_NEG_INFINITY;
    }
    const shifted = raw + PG_EPOCH_MICROS;
    if (shifted >= TIMESTAMP_INFINITY) throw tooLate(this.column);
    return shifted;
  }

  reset(): void {}
}
