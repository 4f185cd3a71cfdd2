/**
 * Iceberg partition transforms (spec "Partition Transforms", "Bucket Transform Details", "Truncate Transform
 * Details", Appendix B), the `partition by` text a user writes, and the human partition path Iceberg Java writes
 * (`PartitionSpec.partitionToPath`). Pure: no I/O.
 *
 * Where the spec is silent or says one thing and its test values another, this follows Iceberg Java (apache/iceberg
 * `api/.../transforms/*`, `util/BucketUtil`, `util/TruncateUtil`, `util/DateTimeUtil`), the reference every
 * engine's readers were checked against, so a file lands in the partition a Java, Spark or pyiceberg writer would
 * put it in and prunes the same way.
 *
 * ## Values handed in (`SourceValue`), by the source column's Iceberg type
 * | type                    | value                                                                          |
 * |-------------------------|--------------------------------------------------------------------------------|
 * | boolean                 | boolean                                                                        |
 * | int                     | number (int32)                                                                 |
 * | long                    | bigint (a safe-integer number is accepted too)                                 |
 * | date                    | number: days since 1970-01-01                                                  |
 * | timestamp, timestamptz  | bigint: microseconds since 1970-01-01T00:00 (UTC for tz); safe number accepted  |
 * | string                  | Uint8Array of UTF-8 bytes (what pgsip's builders hold), or a JS string          |
 * | binary                  | Uint8Array                                                                     |
 * | decimal(P,S)            | bigint unscaled (value × 10^S), a safe-integer number, or big-endian two's     |
 * |                         | complement bytes (the FIXED_LEN_BYTE_ARRAY layout), any width                  |
 * | any, SQL NULL           | null                                                                           |
 * Strings come as bytes because that is how the column builders hold them: bucket hashes the bytes as they are and
 * truncate counts code points on them, so a string is decoded only when it becomes a partition value.
 *
 * ## Partition values returned (`PartitionValue`), by the transform's result type
 * int (bucket, year, month, hour, identity/truncate of int) and date (day, identity of date): number;
 * long and timestamp(tz) (identity/truncate of long, identity of a timestamp): bigint, because Postgres bigints
 * (snowflake ids) and microsecond timestamps pass 2^53; string: string; binary: Uint8Array (a copy: the row's
 * bytes may sit in a buffer that is reused); decimal: bigint unscaled, at the column's scale; boolean: boolean;
 * null: null.
 */
import { InputError, InternalError, ValueRefusedError } from '../errors';
import { readQuotedIdentifier } from '../postgres/table-name';
import type { IcebergField, IcebergType, PartitionField, PartitionSpec, PartitionTransform } from './model';

/** A source column's value, as the table above says per Iceberg type. */
export type SourceValue = boolean | number | bigint | string | Uint8Array | null;

/** A partition value, as the table above says per result type. */
export type PartitionValue = boolean | number | bigint | string | Uint8Array | null;

/** A partition tuple: partition field name -> value. `PartitionValues` of model.ts is one (it is narrower). */
export type PartitionTuple = Readonly<Record<string, PartitionValue>>;

/** The first partition field id of a table (Java `PartitionSpec.PARTITION_DATA_ID_START`). */
export const FIRST_PARTITION_FIELD_ID = 1000;

// ---------------------------------------------------------------------------------------------------------------
// Transforms and types
// ---------------------------------------------------------------------------------------------------------------

type TimeUnit = 'year' | 'month' | 'day' | 'hour';
type Transform = { kind: 'identity' } | { kind: TimeUnit } | { kind: 'bucket'; n: number } | { kind: 'truncate'; width: number };

type SourceKind = 'boolean' | 'int' | 'long' | 'float' | 'double' | 'date' | 'timestamp' | 'timestamptz' | 'string' | 'binary' | 'decimal';
interface SourceShape {
  kind: SourceKind;
  /** Decimal scale; 0 otherwise. */
  scale: number;
}

const MAX_INT32 = 2 ** 31 - 1;
const DECIMAL_TYPE = /^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$/;
const SIMPLE_KINDS = new Set<string>(['boolean', 'int', 'long', 'float', 'double', 'date', 'timestamp', 'timestamptz', 'string', 'binary']);

/** The transform a spec string names, or null for one pgsip cannot write (`void`, unknown ones: see `transformFunction`). */
function parseTransform(transform: string): Transform | null {
  switch (transform) {
    case 'identity':
    case 'year':
    case 'month':
    case 'day':
    case 'hour':
      return { kind: transform };
  }
  const m = /^(bucket|truncate)\[(\d+)\]$/.exec(transform);
  if (!m) return null;
  const n = Number(m[2]);
  if (n < 1 || n > MAX_INT32) return null;
  return m[1] === 'bucket' ? { kind: 'bucket', n } : { kind: 'truncate', width: n };
}

