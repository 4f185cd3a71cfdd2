/**
 * Three independent Parquet readers, and Postgres itself, reduced to one canonical form so their rows can be
 * compared exactly: DuckDB (its own C++ reader), arrow-rs (the `parquet` crate, compiled to WebAssembly in
 * parquet-wasm, handed over as Arrow IPC) and polars (its own Rust reader, in nodejs-polars).
 *
 * Nothing here knows how pgsip writes a file: each reader decodes the file itself, and its values are
 * canonicalized from the type that reader reports (Arrow type, DuckDB type), never from pgsip's mapping. The
 * canonical form, chosen so no value passes through a lossy conversion:
 * - integers of any width: decimal strings (64-bit ones from their bigint, never through a JS number);
 * - floats: the shortest text that round-trips the double (a float32 widened exactly), with `NaN`,
 *   `Infinity`, `-Infinity` and `-0` spelled out;
 * - decimals: Postgres-style text from the unscaled integer, with the scale's zeros (`0.00`, `-0.01`);
 * - bytes: lowercase hex; booleans: true / false; strings: as they are;
 * - dates `YYYY-MM-DD`; times `HH:MM:SS.ffffff`; timestamps `YYYY-MM-DDTHH:MM:SS.ffffff`, with a `Z` when the
 *   reader says they are adjusted to UTC (so losing the time zone shows as a difference);
 * - UUIDs as the canonical 36-character text, but only when the reader knows the value is a UUID (a UUID
 *   read as plain bytes is bytes, and canonicalizes as hex);
 * - lists as arrays of canonical elements; NULL as null.
 */
import { DataType, TimeUnit, Vector, tableFromIPC, type Data, type Field, type Table } from 'apache-arrow';
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListType,
  DuckDBListValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBTypeId,
  DuckDBUUIDValue,
  type DuckDBType,
} from '@duckdb/node-api';
import pl from 'nodejs-polars';
// The package's "node" export (CommonJS, loads its .wasm synchronously); the default one is for browsers.
import { readParquet } from 'parquet-wasm/node';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { type Duck, quoteIdent, sqlString } from './type-roundtrip';

export type Canonical = string | boolean | null | readonly Canonical[];
export type CanonicalRow = Record<string, Canonical>;

// ---------------------------------------------------------------------------------------------------------
// Canonical forms shared by every reader.

/** A double as the shortest text that reads back as the same double; the specials spelled out. */
export function canonicalFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

/** An unscaled decimal integer and its scale as Postgres prints numeric(p,s): `-0.01`, `0.00`, `999.9`. */
export function canonicalDecimal(unscaled: bigint, scale: number): string {
  if (scale < 0) throw new Error(`decimal scale ${scale}: not a scale Postgres numeric(p,s) columns are read back with`);
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  return negative ? `-${text}` : text;
}

