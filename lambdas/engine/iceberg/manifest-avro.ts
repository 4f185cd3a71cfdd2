/**
 * The Avro files of an Iceberg v2 table: manifests (`manifest_entry` records) and manifest lists
 * (`manifest_file` records), written and read in memory. Pure: bytes in, bytes out; the caller uploads them and
 * takes `manifest_length` from the written bytes.
 *
 * Writing follows the spec's Avro schemas (format/spec.md, "Manifests", "Manifest Lists", "Appendix A / Avro")
 * as Iceberg Java writes them: every field carries its `field-id`, lists their `element-id`, int-keyed maps are
 * arrays of `k<id>_v<id>` records marked `logicalType: "map"`, optional fields are `["null", T]` with
 * `default: null`. Named types are always defined inline, once: icebird's Avro reader cannot resolve a by-name
 * reference, so each fixed type gets a name of its own.
 *
 * Reading goes by Avro field name with the writer's schema from the file header, so it reads what pgsip wrote
 * and what Java/Spark wrote (older Java names `added_data_files_count` etc., fields in another order, `doc`
 * attributes, fields pgsip does not keep). Longs are read exactly: partition values stay bigints (model.ts
 * `PartitionValues`); the model's number fields (ids, counts, sizes) get a number only when it holds the value
 * exactly, since Java-written tables have 63-bit random snapshot ids and a rounded id would silently name another
 * snapshot (`DecodeOptions.onUnsafeLong`).
 *
 * The container framing (header, deflate blocks, sync markers) is done here synchronously with avsc's types
 * rather than with avsc's `BlockEncoder`/`BlockDecoder`: those are streams whose output arrives on later ticks,
 * while a manifest is a few kilobytes built and parsed in one go. The framing is the Avro spec's ("Object
 * Container Files"), checked against avsc's own stream decoder and fastavro in the tests.
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { InputError, InternalError } from '../errors';
import { partitionResultType } from './partition-transforms';
import type {
  DataFile,
  EntryStatus,
  IcebergPrimitive,
  IcebergSchema,
  ManifestEntry,
  ManifestFile,
  PartitionField,
  PartitionFieldSummary,
  PartitionSpec,
  PartitionValues,
} from './model';

// ---------------------------------------------------------------------------------------------------------------
// Avro schema JSON

/**
 * The type a partition field's values have (its transform's result type, partition-transforms.ts
 * `partitionResultType`): what the `r102` record holds for it. Never float or double: pgsip does not partition by
 * them.
 */
export type PartitionResultType = Exclude<IcebergPrimitive, 'float' | 'double'>;

/** A partition spec field with its result type. */
export interface TypedPartitionField {
  field: PartitionField;
  resultType: PartitionResultType;
}

/**
 * One partition value (model.ts `PartitionValues`): number for int and date, bigint for long, timestamps and
 * decimal (unscaled; a safe-integer number is accepted when writing), boolean, string, Uint8Array for binary, null.
 * Read back, longs, timestamps and decimals are bigints.
 */
export type PartitionValue = PartitionValues[string];

export type AvroPrimitive = 'null' | 'boolean' | 'int' | 'long' | 'string' | 'bytes';

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  fields: AvroFieldSchema[];
}

export interface AvroFieldSchema {
  name: string;
  type: AvroTypeSchema;
  /** Present (null) on every optional field: readers may resolve a file that lacks the field. */
  default?: null;
  'field-id': number;
}

export interface AvroArraySchema {
  type: 'array';
  items: AvroTypeSchema;
  'element-id'?: number;
  /** An int-keyed Iceberg map, written as an array of key/value records. */
  logicalType?: 'map';
}

export type AvroLogicalSchema =
  | { type: 'int'; logicalType: 'date' }
  | { type: 'long'; logicalType: 'timestamp-micros'; 'adjust-to-utc': boolean }
  | { type: 'fixed'; name: string; size: number; logicalType: 'decimal'; precision: number; scale: number };

export type AvroTypeSchema = AvroPrimitive | AvroRecordSchema | AvroArraySchema | AvroLogicalSchema | ['null', AvroTypeSchema];

const required = (name: string, id: number, type: AvroTypeSchema): AvroFieldSchema => ({ name, type, 'field-id': id });
const optional = (name: string, id: number, type: AvroTypeSchema): AvroFieldSchema => ({ name, type: ['null', type], default: null, 'field-id': id });
const listOf = (elementId: number, items: AvroTypeSchema): AvroArraySchema => ({ type: 'array', items, 'element-id': elementId });
const mapOf = (keyId: number, valueId: number, value: AvroPrimitive): AvroArraySchema => ({
  type: 'array',
  logicalType: 'map',
  items: { type: 'record', name: `k${keyId}_v${valueId}`, fields: [required('key', keyId, 'int'), required('value', valueId, value)] },
});

const DECIMAL = /^decimal\((\d+), (\d+)\)$/;

/** Precision and scale of a decimal result type, checked (Iceberg decimals hold at most 38 digits). */
function decimalOf(type: string): { precision: number; scale: number } | null {
  const m = DECIMAL.exec(type);
  if (!m) return null;
  const precision = Number(m[1]);
  const scale = Number(m[2]);
  if (precision < 1 || precision > 38 || scale > precision) throw new InternalError(`partition type ${type}: Iceberg decimals have a precision of 1 to 38 and a scale within it`);
  return { precision, scale };
}