/** The source type's shape, or null for a list or a type pgsip never writes (uuid, time, fixed from elsewhere). */
function sourceShape(type: IcebergType): SourceShape | null {
  if (typeof type !== 'string') return null;
  if (SIMPLE_KINDS.has(type)) return { kind: type as SourceKind, scale: 0 };
  const m = DECIMAL_TYPE.exec(type);
  return m ? { kind: 'decimal', scale: Number(m[2]) } : null;
}

function typeName(type: IcebergType): string {
  return typeof type === 'string' ? type : `list<${typeName(type.element)}>`;
}

/**
 * Why `transform` cannot apply to a column of `type`, or null when it can. The spec's source types, less what
 * pgsip never writes, and less identity on float/double: the spec allows it, but every distinct value becomes a
 * partition (a file each), NaN has no partition value every engine agrees on, and -0.0/+0.0 are one value to SQL
 * but two to a partition tuple; no one means it, so it is refused rather than written.
 */
function unsupportedBecause(transform: Transform, type: IcebergType): string | null {
  const shape = sourceShape(type);
  if (typeof type !== 'string') return `it is a ${typeName(type)}; only primitive columns can be partitioned by`;
  if (!shape) return `it is a ${type}, which pgsip does not partition by`;
  const kind = shape.kind;
  switch (transform.kind) {
    case 'identity':
      return kind === 'float' || kind === 'double'
        ? `it is a ${type}: pgsip does not partition by a float or double (every distinct value would be a partition, and NaN and -0.0 have no agreed partition value)`
        : null;
    case 'year':
    case 'month':
    case 'day':
      return kind === 'date' || kind === 'timestamp' || kind === 'timestamptz' ? null : `it is a ${type}; ${transform.kind} needs a date, timestamp or timestamptz column`;
    case 'hour':
      return kind === 'timestamp' || kind === 'timestamptz'
        ? null
        : `it is a ${type}; hour needs a timestamp or timestamptz column${kind === 'date' ? ' (a date has no hours)' : ''}`;
    case 'bucket':
      return ['int', 'long', 'date', 'timestamp', 'timestamptz', 'string', 'binary', 'decimal'].includes(kind)
        ? null
        : `it is a ${type}; bucket needs an int, long, decimal, date, timestamp, timestamptz, string or binary column`;
    case 'truncate':
      return ['int', 'long', 'string', 'binary', 'decimal'].includes(kind) ? null : `it is a ${type}; truncate needs an int, long, decimal, string or binary column`;
  }
}

/**
 * The Iceberg type of a transform's result: identity and truncate keep the source type; bucket, year, month and
 * hour give int; day gives date (the spec allows int, but Java writes date, and a date reads as one).
 */