export function canonicalBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Days since 1970-01-01 → `YYYY-MM-DD` (proleptic Gregorian, as Postgres, DuckDB and Arrow count). */
export function canonicalDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** Microseconds since 1970-01-01 00:00:00 → `YYYY-MM-DDTHH:MM:SS.ffffff`, `Z`-suffixed when UTC-adjusted. */
export function canonicalTimestamp(micros: bigint, utc: boolean): string {
  const millis = floorDiv(micros, 1000n);
  const rest = micros - millis * 1000n; // 0..999, the microseconds a JS Date cannot hold
  const iso = new Date(Number(millis)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${rest.toString().padStart(3, '0')}${utc ? 'Z' : ''}`;
}

/** Microseconds since midnight → `HH:MM:SS.ffffff`. */
export function canonicalTime(micros: bigint): string {
  const pad = (n: bigint, width: number) => n.toString().padStart(width, '0');
  const seconds = micros / 1_000_000n;
  return `${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(micros % 1_000_000n, 6)}`;
}

/** A UUID's 16 bytes → the canonical lowercase 8-4-4-4-12 text. */
export function canonicalUuid(bytes: Uint8Array): string {
  const hex = canonicalBytes(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Applies `f` to every non-NULL scalar of a canonical value, inside lists too. */
export function mapCanonical(value: Canonical, f: (scalar: string | boolean) => Canonical): Canonical {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((v: Canonical) => mapCanonical(v, f));
  return f(value as string | boolean);
}

// ---------------------------------------------------------------------------------------------------------
// Arrow (the form arrow-rs and polars hand their decoded data over in).

/** Microseconds in one unit of an Arrow time or timestamp; nanoseconds that are not whole microseconds throw. */
function toMicros(value: bigint, unit: TimeUnit, what: string): bigint {
  switch (unit) {
    case TimeUnit.SECOND:
      return value * 1_000_000n;
    case TimeUnit.MILLISECOND:
      return value * 1000n;
    case TimeUnit.MICROSECOND:
      return value;
    case TimeUnit.NANOSECOND:
      if (value % 1000n !== 0n) throw new Error(`${what}: ${value} ns is not a whole number of microseconds`);
      return value / 1000n;
  }
}

const UTC_ZONES = new Set(['UTC', 'Etc/UTC', '+00:00', 'Z']);

/**
 * One value of an Arrow array. Fixed-width numbers come from the raw buffers (arrow-js's own getters turn
 * timestamps into fractional milliseconds); strings, bytes and booleans from arrow-js's getters, which are
 * exact for them. Within a Data, `values` is already sliced to its offset and `getValid` applies it; a
 * list's child is not sliced, its offsets index it directly.
 */
function arrowValue(field: Field, data: Data, index: number): Canonical {
  if (!data.getValid(index)) return null;
  const type: DataType = data.type;
  const where = `column "${field.name}" (${String(type)})`;
  const values: unknown = data.values;
  if (DataType.isList(type) || DataType.isLargeList(type)) {
    const offsets: unknown = data.valueOffsets;
    if (!(offsets instanceof Int32Array || offsets instanceof BigInt64Array)) throw new Error(`${where}: no list offsets`);
    const child = type.children[0];
    const [start, end] = [Number(offsets[index]), Number(offsets[index + 1])];
    const out: Canonical[] = [];
    for (let k = start; k < end; k++) out.push(arrowValue(child, data.children[0], k));
    return out;
  }
  if (DataType.isInt(type)) {
    if (values instanceof BigInt64Array || values instanceof BigUint64Array) return values[index].toString();
    if (
      values instanceof Int8Array ||
      values instanceof Int16Array ||
      values instanceof Int32Array ||
      values instanceof Uint8Array ||
      values instanceof Uint16Array ||
      values instanceof Uint32Array
    ) {
      return String(values[index]);
    }
  }
  if (DataType.isFloat(type) && (values instanceof Float32Array || values instanceof Float64Array)) return canonicalFloat(values[index]);
  if (DataType.isDecimal(type) && values instanceof Uint32Array) {
    // Little-endian 32-bit words of a two's-complement integer of bitWidth bits.
    const words = type.bitWidth / 32;
    let unscaled = 0n;
    for (let w = words - 1; w >= 0; w--) unscaled = (unscaled << 32n) | BigInt(values[index * words + w]);
    if (unscaled >> BigInt(type.bitWidth - 1)) unscaled -= 1n << BigInt(type.bitWidth);
    return canonicalDecimal(unscaled, type.scale);
  }
  if (DataType.isDate(type)) {
    if (values instanceof Int32Array) return canonicalDate(values[index]); // Date32: days
    if (values instanceof BigInt64Array) return canonicalDate(Number(floorDiv(values[index], 86_400_000n))); // Date64: ms
  }
  if (DataType.isTimestamp(type) && values instanceof BigInt64Array) {
    const zone = type.timezone ?? null; // null (or absent): a local timestamp, not adjusted to UTC
    if (zone !== null && !UTC_ZONES.has(zone)) throw new Error(`${where}: time zone ${zone}, expected UTC or none`);
    return canonicalTimestamp(toMicros(values[index], type.unit, where), zone !== null);
  }
  if (DataType.isTime(type)) {
    if (values instanceof BigInt64Array) return canonicalTime(toMicros(values[index], type.unit, where));
    if (values instanceof Int32Array) return canonicalTime(toMicros(BigInt(values[index]), type.unit, where));
  }
  const scalar: unknown = new Vector([data]).get(index);
  if (DataType.isBool(type) && typeof scalar === 'boolean') return scalar;
  if ((DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isUtf8View(type)) && typeof scalar === 'string') return scalar;
  if (DataType.isFixedSizeBinary(type) && scalar instanceof Uint8Array) {
    // Arrow's canonical UUID extension type, when a reader attaches it: then the bytes are known to be a UUID.
    return field.metadata.get('ARROW:extension:name') === 'arrow.uuid' ? canonicalUuid(scalar) : canonicalBytes(scalar);
  }
  if ((DataType.isBinary(type) || DataType.isLargeBinary(type) || DataType.isBinaryView(type)) && scalar instanceof Uint8Array) {
    return canonicalBytes(scalar);
  }
  throw new Error(`${where}: no canonical form for this Arrow type (value ${String(scalar)})`);
}

/** Every row of an Arrow table, canonicalized column by column. */
export function canonicalArrowRows(table: Table): CanonicalRow[] {
  const rows: CanonicalRow[] = Array.from({ length: table.numRows }, () => ({}));
  for (const field of table.schema.fields) {
    const column = table.getChild(field.name);
    if (!column) throw new Error(`column "${field.name}" is in the schema but has no data`);
    let row = 0;
    for (const data of column.data) for (let i = 0; i < data.length; i++) rows[row++][field.name] = arrowValue(field, data, i);
  }
  return rows;
}

/** arrow-rs: parquet-wasm decodes the file (the Rust `parquet` crate's Arrow reader) and hands over Arrow IPC. */
export async function readWithArrow(file: string): Promise<CanonicalRow[]> {
  const wasmTable = readParquet(await readFile(file));
  return canonicalArrowRows(tableFromIPC(wasmTable.intoIPCStream()));
}

/**
 * polars: `pl.readParquet` decodes the file with polars's own Parquet reader. Its frame is then handed over as
 * Arrow IPC (`writeIPC`) only because nodejs-polars's conversions to JS are lossy or refuse types (Int64 →
 * JS number, Decimal and Binary throw; asserted in the test): the values canonicalized are still the ones
 * polars's reader decoded, in the dtypes it chose.
 */
export function readWithPolars(file: string): CanonicalRow[] {
  const frame = pl.readParquet(file);
  return canonicalArrowRows(tableFromIPC(frame.writeIPC()));
}

// ---------------------------------------------------------------------------------------------------------
// DuckDB.

/**
 * One DuckDB value by the type DuckDB reports. Read with `getRowObjects` (DuckDB's own value objects: the
 * unscaled decimal, the timestamp's microseconds, the blob's bytes), not its JS conversion, so nothing exact
 * passes through a JS number (floats are doubles already).
 */
function duckValue(type: DuckDBType, value: unknown, where: string): Canonical {
  if (value === null || value === undefined) return null;
  const fail = (): never => {
    throw new Error(`${where} (${type.toString()}): no canonical form for ${String(value)}`);
  };
  switch (type.typeId) {
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'bigint' ? value.toString() : fail();
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return typeof value === 'number' ? canonicalFloat(value) : fail();
    case DuckDBTypeId.DECIMAL:
      return value instanceof DuckDBDecimalValue ? canonicalDecimal(value.value, value.scale) : fail();
    case DuckDBTypeId.BOOLEAN:
      return typeof value === 'boolean' ? value : fail();
    case DuckDBTypeId.VARCHAR:
      return typeof value === 'string' ? value : fail();
    case DuckDBTypeId.BLOB:
      return value instanceof DuckDBBlobValue ? canonicalBytes(value.bytes) : fail();
    case DuckDBTypeId.UUID:
      return value instanceof DuckDBUUIDValue ? value.toString() : fail();
    case DuckDBTypeId.DATE:
      return value instanceof DuckDBDateValue ? canonicalDate(value.days) : fail();
    case DuckDBTypeId.TIME:
      return value instanceof DuckDBTimeValue ? canonicalTime(value.micros) : fail();
    case DuckDBTypeId.TIMESTAMP:
      return value instanceof DuckDBTimestampValue ? canonicalTimestamp(value.micros, false) : fail();
    case DuckDBTypeId.TIMESTAMP_TZ:
      return value instanceof DuckDBTimestampTZValue ? canonicalTimestamp(value.micros, true) : fail();
    case DuckDBTypeId.LIST:
      if (!(type instanceof DuckDBListType) || !(value instanceof DuckDBListValue)) return fail();
      return value.items.map((item) => duckValue(type.valueType, item, where));
    default:
      return fail();
  }
}

/** DuckDB: `read_parquet` (its own C++ Parquet reader), every column as DuckDB types it. */
export async function readWithDuck(duck: Duck, file: string): Promise<CanonicalRow[]> {
  // No hive partitioning: the run folder's path must not add columns of its own.
  const reader = await duck.connection.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
  const names = reader.columnNames();
  const types = reader.columnTypes();
  return reader.getRows().map((row) => Object.fromEntries(names.map((name, c) => [name, duckValue(types[c], row[c], `column "${name}"`)])));
}

// ---------------------------------------------------------------------------------------------------------
// Postgres.

/** What a Postgres column's values should canonicalize as: the reader-side form they are expected in. */
export type PgKind = 'int' | 'float' | 'decimal' | 'bool' | 'text' | 'bytes' | 'uuid' | 'date' | 'time' | 'timestamp' | 'timestamptz';
export type PgColumnKind = PgKind | { list: PgKind };

/**
 * Per kind: the SQL that prints one value `x` in text exactly, and the step from that text to the canonical
 * value. Floats print with `extra_float_digits = 1` (set by `rawClient`): the shortest exact text since PG 12.
 */
const PG_FORMS: Record<PgKind, { sql(x: string): string; finish(text: string): Canonical }> = {
  int: { sql: (x) => `${x}::text`, finish: (t) => t },
  float: { sql: (x) => `${x}::float8::text`, finish: (t) => canonicalFloat(Number(t)) },
  decimal: { sql: (x) => `${x}::text`, finish: (t) => t },
  bool: { sql: (x) => `${x}::text`, finish: (t) => t === 'true' },
  // The type's output function (format's %s), not its cast to text: char(n) keeps its padding, inet prints
  // no /32 on a host, as pgsip writes them. format() makes '' of NULL, hence the CASE.
  text: { sql: (x) => `CASE WHEN ${x} IS NULL THEN NULL ELSE format('%s', ${x}) END`, finish: (t) => t },
  bytes: { sql: (x) => `encode(${x}, 'hex')`, finish: (t) => t },
  uuid: { sql: (x) => `${x}::text`, finish: (t) => t },
  date: { sql: (x) => `to_char(${x}, 'YYYY-MM-DD')`, finish: (t) => t },
  time: { sql: (x) => `to_char(date '2000-01-01' + ${x}, 'HH24:MI:SS.US')`, finish: (t) => t },
  timestamp: { sql: (x) => `to_char(${x}, 'YYYY-MM-DD"T"HH24:MI:SS.US')`, finish: (t) => t },
  timestamptz: { sql: (x) => `to_char(${x} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, finish: (t) => t },
};

/**
 * The same canonical rows from Postgres itself, each column printed by Postgres in the form `kinds` names
 * (arrays element by element, in order, as a JSON array of texts). `client` must return raw text (`rawClient`).
 */
export async function readWithPostgres(client: pg.Client, table: string, kinds: Record<string, PgColumnKind>, orderBy: string): Promise<CanonicalRow[]> {
  const columns = Object.entries(kinds);
  const select = columns.map(([name, kind]) => {
    const c = quoteIdent(name);
    if (typeof kind === 'string') return `${PG_FORMS[kind].sql(c)} AS ${c}`;
    const element = PG_FORMS[kind.list].sql('x');
    return `CASE WHEN ${c} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(${element} ORDER BY o) FROM unnest(${c}) WITH ORDINALITY AS u(x, o)), '[]')::text END AS ${c}`;
  });
  const result = await client.query<Record<string, string | null>>(`SELECT ${select.join(', ')} FROM ${table} ORDER BY ${quoteIdent(orderBy)}`);
  return result.rows.map((row) =>
    Object.fromEntries(
      columns.map(([name, kind]): [string, Canonical] => {
        const text = row[name];
        if (text === null) return [name, null];
        if (typeof kind === 'string') return [name, PG_FORMS[kind].finish(text)];
        const elements: unknown = JSON.parse(text);
        if (!Array.isArray(elements)) throw new Error(`column "${name}": expected a JSON array, got ${text}`);
        return [name, elements.map((e: unknown) => (typeof e === 'string' ? PG_FORMS[kind.list].finish(e) : null))];
      }),
    ),
  );
}