/** Bytes of the fixed type holding every unscaled value of `precision` digits (Java `TypeUtil.decimalRequiredBytes`). */
export function decimalRequiredBytes(precision: number): number {
  const max = 10n ** BigInt(precision);
  let bytes = 1;
  // Smallest n with 2^(8n-1) >= 10^P: a signed n-byte integer then holds ±(10^P - 1).
  while (1n << BigInt(8 * bytes - 1) < max) bytes++;
  return bytes;
}

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The Avro type of a partition result type; `fieldId` makes a fixed type's name unique in the file. */
function partitionAvroType(resultType: PartitionResultType, fieldId: number): AvroTypeSchema {
  switch (resultType) {
    case 'boolean':
    case 'int':
    case 'long':
    case 'string':
      return resultType;
    case 'binary':
      return 'bytes';
    case 'date':
      return { type: 'int', logicalType: 'date' };
    case 'timestamp':
    case 'timestamptz':
      return { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': resultType === 'timestamptz' };
  }
  const decimal = decimalOf(resultType);
  if (!decimal) throw new InternalError(`partition type ${String(resultType)} has no Avro type here`);
  const { precision, scale } = decimal;
  // Java names it `decimal_P_S` and refers to it by name the second time; icebird cannot follow such a
  // reference, so every decimal field gets its own definition, named after its field id.
  return { type: 'fixed', name: `decimal_${precision}_${scale}_${fieldId}`, size: decimalRequiredBytes(precision), logicalType: 'decimal', precision, scale };
}

/** The `r102` record: one optional field per spec field, in spec order, named and numbered as the spec's. */
function partitionRecord(fields: readonly TypedPartitionField[]): AvroRecordSchema {
  const names = new Set<string>();
  return {
    type: 'record',
    name: 'r102',
    fields: fields.map(({ field, resultType }) => {
      // icebird reads partition values by name, and Avro names are restricted: a name Java would have to
      // sanitize (`_x2D`) is refused here rather than written differently from the spec.
      if (!AVRO_NAME.test(field.name)) throw new InternalError(`partition field "${field.name}": not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)`);
      if (names.has(field.name)) throw new InternalError(`partition field "${field.name}" appears twice in the spec`);
      names.add(field.name);
      return optional(field.name, field['field-id'], partitionAvroType(resultType, field['field-id']));
    }),
  };
}

/**
 * The Avro schema of a v2 manifest whose files were written with the given partition fields (the spec's
 * `manifest_entry`, with `referenced_data_file` (143); v3 fields left out). Field order is Java's.
 */
export function manifestEntrySchema(partitionFields: readonly TypedPartitionField[]): AvroRecordSchema {
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      required('status', 0, 'int'),
      optional('snapshot_id', 1, 'long'),
      optional('sequence_number', 3, 'long'),
      optional('file_sequence_number', 4, 'long'),
      required('data_file', 2, {
        type: 'record',
        name: 'r2',
        fields: [
          required('content', 134, 'int'),
          required('file_path', 100, 'string'),
          required('file_format', 101, 'string'),
          required('partition', 102, partitionRecord(partitionFields)),
          required('record_count', 103, 'long'),
          required('file_size_in_bytes', 104, 'long'),
          optional('column_sizes', 108, mapOf(117, 118, 'long')),
          optional('value_counts', 109, mapOf(119, 120, 'long')),
          optional('null_value_counts', 110, mapOf(121, 122, 'long')),
          optional('nan_value_counts', 137, mapOf(138, 139, 'long')),
          optional('lower_bounds', 125, mapOf(126, 127, 'bytes')),
          optional('upper_bounds', 128, mapOf(129, 130, 'bytes')),
          optional('key_metadata', 131, 'bytes'),
          optional('split_offsets', 132, listOf(133, 'long')),
          optional('equality_ids', 135, listOf(136, 'int')),
          optional('sort_order_id', 140, 'int'),
          optional('referenced_data_file', 143, 'string'),
        ],
      }),
    ],
  };
}

/** The Avro schema of a v2 manifest list (the spec's `manifest_file`, with the spec's field names; no v3 `first_row_id`). */
export function manifestListSchema(): AvroRecordSchema {
  return {
    type: 'record',
    name: 'manifest_file',
    fields: [
      required('manifest_path', 500, 'string'),
      required('manifest_length', 501, 'long'),
      required('partition_spec_id', 502, 'int'),
      required('content', 517, 'int'),
      required('sequence_number', 515, 'long'),
      required('min_sequence_number', 516, 'long'),
      required('added_snapshot_id', 503, 'long'),
      required('added_files_count', 504, 'int'),
      required('existing_files_count', 505, 'int'),
      required('deleted_files_count', 506, 'int'),
      required('added_rows_count', 512, 'long'),
      required('existing_rows_count', 513, 'long'),
      required('deleted_rows_count', 514, 'long'),
      optional(
        'partitions',
        507,
        listOf(508, {
          type: 'record',
          name: 'r508',
          fields: [
            required('contains_null', 509, 'boolean'),
            optional('contains_nan', 518, 'boolean'),
            optional('lower_bound', 510, 'bytes'),
            optional('upper_bound', 511, 'bytes'),
          ],
        }),
      ),
      optional('key_metadata', 519, 'bytes'),
    ],
  };
}

/**
 * The result type of each field of `spec` over `schema` (partition-transforms.ts `partitionResultType`, which
 * refuses a transform its source column's type does not take).
 */