export function partitionResultType(transform: PartitionTransform, sourceType: IcebergType): IcebergType {
  const t = parseTransform(transform);
  if (!t) throw new InputError(`partition transform ${JSON.stringify(transform)} is not one pgsip writes`);
  const why = unsupportedBecause(t, sourceType);
  if (why) throw new InputError(`partition transform ${transform} cannot apply to a ${typeName(sourceType)} column: ${why}`);
  switch (t.kind) {
    case 'identity':
    case 'truncate':
      return sourceType;
    case 'day':
      return 'date';
    default:
      return 'int';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a transform
// ---------------------------------------------------------------------------------------------------------------

/**
 * The function that maps a source value to its partition value, for one partition field: the exporter binds it once
 * per field and calls it per row (the transform string and the type are read here, not per row). `column` names the
 * source column in errors. Throws InputError when the transform cannot apply to the type, or is one pgsip cannot
 * write (the spec forbids committing data with an unknown transform, and `void` is a v1 relic).
 */
export function transformFunction(transform: PartitionTransform, sourceType: IcebergType, column = '(partition source)'): (value: SourceValue) => PartitionValue {
  const t = parseTransform(transform);
  if (!t) throw new InputError(`column "${column}": partition transform ${JSON.stringify(transform)} is not one pgsip can write`);
  const why = unsupportedBecause(t, sourceType);
  if (why) throw new InputError(`column "${column}": partition transform ${transform} cannot apply: ${why}`);
  const shape = sourceShape(sourceType)!;
  const read = new Reader(column, shape.kind);
  const f = bind(t, shape, read, column);
  // Every transform maps null to null (spec).
  return (value) => (value === null ? null : f(value));
}

/** One value through one transform; `transformFunction` is the same, bound once for many rows. */
export function applyTransform(transform: PartitionTransform, sourceType: IcebergType, value: SourceValue): PartitionValue {
  return transformFunction(transform, sourceType)(value);
}

function bind(t: Transform, shape: SourceShape, read: Reader, column: string): (value: Exclude<SourceValue, null>) => PartitionValue {
  const kind = shape.kind;
  switch (t.kind) {
    case 'identity':
      switch (kind) {
        case 'boolean':
          return (v) => read.boolean(v);
        case 'int':
        case 'date':
          return (v) => read.int(v);
        case 'long':
        case 'timestamp':
        case 'timestamptz':
          return (v) => read.long(v);
        case 'string':
          return (v) => read.string(v);
        case 'binary':
          return (v) => read.bytes(v).slice();
        case 'decimal':
          return (v) => read.decimal(v);
      }
      break;
    case 'year':
    case 'month':
    case 'day':
    case 'hour': {
      const unit = t.kind;
      if (kind === 'date') return (v) => dateTo(unit as Exclude<TimeUnit, 'hour'>, read.int(v));
      return (v) => {
        const result = microsTo(unit, read.long(v));
        // Only hours can pass an int: after the year 246,970 (Postgres timestamps go to 294,276). Java would wrap.
        if (result > MAX_INT32 || result < -MAX_INT32 - 1) {
          throw new ValueRefusedError(column, `hour(${column}) of ${read.long(v)} microseconds is past what an Iceberg int partition value holds`);
        }
        return result;
      };
    }
    case 'bucket': {
      const n = t.n;
      switch (kind) {
        case 'int':
        case 'date':
          // The spec's Appendix B says hashInt for a date, but its test value (2017-11-16 -> -653330422) and Java
          // (Bucket.BucketInteger -> BucketUtil.hash(int) -> hashLong) hash every integer as an 8-byte long.
          return (v) => bucketOf(hashInt32AsLong(read.int(v)), n);
        case 'long':
        case 'timestamp':
        case 'timestamptz':
          return (v) => bucketOf(hashLong(read.long(v)), n);
        case 'string':
          return (v) => bucketOf(murmur3(read.utf8(v)), n);
        case 'binary':
          return (v) => bucketOf(murmur3(read.bytes(v)), n);
        case 'decimal':
          // Hash results do not depend on the scale: only the unscaled value's minimal bytes are hashed.
          return (v) => bucketOf(murmur3(minimalTwosComplement(read.decimal(v))), n);
      }
      break;
    }
    case 'truncate': {
      const width = t.width;
      switch (kind) {
        case 'int':
          return (v) => truncateInt32(read.int(v), width);
        case 'long': {
          const w = BigInt(width);
          return (v) => truncateInt64(read.long(v), w);
        }
        case 'decimal': {
          // W is in units of the column's scale: truncate[50] of 10.65 at scale 2 is 10.50 (unscaled 1065 -> 1050).
          const w = BigInt(width);
          return (v) => {
            const u = read.decimal(v);
            return u - ((u % w) + w) % w;
          };
        }
        case 'string':
          return (v) => truncateString(v, width, read);
        case 'binary':
          return (v) => read.bytes(v).slice(0, width);
      }
      break;
    }
  }
  throw new InternalError(`no ${t.kind} transform for ${kind}`);
}

/**
 * Reads a SourceValue as its Iceberg type's representation. A value of the wrong JS type is pgsip's own mistake
 * (the exporter handed over the wrong representation), not the user's: InternalError, naming the column.
 */
class Reader {
  constructor(
    private readonly column: string,
    private readonly kind: SourceKind,
  ) {}

  private wrong(v: Exclude<SourceValue, null>): never {
    const what = v instanceof Uint8Array ? 'Uint8Array' : typeof v;
    throw new InternalError(`column "${this.column}": a ${this.kind} partition source was handed a ${what} (${String(v).slice(0, 40)})`);
  }

  boolean(v: Exclude<SourceValue, null>): boolean {
    return typeof v === 'boolean' ? v : this.wrong(v);
  }

  int(v: Exclude<SourceValue, null>): number {
    return typeof v === 'number' && Number.isInteger(v) && v >= -MAX_INT32 - 1 && v <= MAX_INT32 ? v : this.wrong(v);
  }

  long(v: Exclude<SourceValue, null>): bigint {
    if (typeof v === 'bigint') return v;
    return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : this.wrong(v);
  }

  bytes(v: Exclude<SourceValue, null>): Uint8Array {
    return v instanceof Uint8Array ? v : this.wrong(v);
  }

  utf8(v: Exclude<SourceValue, null>): Uint8Array {
    if (v instanceof Uint8Array) return v;
    return typeof v === 'string' ? UTF8.encode(v) : this.wrong(v);
  }

  string(v: Exclude<SourceValue, null>): string {
    if (typeof v === 'string') return v;
    return v instanceof Uint8Array ? UTF8_DECODER.decode(v) : this.wrong(v);
  }

  decimal(v: Exclude<SourceValue, null>): bigint {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
    return v instanceof Uint8Array ? fromTwosComplement(v) : this.wrong(v);
  }
}

const UTF8 = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, which is data here: by default TextDecoder would drop it from the value.
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

// ---- time ------------------------------------------------------------------------------------------------------

const MICROS_PER_DAY = 86_400_000_000n;
const MICROS_PER_HOUR = 3_600_000_000n;

/** Floor division: the spec's time transforms count whole units before 1970 downwards (-1 µs is day -1, not 0). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** year/month/day of a date: years and months from 1970 count calendar boundaries, as Java's `DateTimeUtil` does. */
function dateTo(unit: Exclude<TimeUnit, 'hour'>, days: number): number {
  if (unit === 'day') return days;
  const { year, month } = civilFromDays(days);
  return unit === 'year' ? year - 1970 : (year - 1970) * 12 + (month - 1);
}

function microsTo(unit: TimeUnit, micros: bigint): number {
  if (unit === 'hour') return Number(floorDiv(micros, MICROS_PER_HOUR));
  return dateTo(unit, Number(floorDiv(micros, MICROS_PER_DAY)));
}

/**
 * The proleptic Gregorian date of a day count from 1970-01-01 (year 0 is 1 BC, as in java.time and ISO 8601), by
 * Howard Hinnant's `civil_from_days`: exact in doubles far past Postgres's range.
 */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

// ---- truncate ----------------------------------------------------------------------------------------------------

/**
 * `v - (((v % W) + W) % W)` in Java int arithmetic, wrapping where Java wraps (only within W of -2^31, or for W
 * above 2^30), so the value is the one Java computes when it projects a predicate onto this partition field.
 */
function truncateInt32(v: number, width: number): number {
  const r = v % width;
  const s = (r + width) | 0;
  return (v - (s % width)) | 0;
}

/** The same in Java long arithmetic. */
function truncateInt64(v: bigint, width: bigint): bigint {
  const r = v % width;
  const s = BigInt.asIntN(64, r + width);
  return BigInt.asIntN(64, v - (s % width));
}

/** The first `length` code points (Java `UnicodeUtil.truncateString`), from UTF-8 bytes or a JS string. */
function truncateString(v: Exclude<SourceValue, null>, length: number, read: Reader): string {
  if (typeof v === 'string') {
    // Fewer UTF-16 units than the length: fewer code points too, nothing to cut.
    if (v.length <= length) return v;
    let end = 0;
    for (let n = 0; n < length && end < v.length; n++) {
      const c = v.charCodeAt(end);
      end += c >= 0xd800 && c <= 0xdbff && end + 1 < v.length && (v.charCodeAt(end + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    }
    return v.slice(0, end);
  }
  const bytes = read.bytes(v);
  if (bytes.length <= length) return UTF8_DECODER.decode(bytes);
  // A code point starts at every byte that is not a continuation byte (10xxxxxx).
  let end = 0;
  for (let n = 0; end < bytes.length; end++) {
    if ((bytes[end] & 0xc0) !== 0x80 && n++ === length) break;
  }
  return UTF8_DECODER.decode(bytes.subarray(0, end));
}

// ---- bucket ------------------------------------------------------------------------------------------------------

/** `(hash & Integer.MAX_VALUE) % N`: the sign bit is dropped so the bucket is never negative. */
function bucketOf(hash: number, n: number): number {
  return (hash & 0x7fffffff) % n;
}

/** murmur3_x86_32 of an int widened to a long: Java `BucketUtil.hash(int)` is `hashLong(value)`. */
function hashInt32AsLong(v: number): number {
  return murmur3Words(v | 0, v < 0 ? -1 : 0);
}

/** murmur3_x86_32 of the 8 little-endian bytes of a long (Guava `hashLong`). */
function hashLong(v: bigint): number {
  return murmur3Words(Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** murmur3_x86_32, seed 0, of two little-endian 32-bit words: a long without building its 8 bytes per row. */
function murmur3Words(lo: number, hi: number): number {
  return fmix(mixH(mixH(0, lo), hi), 8);
}

/**
 * 32-bit Murmur3, x86 variant, seed 0 (spec "Bucket Transform Details"; Guava `Hashing.murmur3_32_fixed`, which
 * Iceberg Java uses), as a signed int32 like Java's `asInt()`.
 */
export function murmur3(bytes: Uint8Array): number {
  const n = bytes.length;
  const blocks = n >>> 2;
  let h = 0;
  for (let i = 0; i < blocks; i++) {
    const p = i * 4;
    h = mixH(h, bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24));
  }
  // The 1 to 3 bytes after the last whole block, little-endian, mixed into h without the rotation of a block.
  const tail = blocks * 4;
  const rest = n & 3;
  if (rest > 0) {
    let k = bytes[tail];
    if (rest > 1) k |= bytes[tail + 1] << 8;
    if (rest > 2) k |= bytes[tail + 2] << 16;
    h ^= mixK(k);
  }
  return fmix(h, n);
}

/** The murmur3 bucket hash a value of `sourceType` gets (spec Appendix B), for tests and diagnostics. */
export function bucketHash(sourceType: IcebergType, value: Exclude<SourceValue, null>): number {
  const shape = sourceShape(sourceType);
  if (!shape || unsupportedBecause({ kind: 'bucket', n: 1 }, sourceType)) throw new InputError(`a ${typeName(sourceType)} cannot be bucketed`);
  const read = new Reader('(bucket source)', shape.kind);
  switch (shape.kind) {
    case 'int':
    case 'date':
      return hashInt32AsLong(read.int(value));
    case 'string':
      return murmur3(read.utf8(value));
    case 'binary':
      return murmur3(read.bytes(value));
    case 'decimal':
      return murmur3(minimalTwosComplement(read.decimal(value)));
    default:
      return hashLong(read.long(value));
  }
}

/**
 * The fewest big-endian two's-complement bytes holding `v` (Java `BigInteger.toByteArray`): what the spec hashes for
 * a decimal, without the padding of its fixed-width storage. 0 is one zero byte.
 */
export function minimalTwosComplement(v: bigint): Uint8Array {
  const magnitude = v < 0n ? ~v : v;
  const bits = magnitude === 0n ? 0 : magnitude.toString(2).length;
  const out = new Uint8Array((bits >> 3) + 1);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromTwosComplement(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return BigInt.asIntN(bytes.length * 8, v);
}

// ---------------------------------------------------------------------------------------------------------------
// Human strings and partition paths
// ---------------------------------------------------------------------------------------------------------------

/**
 * Java `Transform.toHumanString` of a partition value: year `2025`, month `2025-01`, day and date `2025-01-01`,
 * hour `2025-01-01-12`, timestamp `2025-01-01T12:00:00[.ffffff]` (+`+00:00` with a zone), binary as base64,
 * decimal as Java's `BigDecimal.toString` (which turns to `1E-8` below 10^-6), null as `null`.
 */
export function humanString(transform: PartitionTransform, sourceType: IcebergType, value: PartitionValue): string {
  if (value === null) return 'null';
  const t = parseTransform(transform);
  if (!t) throw new InputError(`partition transform ${JSON.stringify(transform)} is not one pgsip writes`);
  const wrong = (): never => {
    throw new InternalError(`partition value ${String(value).slice(0, 40)} is not a ${transform} of ${typeName(sourceType)}`);
  };
  const int = (): number => (typeof value === 'number' ? value : wrong());
  switch (t.kind) {
    case 'year':
      return javaYear(1970 + int());
    case 'month': {
      const m = int();
      return `${javaYear(1970 + Math.floor(m / 12))}-${pad2(1 + (((m % 12) + 12) % 12))}`;
    }
    case 'day':
      return humanDay(int());
    case 'hour': {
      const h = int();
      const hour = ((h % 24) + 24) % 24;
      return `${humanDay((h - hour) / 24)}-${pad2(hour)}`;
    }
    case 'bucket':
      return String(int());
  }
  // identity and truncate: by the source type.
  const shape = sourceShape(sourceType) ?? wrong();
  switch (shape.kind) {
    case 'date':
      return humanDay(int());
    case 'timestamp':
    case 'timestamptz': {
      const micros = typeof value === 'bigint' ? value : typeof value === 'number' ? BigInt(value) : wrong();
      return isoTimestamp(micros) + (shape.kind === 'timestamptz' ? '+00:00' : '');
    }
    case 'binary':
      return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') : wrong();
    case 'decimal':
      return typeof value === 'bigint' || typeof value === 'number' ? javaBigDecimalString(BigInt(value), shape.scale) : wrong();
    case 'string':
      return typeof value === 'string' ? value : value instanceof Uint8Array ? UTF8_DECODER.decode(value) : wrong();
    default:
      return value instanceof Uint8Array ? wrong() : String(value);
  }
}

/**
 * The partition's directory under `data/`, as Iceberg Java names it (`PartitionSpec.partitionToPath`):
 * `created_at_day=2025-01-01/id_bucket=3`, each name and human value URL-encoded as `java.net.URLEncoder` does.
 * Empty for an unpartitioned spec. Not a key: a string "null" and a null share a path; `partitionKey` tells them
 * apart. `schema` gives each field's source type (a day count could be an int or a date, micros a long or a
 * timestamp, so the tuple alone cannot say how to print it).
 */
export function partitionPath(fields: readonly PartitionField[], values: PartitionTuple, schema: readonly IcebergField[]): string {
  return fields
    .map((field) => {
      const source = schema.find((f) => f.id === field['source-id']);
      if (!source) throw new InternalError(`partition field "${field.name}": no column with id ${field['source-id']} in the schema`);
      if (!Object.hasOwn(values, field.name)) throw new InternalError(`partition tuple has no value for "${field.name}"`);
      return `${javaUrlEncode(field.name)}=${javaUrlEncode(humanString(field.transform, source.type, values[field.name]))}`;
    })
    .join('/');
}

/**
 * A stable string for a partition tuple, equal exactly when the tuples are (same names, same values of the same
 * representation): for grouping rows into one file per partition. Names are sorted, so the order the tuple was
 * built in does not matter.
 */
export function partitionKey(values: PartitionTuple): string {
  const parts: string[][] = [];
  for (const name of Object.keys(values).sort()) {
    const v = values[name];
    if (v === null) parts.push([name, 'z']);
    else if (typeof v === 'number') parts.push([name, 'n', String(v)]);
    else if (typeof v === 'bigint') parts.push([name, 'b', String(v)]);
    else if (typeof v === 'string') parts.push([name, 's', v]);
    else if (typeof v === 'boolean') parts.push([name, v ? 't' : 'f']);
    else parts.push([name, 'x', Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')]);
  }
  return JSON.stringify(parts);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Java `String.format("%04d", year)`: at least 4 characters, the sign counted among them (-5 -> `-005`). */
function javaYear(year: number): string {
  return year < 0 ? `-${String(-year).padStart(3, '0')}` : String(year).padStart(4, '0');
}

/** Java `TransformUtil.humanDay`: `%04d-%02d-%02d` of the day's date. */
function humanDay(days: number): string {
  const { year, month, day } = civilFromDays(days);
  return `${javaYear(year)}-${pad2(month)}-${pad2(day)}`;
}

/**
 * Java `DateTimeFormatter.ISO_LOCAL_DATE_TIME` of microseconds since the epoch: seconds always, the fraction only
 * when not zero and without trailing zeros; a year past 9999 gets a `+`, one before year 0 a `-` and 4 digits.
 */
function isoTimestamp(micros: bigint): string {
  const days = floorDiv(micros, MICROS_PER_DAY);
  const ofDay = Number(micros - days * MICROS_PER_DAY);
  const { year, month, day } = civilFromDays(Number(days));
  const y = year > 9999 ? `+${year}` : year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0');
  const secs = Math.floor(ofDay / 1e6);
  const fraction = ofDay % 1e6;
  const time = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  return `${y}-${pad2(month)}-${pad2(day)}T${time}${fraction === 0 ? '' : `.${String(fraction).padStart(6, '0').replace(/0+$/, '')}`}`;
}

/** Java `BigDecimal.toString` (scientific notation where its adjusted exponent is below -6, or the scale negative). */
function javaBigDecimalString(unscaled: bigint, scale: number): string {
  const sign = unscaled < 0n ? '-' : '';
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  if (scale === 0) return sign + digits;
  const adjusted = -scale + (digits.length - 1);
  if (scale > 0 && adjusted >= -6) {
    const pad = scale - digits.length;
    return pad >= 0 ? `${sign}0.${'0'.repeat(pad)}${digits}` : `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${mantissa}${adjusted === 0 ? '' : `E${adjusted > 0 ? '+' : ''}${adjusted}`}`;
}

/**
 * `java.net.URLEncoder.encode(s, UTF_8)`: letters, digits and `.-*_` stay, a space becomes `+`, every other UTF-8
 * byte `%XX` (upper case). Not `encodeURIComponent`, which keeps `!~'()` and writes a space as `%20`.
 */
export function javaUrlEncode(s: string): string {
  let out = '';
  for (const b of UTF8.encode(s)) {
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2e || b === 0x2d || b === 0x2a || b === 0x5f) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) {
      out += '+';
    } else {
      out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The `partition by` text
// ---------------------------------------------------------------------------------------------------------------

const UNQUOTED = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/;

/** Transform words a user may write; the plurals are Spark SQL's (`PARTITIONED BY (days(ts))`). */
const TRANSFORM_WORDS: Record<string, Transform['kind']> = {
  identity: 'identity',
  year: 'year',
  years: 'year',
  month: 'month',
  months: 'month',
  day: 'day',
  days: 'day',
  hour: 'hour',
  hours: 'hour',
  bucket: 'bucket',
  truncate: 'truncate',
};

/** Java's partition field names: identity keeps the column's name; the others add a suffix (`PartitionSpec.Builder`). */
const NAME_SUFFIX: Record<Transform['kind'], string> = {
  identity: '',
  year: '_year',
  month: '_month',
  day: '_day',
  hour: '_hour',
  bucket: '_bucket',
  truncate: '_trunc',
};

type Token =
  | { kind: 'ident'; text: string; quoted: boolean }
  | { kind: 'number'; text: string }
  | { kind: '(' | ')' | ',' };

/** Postgres folds unquoted identifiers to lower case, ASCII letters only (`downcase_identifier` in UTF-8). */
function foldIdentifier(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function tokenize(entry: string, fail: (why: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < entry.length) {
    const ch = entry[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: ch });
      i++;
    } else if (ch === '"') {
      const { ident, end } = readQuotedIdentifier(entry, i, fail);
      tokens.push({ kind: 'ident', text: ident, quoted: true });
      i = end;
    } else if (ch >= '0' && ch <= '9') {
      const text = /^\d+/.exec(entry.slice(i))![0];
      tokens.push({ kind: 'number', text });
      i += text.length;
    } else {
      const m = UNQUOTED.exec(entry.slice(i));
      if (!m) fail(`unexpected ${JSON.stringify(ch)} at position ${i + 1}`);
      tokens.push({ kind: 'ident', text: m![0], quoted: false });
      i += m![0].length;
    }
  }
  return tokens;
}

/** Splits on the commas outside quotes and parentheses; an unbalanced `)` or quote is left for the entry to report. */
function splitEntries(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}

interface ParsedEntry {
  transform: Transform;
  column: Extract<Token, { kind: 'ident' }>;
}

function parseEntry(entry: string, fail: (why: string) => never): ParsedEntry {
  const tokens = tokenize(entry, fail);
  const [first] = tokens;
  if (first?.kind !== 'ident') fail('expected a column name or a transform such as day(column)');
  if (tokens.length === 1) return { transform: { kind: 'identity' }, column: first as ParsedEntry['column'] };
  const head = first as ParsedEntry['column'];
  if (tokens[1].kind !== '(') fail(`unexpected text after ${JSON.stringify(head.text)}; separate entries with commas`);
  const kind = head.quoted ? undefined : TRANSFORM_WORDS[head.text.toLowerCase()];
  if (!kind) fail(`unknown transform ${JSON.stringify(head.text)}; expected identity, year, month, day, hour, bucket or truncate`);
  const close = tokens.findIndex((t) => t.kind === ')');
  if (close === -1) fail('missing ")"');
  if (close !== tokens.length - 1) fail(`unexpected text after ")"`);
  const args = tokens.slice(2, close);
  if (kind === 'bucket' || kind === 'truncate') {
    const what = kind === 'bucket' ? 'bucket(N, column)' : 'truncate(W, column)';
    // Either order: Iceberg's Spark SQL writes bucket(16, id), some write truncate(sku, 4); unquoted identifiers
    // cannot start with a digit, so the two cannot be confused.
    const [a, comma, b] = args;
    if (args.length !== 3 || comma.kind !== ',') fail(`expected ${what}`);
    const number = a.kind === 'number' ? a : b.kind === 'number' ? b : undefined;
    const column = a.kind === 'ident' ? a : b.kind === 'ident' ? b : undefined;
    if (!number || !column) fail(`expected ${what}`);
    const n = Number(number!.text);
    if (n < 1 || n > MAX_INT32) fail(`${kind === 'bucket' ? 'the bucket count' : 'the width'} must be from 1 to ${MAX_INT32}, not ${number!.text}`);
    return { transform: kind === 'bucket' ? { kind, n } : { kind, width: n }, column: column! };
  }
  if (args.length !== 1 || args[0].kind !== 'ident') fail(`expected ${head.text}(column)`);
  return { transform: { kind }, column: args[0] as ParsedEntry['column'] };
}

function transformString(t: Transform): PartitionTransform {
  if (t.kind === 'bucket') return `bucket[${t.n}]`;
  if (t.kind === 'truncate') return `truncate[${t.width}]`;
  return t.kind;
}

/**
 * The partition fields a user's `partition by` text asks for, against the table's Iceberg columns: `region` or
 * `identity(region)`, `year(d)`, `month(d)`, `day(ts)`, `hour(ts)`, `bucket(16, id)`, `truncate(4, sku)`, several
 * separated by commas, column names quoted as in Postgres (`day("Created At")`; unquoted ones fold to lower case).
 * Blank text is no partitioning (an empty list). Field ids count up from `nextPartitionFieldId` (1000 for a new
 * table, the table's `last-partition-id` + 1 otherwise; `resolvePartitionSpec` reuses ids of an existing table).
 *
 * Refused, with an InputError naming the entry and the column: an unknown column, a list column, a transform the
 * column's type does not take (see `unsupportedBecause`), the same partition field twice, two of
 * year/month/day/hour on one column (Java refuses these as redundant), and a field name that is another column's.
 */
export function parsePartitionBy(text: string, fields: readonly IcebergField[], nextPartitionFieldId = FIRST_PARTITION_FIELD_ID): PartitionField[] {
  if (text.trim() === '') return [];
  const entries = splitEntries(text);
  const out: PartitionField[] = [];
  const byName = new Map<string, string>();
  const timeBySource = new Map<number, string>();
  entries.forEach((entry, index) => {
    const fail = (why: string): never => {
      throw new InputError(`bad partition entry ${JSON.stringify(entry)}: ${why}`);
    };
    if (entry === '') {
      throw new InputError(`bad partition list ${JSON.stringify(text)}: entry ${index + 1} is empty`);
    }
    const { transform, column } = parseEntry(entry, fail);
    const name = column.quoted ? column.text : foldIdentifier(column.text);
    const source = fields.find((f) => f.name === name);
    if (!source) {
      const near = fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
      fail(`no column "${name}"${near ? ` (there is "${near.name}": quote it to keep its case)` : ''}`);
    }
    const why = unsupportedBecause(transform, source!.type);
    if (why) fail(`column "${name}": ${why}`);
    const fieldName = name + NAME_SUFFIX[transform.kind];
    const earlier = byName.get(fieldName);
    if (earlier !== undefined) fail(`column "${name}": partition field "${fieldName}" is already made by ${JSON.stringify(earlier)}`);
    if (transform.kind !== 'identity') {
      const clash = fields.find((f) => f.name === fieldName);
      if (clash) fail(`column "${name}": its partition field would be named "${fieldName}", which is already a column of the table`);
    }
    if (transform.kind === 'year' || transform.kind === 'month' || transform.kind === 'day' || transform.kind === 'hour') {
      const other = timeBySource.get(source!.id);
      if (other !== undefined) fail(`column "${name}" is already partitioned by ${JSON.stringify(other)}; use one of year, month, day, hour per column`);
      timeBySource.set(source!.id, entry);
    }
    byName.set(fieldName, entry);
    out.push({ name: fieldName, transform: transformString(transform), 'source-id': source!.id, 'field-id': nextPartitionFieldId + out.length });
  });
  return out;
}

/**
 * Whether two specs are equivalent (spec "Partitioning"; Java `PartitionSpec.compatibleWith`): the same number of
 * fields and, field by field in order, the same source column id, transform and name. Field ids are not compared.
 */
export function sameSpec(a: PartitionSpec | readonly PartitionField[], b: PartitionSpec | readonly PartitionField[]): boolean {
  const fa = 'fields' in a ? a.fields : a;
  const fb = 'fields' in b ? b.fields : b;
  return fa.length === fb.length && fa.every((f, i) => f['source-id'] === fb[i]['source-id'] && f.transform === fb[i].transform && f.name === fb[i].name);
}

/**
 * The spec a write should use among a table's specs: an equivalent existing one as it is (writers must not add a
 * spec equivalent to one the table has), or a new one with the next spec id. A new spec's fields take the id of a
 * field with the same source and transform in any existing spec (v2 requires partition field ids to be reused; Java
 * `BaseUpdatePartitionSpec.recycleOrCreatePartitionField`), and fresh ids after `lastPartitionId` otherwise.
 * The ids in `wanted` are ignored.
 */
export function resolvePartitionSpec(
  wanted: readonly PartitionField[],
  specs: readonly PartitionSpec[],
  lastPartitionId: number,
): { spec: PartitionSpec; added: boolean; lastPartitionId: number } {
  const existing = specs.find((s) => sameSpec(s, wanted));
  if (existing) return { spec: existing, added: false, lastPartitionId };
  let last = lastPartitionId;
  // The newest spec first, so a field id comes from the latest field with that source and transform.
  const history = [...specs].sort((x, y) => y['spec-id'] - x['spec-id']).flatMap((s) => s.fields);
  const fields = wanted.map((f): PartitionField => {
    const old = history.find((h) => h['source-id'] === f['source-id'] && h.transform === f.transform);
    return { ...f, 'field-id': old ? old['field-id'] : ++last };
  });
  const specId = specs.reduce((max, s) => Math.max(max, s['spec-id'] + 1), 0);
  return { spec: { 'spec-id': specId, fields }, added: true, lastPartitionId: last };
}