export function partitionResultTypes(schema: IcebergSchema, spec: PartitionSpec): PartitionResultType[] {
  return spec.fields.map((field) => {
    const source = schema.fields.find((f) => f.id === field['source-id']);
    if (!source) throw new InternalError(`partition field "${field.name}": source column id ${field['source-id']} is not in schema ${schema['schema-id']}`);
    const type = partitionResultType(field.transform, source.type);
    if (typeof type !== 'string' || type === 'float' || type === 'double') {
      throw new InternalError(`partition field "${field.name}": a ${typeof type === 'string' ? type : 'list'} result has no partition value pgsip writes`);
    }
    return type;
  });
}

/** The spec's fields with their result types, checked to pair up. */
export function typedPartitionFields(spec: PartitionSpec, partitionTypes: readonly PartitionResultType[]): TypedPartitionField[] {
  if (partitionTypes.length !== spec.fields.length) {
    throw new InternalError(`partition spec ${spec['spec-id']} has ${spec.fields.length} fields but ${partitionTypes.length} result types were given`);
  }
  return spec.fields.map((field, i) => ({ field, resultType: partitionTypes[i] }));
}

// ---------------------------------------------------------------------------------------------------------------
// Container files

/** The container header and block, as avsc's own `containers.js` defines them (it does not export them). */
const FILE_OPTS = { namespace: 'org.apache.avro.file', registry: {} }; // one registry: the block names the header's Sync type
const HEADER_TYPE = avro.Type.forSchema(
  {
    type: 'record',
    name: 'Header',
    fields: [
      { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
      { name: 'meta', type: { type: 'map', values: 'bytes' } },
      { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
    ],
  },
  FILE_OPTS,
);
const BLOCK_TYPE = avro.Type.forSchema(
  {
    type: 'record',
    name: 'Block',
    fields: [
      { name: 'count', type: 'long' },
      { name: 'data', type: 'bytes' },
      { name: 'sync', type: 'Sync' },
    ],
  },
  FILE_OPTS,
);
const MAGIC = Buffer.from('Obj\x01', 'latin1');
/** Uncompressed bytes per block, avsc's default. */
const BLOCK_BYTES = 64 * 1024;

type AvscSchema = Parameters<typeof avro.Type.forSchema>[0];

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Avro `long`, exact: written from a safe-integer number or a bigint, read as a bigint. avsc's own long takes
 * numbers only and throws, nameless, on a 63-bit value (a Java snapshot id, a snowflake id partition value):
 * this one carries them whole, and reading refuses or maps them by field name (`DecodeOptions`).
 */
const LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: number | bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: number | string) => BigInt(v),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => Number.isSafeInteger(n) || (typeof n === 'bigint' && n >= INT64_MIN && n <= INT64_MAX),
  compare: (a: number | bigint, b: number | bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** A schema with `LONG` for every long, named or written `{"type": "long", ...}` (timestamps, whose logical type is ignored). */
function avscType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as AvscSchema, {
    typeHook: (s: unknown) => (s === 'long' || (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'long') ? LONG : undefined),
  });
}

/** Encodes one record, naming the offending field (avsc's own error names only the value). */
function encodeRecord(type: avro.Type, value: unknown, what: string): Buffer {
  try {
    return type.toBuffer(value);
  } catch (error) {
    const problems: string[] = [];
    type.isValid(value, {
      errorHook: (path: string[], val: unknown, t: avro.Type) => {
        problems.push(`${path.join('.') || '(record)'} = ${describeValue(val)} is not a valid ${t.typeName}`);
      },
    });
    throw new InternalError(`${what}: ${problems.length ? problems.join('; ') : (error as Error).message}`, { cause: error });
  }
}

function describeValue(value: unknown): string {
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === undefined) return 'undefined';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 60 ? `${json.slice(0, 60)}…` : json;
}

/** An Avro object container file, codec deflate (raw RFC 1951, the one codec besides null every reader has). */
function writeContainer(schema: AvroRecordSchema, records: readonly unknown[], metadata: Record<string, string>, syncMarker: Uint8Array | undefined, what: (i: number) => string): Uint8Array {
  // The schema JSON is written as given, so the header keeps `field-id`, `element-id`, `logicalType: "map"` and
  // `adjust-to-utc` (readers that go by id need them; a schema exported back from an avsc Type would not).
  const schemaJson = JSON.stringify(schema);
  const type = avscType(JSON.parse(schemaJson));
  const sync = syncMarker === undefined ? randomBytes(16) : Buffer.from(syncMarker);
  if (sync.length !== 16) throw new InternalError(`an Avro sync marker is 16 bytes, not ${sync.length}`);
  const meta: Record<string, Buffer> = { 'avro.schema': Buffer.from(schemaJson, 'utf8'), 'avro.codec': Buffer.from('deflate', 'utf8') };
  for (const [key, value] of Object.entries(metadata)) meta[key] = Buffer.from(value, 'utf8');

  const parts: Buffer[] = [HEADER_TYPE.toBuffer({ magic: MAGIC, meta, sync })];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pending.length === 0) return;
    parts.push(BLOCK_TYPE.toBuffer({ count: pending.length, data: deflateRawSync(Buffer.concat(pending)), sync }));
    pending = [];
    pendingBytes = 0;
  };
  records.forEach((record, i) => {
    const bytes = encodeRecord(type, record, what(i));
    pending.push(bytes);
    pendingBytes += bytes.length;
    if (pendingBytes >= BLOCK_BYTES) flush();
  });
  flush();
  // A copy in a buffer of its own: Buffer.concat may hand out a slice of Node's shared pool.
  return new Uint8Array(Buffer.concat(parts));
}

interface Container {
  metadata: Record<string, string>;
  /** The writer's schema, parsed from the header. */
  schema: unknown;
  records: unknown[];
}

function readContainer(bytes: Uint8Array, what: string): Container {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) throw new InputError(`${what}: not an Avro object container file (no "Obj\\x01" magic)`);
  const header = HEADER_TYPE.decode(buf, 0);
  if (header.offset < 0) throw new InputError(`${what}: the Avro header is truncated`);
  const { meta, sync } = header.value as { meta: Record<string, Buffer>; sync: Buffer };
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) metadata[key] = value.toString('utf8');

  const codec = metadata['avro.codec'] ?? 'null';
  if (codec !== 'null' && codec !== 'deflate') throw new InputError(`${what}: Avro codec "${codec}" is not supported (only null and deflate)`);
  if (metadata['avro.schema'] === undefined) throw new InputError(`${what}: the Avro header has no avro.schema`);
  let schema: unknown;
  let type: avro.Type;
  try {
    schema = JSON.parse(metadata['avro.schema']);
    type = avscType(schema);
  } catch (error) {
    throw new InputError(`${what}: its Avro schema cannot be parsed: ${(error as Error).message}`, { cause: error });
  }

  const records: unknown[] = [];
  let pos = header.offset;
  while (pos < buf.length) {
    const block = BLOCK_TYPE.decode(buf, pos);
    if (block.offset < 0) throw new InputError(`${what}: Avro block at byte ${pos} is truncated`);
    const { count, data, sync: blockSync } = block.value as { count: number; data: Buffer; sync: Buffer };
    if (!blockSync.equals(sync)) throw new InputError(`${what}: Avro block at byte ${pos} ends with the wrong sync marker`);
    let raw: Buffer;
    try {
      raw = codec === 'deflate' ? inflateRawSync(data) : data;
    } catch (error) {
      throw new InputError(`${what}: Avro block at byte ${pos} does not inflate: ${(error as Error).message}`, { cause: error });
    }
    let at = 0;
    for (let i = 0; i < count; i++) {
      let decoded: { value: unknown; offset: number };
      try {
        decoded = type.decode(raw, at);
      } catch (error) {
        throw new InputError(`${what}: record ${records.length} cannot be decoded: ${(error as Error).message}`, { cause: error });
      }
      if (decoded.offset < 0) throw new InputError(`${what}: record ${records.length} is truncated`);
      records.push(decoded.value);
      at = decoded.offset;
    }
    if (at !== raw.length) throw new InputError(`${what}: Avro block at byte ${pos} has ${raw.length - at} bytes past its ${count} records`);
    pos = block.offset;
  }
  return { metadata, schema, records };
}

// ---------------------------------------------------------------------------------------------------------------
// Values

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function mapToAvro<V, W>(map: Map<number, V>, value: (v: V) => W): { key: number; value: W }[] {
  return [...map].map(([key, v]) => ({ key, value: value(v) }));
}

/** A decimal partition value (unscaled) as Avro stores it: big-endian two's complement sign-extended to the fixed size. */
function fixedDecimal(value: bigint, precision: number, what: string): Buffer {
  const limit = 10n ** BigInt(precision);
  if (value >= limit || value <= -limit) throw new InternalError(`${what}: unscaled ${value} has more than the ${precision} digits of its type`);
  const size = decimalRequiredBytes(precision);
  const out = Buffer.alloc(size);
  let v = BigInt.asUintN(8 * size, value);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The signed big-endian integer in `bytes` (a decimal's unscaled value). */
function twosComplementValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return bytes.length === 0 ? 0n : BigInt.asIntN(8 * bytes.length, v);
}

/** Whether `value` is what a `resultType` partition field holds (see `PartitionValue`). */
function fitsResultType(value: Exclude<PartitionValue, null>, resultType: PartitionResultType): boolean {
  switch (resultType) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'int':
    case 'date':
      return typeof value === 'number' && Number.isInteger(value);
    case 'string':
      return typeof value === 'string';
    case 'binary':
      return value instanceof Uint8Array;
    default: // long, timestamps, decimal
      return typeof value === 'bigint' || Number.isSafeInteger(value);
  }
}

function partitionToAvro(partition: PartitionValues, fields: readonly TypedPartitionField[], what: string): Record<string, unknown> {
  const names = new Set(fields.map((f) => f.field.name));
  for (const key of Object.keys(partition)) {
    if (!names.has(key)) throw new InternalError(`${what}: partition value "${key}" is not a field of the partition spec (${[...names].join(', ') || 'unpartitioned'})`);
  }
  const out: Record<string, unknown> = {};
  for (const { field, resultType } of fields) {
    if (!(field.name in partition)) throw new InternalError(`${what}: no value for partition field "${field.name}" (null for a null value)`);
    const value = partition[field.name];
    const where = `${what}, partition field "${field.name}"`;
    if (value === null) {
      out[field.name] = null;
      continue;
    }
    if (!fitsResultType(value, resultType)) throw new InternalError(`${where}: ${describeValue(value)} is not a valid ${resultType} partition value`);
    const decimal = decimalOf(resultType);
    if (decimal) out[field.name] = fixedDecimal(BigInt(value as number | bigint), decimal.precision, where);
    else if (value instanceof Uint8Array) out[field.name] = toBuffer(value);
    else out[field.name] = value; // avsc checks the int range, naming the field.
  }
  return out;
}

function dataFileToAvro(file: DataFile, fields: readonly TypedPartitionField[], what: string): Record<string, unknown> {
  return {
    content: file.content,
    file_path: file.file_path,
    file_format: file.file_format,
    partition: partitionToAvro(file.partition, fields, what),
    record_count: file.record_count,
    file_size_in_bytes: file.file_size_in_bytes,
    // Written as arrays even when empty, as Java does when it collected a metric and found nothing to record.
    column_sizes: mapToAvro(file.column_sizes, (v) => v),
    value_counts: mapToAvro(file.value_counts, (v) => v),
    null_value_counts: mapToAvro(file.null_value_counts, (v) => v),
    nan_value_counts: mapToAvro(file.nan_value_counts, (v) => v),
    lower_bounds: mapToAvro(file.lower_bounds, toBuffer),
    upper_bounds: mapToAvro(file.upper_bounds, toBuffer),
    key_metadata: null,
    split_offsets: file.split_offsets,
    equality_ids: null,
    sort_order_id: file.sort_order_id,
    referenced_data_file: file.referenced_data_file,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests

export interface ManifestMeta {
  /** The table schema the files were written with (its JSON, `schema-id` included, goes in the header). */
  schema: IcebergSchema;
  /** The one partition spec every entry's file was written with. */
  spec: PartitionSpec;
  /** The result type of each spec field, in spec order; computed from `schema` and `spec` when absent (`partitionResultTypes`). */
  partitionTypes?: readonly PartitionResultType[];
  /** `data` for data files (content 0), `deletes` for delete files: Iceberg never mixes them in one manifest. */
  content: 'data' | 'deletes';
  /** The file's 16-byte sync marker; random when absent. Fixing it makes the bytes a function of the input. */
  syncMarker?: Uint8Array;
}

/**
 * A v2 manifest: an Avro container of `manifest_entry` records, codec deflate, with the spec's header keys
 * (`schema`, `schema-id`, `partition-spec`, `partition-spec-id`, `format-version`, `content`). DuckDB needs
 * `schema-id`, `partition-spec-id`, `format-version` and `content`; Java and pyiceberg do not write `schema-id`.
 */
export function encodeManifest(entries: readonly ManifestEntry[], meta: ManifestMeta): Uint8Array {
  const fields = typedPartitionFields(meta.spec, meta.partitionTypes ?? partitionResultTypes(meta.schema, meta.spec));
  const fileContent = meta.content === 'data' ? 0 : 1;
  const records = entries.map((entry, i) => {
    const what = `manifest entry ${i} (${entry.data_file.file_path})`;
    if (entry.data_file.content !== fileContent) {
      throw new InternalError(`${what}: a file of content ${entry.data_file.content} cannot go in a ${meta.content} manifest`);
    }
    // Only ADDED entries inherit sequence numbers; Java and pyiceberg refuse a null one anywhere else.
    if (entry.status !== 1 && (entry.sequence_number === null || entry.file_sequence_number === null)) {
      throw new InternalError(`${what}: ${entry.status === 0 ? 'an EXISTING' : 'a DELETED'} entry must carry both sequence numbers (spec "Sequence Number Inheritance")`);
    }
    return {
      status: entry.status,
      snapshot_id: entry.snapshot_id,
      sequence_number: entry.sequence_number,
      file_sequence_number: entry.file_sequence_number,
      data_file: dataFileToAvro(entry.data_file, fields, what),
    };
  });
  const metadata: Record<string, string> = {
    schema: JSON.stringify(meta.schema),
    'schema-id': String(meta.schema['schema-id']),
    // The fields array alone, keys in Java's order, as Java writes it.
    'partition-spec': JSON.stringify(meta.spec.fields.map((f) => ({ name: f.name, transform: f.transform, 'source-id': f['source-id'], 'field-id': f['field-id'] }))),
    'partition-spec-id': String(meta.spec['spec-id']),
    'format-version': '2',
    content: meta.content,
  };
  return writeContainer(manifestEntrySchema(fields), records, metadata, meta.syncMarker, (i) => `manifest entry ${i} (${entries[i].data_file.file_path})`);
}

export interface ManifestListMeta {
  snapshotId: number;
  parentSnapshotId: number | null;
  /** The snapshot's sequence number. */
  sequenceNumber: number;
  /** The file's 16-byte sync marker; random when absent. */
  syncMarker?: Uint8Array;
}

/** A v2 manifest list: an Avro container of `manifest_file` records with Java's header keys. */
export function encodeManifestList(files: readonly ManifestFile[], meta: ManifestListMeta): Uint8Array {
  const records = files.map((file) => ({
    manifest_path: file.manifest_path,
    manifest_length: file.manifest_length,
    partition_spec_id: file.partition_spec_id,
    content: file.content,
    sequence_number: file.sequence_number,
    min_sequence_number: file.min_sequence_number,
    added_snapshot_id: file.added_snapshot_id,
    added_files_count: file.added_files_count,
    existing_files_count: file.existing_files_count,
    deleted_files_count: file.deleted_files_count,
    added_rows_count: file.added_rows_count,
    existing_rows_count: file.existing_rows_count,
    deleted_rows_count: file.deleted_rows_count,
    partitions:
      file.partitions === null
        ? null
        : file.partitions.map((p) => ({
            contains_null: p.contains_null,
            contains_nan: p.contains_nan,
            lower_bound: p.lower_bound === null ? null : toBuffer(p.lower_bound),
            upper_bound: p.upper_bound === null ? null : toBuffer(p.upper_bound),
          })),
    key_metadata: null,
  }));
  const metadata: Record<string, string> = {
    'snapshot-id': String(meta.snapshotId),
    // Java and pyiceberg write the string "null" for a first snapshot.
    'parent-snapshot-id': meta.parentSnapshotId === null ? 'null' : String(meta.parentSnapshotId),
    'sequence-number': String(meta.sequenceNumber),
    'format-version': '2',
  };
  return writeContainer(manifestListSchema(), records, metadata, meta.syncMarker, (i) => `manifest list entry ${i} (${files[i].manifest_path})`);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

export interface DecodeOptions {
  /**
   * Called for a long beyond what a number holds exactly (|v| > 2^53 - 1), with the field's name; its result is
   * used instead. Absent, such a long is refused. Java and Spark give snapshots 63-bit random ids, which pgsip's
   * numbers cannot carry: a reader that only needs the rest (files, counts, sequence numbers) may map them.
   */
  onUnsafeLong?: (field: string, value: bigint) => number;
}

/** Reads one decoded Avro record by field name, naming the field (path from the top record) in every error. */
class Fields {
  constructor(
    private readonly record: Record<string, unknown>,
    /** The record in errors: `manifest entry 3 (s3://…)`. */
    readonly where: string,
    private readonly options: DecodeOptions,
    /** Path of this record from the top one, e.g. `data_file.`. */
    private readonly prefix = '',
  ) {}

  private path(name: string): string {
    return `${this.prefix}${name}`;
  }

  has(name: string): boolean {
    return this.record[name] !== undefined && this.record[name] !== null;
  }

  private value(name: string): unknown {
    const v = this.record[name];
    if (v === undefined || v === null) throw new InputError(`${this.where}: required field ${this.path(name)} is missing or null`);
    return v;
  }

  private fail(name: string, expected: string, v: unknown): never {
    throw new InputError(`${this.where}: field ${this.path(name)} is ${describeValue(v)}, not ${expected}`);
  }

  string(name: string): string {
    const v = this.value(name);
    return typeof v === 'string' ? v : this.fail(name, 'a string', v);
  }

  optString(name: string): string | null {
    return this.has(name) ? this.string(name) : null;
  }

  int(name: string): number {
    const v = this.value(name);
    return typeof v === 'number' && Number.isInteger(v) ? v : this.fail(name, 'an int', v);
  }

  optInt(name: string): number | null {
    return this.has(name) ? this.int(name) : null;
  }

  boolean(name: string): boolean {
    const v = this.value(name);
    return typeof v === 'boolean' ? v : this.fail(name, 'a boolean', v);
  }

  optBoolean(name: string): boolean | null {
    return this.has(name) ? this.boolean(name) : null;
  }

  long(name: string): number {
    return this.number(name, this.value(name));
  }

  optLong(name: string): number | null {
    return this.has(name) ? this.long(name) : null;
  }

  /** A long (bigint from the exact reader; number from a logical type's plain long) as an exact number. */
  number(name: string, v: unknown): number {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v !== 'bigint') return this.fail(name, 'a long', v);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
    if (this.options.onUnsafeLong) return this.options.onUnsafeLong(this.path(name), v);
    throw new InputError(`${this.where}: field ${this.path(name)} is ${v}, beyond 2^53, which pgsip cannot hold exactly (an id from an engine that uses 63-bit ids?)`);
  }

  bytes(name: string): Uint8Array {
    const v = this.value(name);
    // A copy: a plain Uint8Array that does not keep the whole inflated block alive.
    return Buffer.isBuffer(v) ? new Uint8Array(v) : this.fail(name, 'bytes', v);
  }

  optBytes(name: string): Uint8Array | null {
    return this.has(name) ? this.bytes(name) : null;
  }

  sub(name: string, where = this.where): Fields {
    const v = this.value(name);
    if (typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) return this.fail(name, 'a record', v);
    return new Fields(v as Record<string, unknown>, where, this.options, `${this.path(name)}.`);
  }

  optArray(name: string): unknown[] | null {
    if (!this.has(name)) return null;
    const v = this.value(name);
    return Array.isArray(v) ? v : this.fail(name, 'an array', v);
  }

  /** Items of an array of records, each read as a record. */
  records(name: string): Fields[] | null {
    return (
      this.optArray(name)?.map((item, i) => {
        if (typeof item !== 'object' || item === null || Buffer.isBuffer(item)) return this.fail(`${name}[${i}]`, 'a record', item);
        return new Fields(item as Record<string, unknown>, this.where, this.options, `${this.path(name)}[${i}].`);
      }) ?? null
    );
  }

  /** An int-keyed map (array of key/value records); absent or null reads as empty. */
  map<V>(name: string, value: (item: Fields) => V): Map<number, V> {
    const out = new Map<number, V>();
    for (const item of this.records(name) ?? []) out.set(item.int('key'), value(item));
    return out;
  }

  /** The first of `names` the writer used (older Java names some fields differently). */
  firstOf(names: readonly string[]): string {
    return names.find((n) => n in this.record) ?? names[0];
  }

  raw(name: string): unknown {
    return this.record[name];
  }

  keys(): string[] {
    return Object.keys(this.record);
  }
}

type SchemaNode = Record<string, unknown>;

/**
 * The partition fields whose Avro type is a decimal, found in the writer's schema (by-name references to fixed
 * types, which Java writes for a second decimal of the same precision and scale, are followed).
 */
function decimalPartitionFields(schema: unknown): Set<string> {
  const named = new Map<string, SchemaNode>();
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (typeof node === 'object' && node !== null) {
      const n = node as SchemaNode;
      if (typeof n.name === 'string' && (n.type === 'fixed' || n.type === 'record' || n.type === 'enum')) named.set(n.name, n);
      if (Array.isArray(n.fields)) for (const f of n.fields as SchemaNode[]) collect(f.type);
      collect(n.items);
      collect(n.values);
      if (typeof n.type === 'object') collect(n.type);
    }
  };
  collect(schema);
  const resolve = (t: unknown): unknown => {
    if (Array.isArray(t)) return resolve(t.find((b) => b !== 'null'));
    if (typeof t === 'string') return named.get(t) ?? t;
    return t;
  };
  const out = new Set<string>();
  const partition = named.get('r102');
  for (const f of (partition?.fields as SchemaNode[] | undefined) ?? []) {
    const t = resolve(f.type);
    if (typeof t === 'object' && t !== null && (t as SchemaNode).logicalType === 'decimal') out.add(String(f.name));
  }
  return out;
}

function partitionFromAvro(partition: Fields, decimals: ReadonlySet<string>): PartitionValues {
  const out: PartitionValues = {};
  for (const name of partition.keys()) {
    const v = partition.raw(name);
    if (v === null || v === undefined) out[name] = null;
    // int and date come as numbers, long and timestamps as bigints (exact), boolean and string as themselves.
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') out[name] = v;
    else if (Buffer.isBuffer(v)) out[name] = decimals.has(name) ? twosComplementValue(v) : new Uint8Array(v);
    else throw new InputError(`${partition.where}: partition field ${name} holds a ${typeof v}, a partition type pgsip does not read`);
  }
  return out;
}

function entryFromAvro(record: unknown, index: number, decimals: ReadonlySet<string>, options: DecodeOptions): ManifestEntry {
  const entry = new Fields(record as Record<string, unknown>, `manifest entry ${index}`, options);
  const status = entry.int('status');
  if (status !== 0 && status !== 1 && status !== 2) throw new InputError(`manifest entry ${index}: status ${status} is not 0 (EXISTING), 1 (ADDED) or 2 (DELETED)`);
  const path = entry.sub('data_file').string('file_path');
  const where = `manifest entry ${index} (${path})`;
  const file = entry.sub('data_file', where);
  // v1 manifests have no content field: every v1 file is a data file.
  const content = file.has('content') ? file.int('content') : 0;
  if (content === 2) throw new InputError(`${where}: an equality delete file, which pgsip does not read (only data and position delete files)`);
  if (content !== 0 && content !== 1) throw new InputError(`${where}: content ${content} is not 0 (data) or 1 (position deletes)`);
  const format = file.string('file_format');
  if (format.toUpperCase() !== 'PARQUET') throw new InputError(`${where}: file format ${format}, and pgsip reads Parquet files only`);
  const count = (item: Fields): number => item.long('value');
  const bound = (item: Fields): Uint8Array => item.bytes('value');
  return {
    status: status as EntryStatus,
    snapshot_id: entry.optLong('snapshot_id'),
    sequence_number: entry.optLong('sequence_number'),
    file_sequence_number: entry.optLong('file_sequence_number'),
    data_file: {
      content,
      file_path: path,
      file_format: 'PARQUET',
      partition: partitionFromAvro(file.sub('partition'), decimals),
      record_count: file.long('record_count'),
      file_size_in_bytes: file.long('file_size_in_bytes'),
      column_sizes: file.map('column_sizes', count),
      value_counts: file.map('value_counts', count),
      null_value_counts: file.map('null_value_counts', count),
      nan_value_counts: file.map('nan_value_counts', count),
      lower_bounds: file.map('lower_bounds', bound),
      upper_bounds: file.map('upper_bounds', bound),
      split_offsets: file.optArray('split_offsets')?.map((v, i) => file.number(`split_offsets[${i}]`, v)) ?? null,
      sort_order_id: file.optInt('sort_order_id'),
      referenced_data_file: file.optString('referenced_data_file'),
    },
  };
}

export interface DecodedManifest {
  entries: ManifestEntry[];
  /** `partition-spec-id` of the header. */
  specId: number;
  content: 'data' | 'deletes';
  /** `schema` of the header: the table schema's JSON the files were written with. */
  schemaJson: string;
}

/**
 * A manifest's entries and header, as written (sequence numbers and snapshot ids not inherited: null stays null).
 * Reads pgsip's and Java/Spark's manifests; refuses equality delete files, non-Parquet files and codecs other than
 * null and deflate.
 */
export function decodeManifest(bytes: Uint8Array, options: DecodeOptions = {}): DecodedManifest {
  const { metadata, schema, records } = readContainer(bytes, 'manifest');
  const specId = Number(metadata['partition-spec-id']);
  if (metadata['partition-spec-id'] === undefined || !Number.isInteger(specId)) {
    throw new InputError(`manifest: header key partition-spec-id is ${metadata['partition-spec-id'] === undefined ? 'missing' : JSON.stringify(metadata['partition-spec-id'])}`);
  }
  // v1 manifests have no content key and hold data files only.
  const content = metadata.content ?? 'data';
  if (content !== 'data' && content !== 'deletes') throw new InputError(`manifest: header key content is ${JSON.stringify(content)}, not data or deletes`);
  const schemaJson = metadata.schema;
  if (schemaJson === undefined) throw new InputError('manifest: the header has no schema key');
  const decimals = decimalPartitionFields(schema);
  return { entries: records.map((r, i) => entryFromAvro(r, i, decimals, options)), specId, content, schemaJson };
}

/** Counts Java once named `added_data_files_count` etc.; the spec (and icebird, DuckDB) use the short names. */
const COUNT_NAMES = {
  added: ['added_files_count', 'added_data_files_count'],
  existing: ['existing_files_count', 'existing_data_files_count'],
  deleted: ['deleted_files_count', 'deleted_data_files_count'],
} as const;

/** A manifest list's entries (pgsip's, Java's and Spark's). */
export function decodeManifestList(bytes: Uint8Array, options: DecodeOptions = {}): ManifestFile[] {
  const { records } = readContainer(bytes, 'manifest list');
  return records.map((record, index) => {
    const peek = record as Record<string, unknown>;
    const where = `manifest list entry ${index}${typeof peek.manifest_path === 'string' ? ` (${peek.manifest_path})` : ''}`;
    const f = new Fields(peek, where, options);
    const content = f.has('content') ? f.int('content') : 0;
    if (content !== 0 && content !== 1) throw new InputError(`${where}: content ${content} is not 0 (data) or 1 (deletes)`);
    return {
      manifest_path: f.string('manifest_path'),
      manifest_length: f.long('manifest_length'),
      partition_spec_id: f.int('partition_spec_id'),
      content,
      // v1 manifest lists have no sequence numbers: the spec reads them as 0.
      sequence_number: f.has('sequence_number') ? f.long('sequence_number') : 0,
      min_sequence_number: f.has('min_sequence_number') ? f.long('min_sequence_number') : 0,
      added_snapshot_id: f.long('added_snapshot_id'),
      added_files_count: f.int(f.firstOf(COUNT_NAMES.added)),
      existing_files_count: f.int(f.firstOf(COUNT_NAMES.existing)),
      deleted_files_count: f.int(f.firstOf(COUNT_NAMES.deleted)),
      added_rows_count: f.long('added_rows_count'),
      existing_rows_count: f.long('existing_rows_count'),
      deleted_rows_count: f.long('deleted_rows_count'),
      partitions:
        f.records('partitions')?.map(
          (s): PartitionFieldSummary => ({
            contains_null: s.boolean('contains_null'),
            contains_nan: s.optBoolean('contains_nan'),
            lower_bound: s.optBytes('lower_bound'),
            upper_bound: s.optBytes('upper_bound'),
          }),
        ) ?? null,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Partition summaries

/** Iceberg's order of two values of one result type (both checked by `fitsResultType`). */
function comparePartitionValues(a: Exclude<PartitionValue, null>, b: Exclude<PartitionValue, null>, resultType: PartitionResultType): number {
  switch (resultType) {
    case 'boolean':
    case 'int':
    case 'date':
      return Number(a) - Number(b) < 0 ? -1 : Number(a) === Number(b) ? 0 : 1; // false before true
    case 'string':
      // By UTF-8 bytes, which is code point order (JS `<` compares UTF-16 units: wrong above U+FFFF).
      return Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'));
    case 'binary':
      return Buffer.compare(toBuffer(a as Uint8Array), toBuffer(b as Uint8Array)); // unsigned bytes
    default: {
      // long, timestamps, decimal (unscaled, one scale per field): by value, numbers and bigints alike.
      const x = BigInt(a as number | bigint);
      const y = BigInt(b as number | bigint);
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}

/**
 * The `partitions` summaries of a manifest list entry: per spec field, whether any entry's value is null, and the
 * single-value serialization (`serialize`: spec Appendix D of the field's result type, e.g.
 * `(v, t) => serializeValue(t, v)` of single-value.ts) of the smallest and largest non-null value; bounds null when
 * every value is null (or there are no entries). Every entry counts, DELETED ones too, as in Java's
 * `ManifestWriter` (a wider range is still a correct summary). No result type pgsip writes is a float, so
 * `contains_nan` is false, which is what Java writes for non-float types.
 */
export function partitionSummaries(
  entries: readonly ManifestEntry[],
  fields: readonly TypedPartitionField[],
  serialize: (value: Exclude<PartitionValue, null>, resultType: PartitionResultType) => Uint8Array,
): PartitionFieldSummary[] {
  return fields.map(({ field, resultType }) => {
    let containsNull = false;
    let lower: Exclude<PartitionValue, null> | null = null;
    let upper: Exclude<PartitionValue, null> | null = null;
    entries.forEach((entry, i) => {
      const what = `manifest entry ${i} (${entry.data_file.file_path}), partition field "${field.name}"`;
      if (!(field.name in entry.data_file.partition)) throw new InternalError(`${what}: no value`);
      const value = entry.data_file.partition[field.name];
      if (value === null) {
        containsNull = true;
        return;
      }
      if (!fitsResultType(value, resultType)) throw new InternalError(`${what}: ${describeValue(value)} is not a valid ${resultType} partition value`);
      if (lower === null || comparePartitionValues(value, lower, resultType) < 0) lower = value;
      if (upper === null || comparePartitionValues(value, upper, resultType) > 0) upper = value;
    });
    return {
      contains_null: containsNull,
      contains_nan: false,
      lower_bound: lower === null ? null : serialize(lower, resultType),
      upper_bound: upper === null ? null : serialize(upper, resultType),
    };
  });
}
