/**
 * Manifests and manifest lists in Avro: written and read back (every field, maps, bounds, nulls, partition values
 * of every result type pgsip writes), read by fastavro (an independent Avro implementation) with the writer's
 * schema checked against the spec's field-id table, read by avsc's own container streams and by icebird 0.3.1
 * (a reader that goes by field name and cannot follow named-type references), and Java/Spark-written files read
 * by pgsip's reader (test/fixtures/iceberg, from icebird's tests), checked against fastavro's reading of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { avroMetadata, avroRead } from 'icebird';
import { describe, expect, it } from 'vitest';
import {
  decimalRequiredBytes,
  decodeManifest,
  decodeManifestList,
  encodeManifest,
  encodeManifestList,
  manifestEntrySchema,
  manifestListSchema,
  partitionResultTypes,
  partitionSummaries,
  typedPartitionFields,
  type PartitionResultType,
  type PartitionValue,
  type TypedPartitionField,
} from '../../../../lambdas/engine/iceberg/manifest-avro';
import type { DataFile, IcebergSchema, ManifestEntry, ManifestFile, PartitionSpec, PartitionValues } from '../../../../lambdas/engine/iceberg/model';
import { readWithFastavro, type FastavroFile, type FastavroValue } from '../../../support/fastavro-read';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/iceberg/', import.meta.url));
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SYNC = Uint8Array.from({ length: 16 }, (_, i) => i * 7);

// ---------------------------------------------------------------------------------------------------------------
// A table partitioned by every result type pgsip writes

const SCHEMA: IcebergSchema = {
  type: 'struct',
  'schema-id': 3,
  fields: [
    { id: 1, name: 'id', required: false, type: 'int' },
    { id: 2, name: 'created', required: false, type: 'timestamptz' },
    { id: 3, name: 'name', required: false, type: 'string' },
    { id: 4, name: 'big', required: false, type: 'long' },
    { id: 5, name: 'price', required: false, type: 'decimal(10, 2)' },
    { id: 6, name: 'flag', required: false, type: 'boolean' },
    { id: 7, name: 'ts', required: false, type: 'timestamp' },
    { id: 8, name: 'raw', required: false, type: 'binary' },
    { id: 9, name: 'cost', required: false, type: 'decimal(10, 2)' },
    { id: 10, name: 'd', required: false, type: 'date' },
  ],
};

const SPEC: PartitionSpec = {
  'spec-id': 2,
  fields: [
    { name: 'id_bucket', transform: 'bucket[4]', 'source-id': 1, 'field-id': 1000 },
    { name: 'created_day', transform: 'day', 'source-id': 2, 'field-id': 1001 },
    { name: 'name_trunc', transform: 'truncate[3]', 'source-id': 3, 'field-id': 1002 },
    { name: 'big', transform: 'identity', 'source-id': 4, 'field-id': 1003 },
    { name: 'price', transform: 'identity', 'source-id': 5, 'field-id': 1004 },
    { name: 'flag', transform: 'identity', 'source-id': 6, 'field-id': 1005 },
    { name: 'ts', transform: 'identity', 'source-id': 7, 'field-id': 1006 },
    { name: 'raw_trunc', transform: 'truncate[2]', 'source-id': 8, 'field-id': 1007 },
    { name: 'cost', transform: 'identity', 'source-id': 9, 'field-id': 1008 },
    { name: 'd_month', transform: 'month', 'source-id': 10, 'field-id': 1009 },
  ],
};

const TYPES: PartitionResultType[] = ['int', 'date', 'string', 'long', 'decimal(10, 2)', 'boolean', 'timestamp', 'binary', 'decimal(10, 2)', 'int'];
const FIELDS = typedPartitionFields(SPEC, TYPES);
const UNPARTITIONED: PartitionSpec = { 'spec-id': 0, fields: [] };

function dataFile(over: Partial<DataFile>): DataFile {
  return {
    content: 0,
    file_path: 's3://bucket/t/data/part-0.parquet',
    file_format: 'PARQUET',
    partition: {},
    record_count: 10,
    file_size_in_bytes: 4096,
    column_sizes: new Map(),
    value_counts: new Map(),
    null_value_counts: new Map(),
    nan_value_counts: new Map(),
    lower_bounds: new Map(),
    upper_bounds: new Map(),
    split_offsets: null,
    sort_order_id: 0,
    referenced_data_file: null,
    ...over,
  };
}

const ALL_NULL: PartitionValues = Object.fromEntries(SPEC.fields.map((f) => [f.name, null]));

const ENTRIES: ManifestEntry[] = [
  {
    status: 1,
    snapshot_id: 1234567890123,
    sequence_number: null,
    file_sequence_number: null,
    data_file: dataFile({
      file_path: 's3://bucket/t/data/run=1/part-0.parquet',
      partition: {
        id_bucket: 3,
        created_day: 20089, // 2025-01-01
        name_trunc: 'abc',
        big: 2n ** 60n + 7n,
        price: -142000n, // -1420.00
        flag: true,
        ts: 1735732800000000n,
        raw_trunc: bytes(0x00, 0xff),
        cost: 9999999999n, // the largest decimal(10, 2)
        d_month: 660,
      },
      record_count: 21,
      file_size_in_bytes: 3224,
      column_sizes: new Map([
        [1, 249],
        [2, 128],
      ]),
      value_counts: new Map([
        [1, 21],
        [2, 21],
      ]),
      null_value_counts: new Map([
        [1, 0],
        [2, 3],
      ]),
      nan_value_counts: new Map([[11, 2]]),
      lower_bounds: new Map([
        [1, bytes(1, 0, 0, 0)],
        [3, utf8('a')],
      ]),
      upper_bounds: new Map([
        [1, bytes(9, 0, 0, 0)],
        [3, utf8('zz')],
      ]),
      split_offsets: [4, 1048576],
    }),
  },
  {
    status: 0,
    snapshot_id: 77,
    sequence_number: 3,
    file_sequence_number: 2,
    data_file: dataFile({ file_path: 's3://bucket/t/data/run=0/part-1.parquet', partition: ALL_NULL, record_count: 5, split_offsets: [4] }),
  },
  {
    status: 2,
    snapshot_id: Number.MAX_SAFE_INTEGER,
    sequence_number: 1,
    file_sequence_number: 1,
    data_file: dataFile({
      file_path: 's3://bucket/t/data/run=0/part-0.parquet',
      partition: {
        id_bucket: 0,
        created_day: -1, // 1969-12-31
        name_trunc: '',
        big: -(2n ** 63n),
        price: 0n,
        flag: false,
        ts: -1n,
        raw_trunc: new Uint8Array(0),
        cost: -9999999999n,
        d_month: -12,
      },
      record_count: 0,
      file_size_in_bytes: Number.MAX_SAFE_INTEGER,
      sort_order_id: null,
    }),
  },
];

const DELETE_ENTRIES: ManifestEntry[] = [
  {
    status: 1,
    snapshot_id: null,
    sequence_number: null,
    file_sequence_number: null,
    data_file: dataFile({
      content: 1,
      file_path: 's3://bucket/t/data/run=2/delete-0.parquet',
      record_count: 2,
      file_size_in_bytes: 1376,
      column_sizes: new Map([
        [2147483546, 146],
        [2147483545, 59],
      ]),
      lower_bounds: new Map([
        [2147483546, utf8('s3://bucket/t/data/run=1/part-0.parquet')],
        [2147483545, bytes(2, 0, 0, 0, 0, 0, 0, 0)],
      ]),
      upper_bounds: new Map([
        [2147483546, utf8('s3://bucket/t/data/run=1/part-0.parquet')],
        [2147483545, bytes(11, 0, 0, 0, 0, 0, 0, 0)],
      ]),
      split_offsets: [4],
      sort_order_id: null,
      referenced_data_file: 's3://bucket/t/data/run=1/part-0.parquet',
    }),
  },
];

const LIST: ManifestFile[] = [
  {
    manifest_path: 's3://bucket/t/metadata/c0ffee-m0.avro',
    manifest_length: 7349,
    partition_spec_id: 2,
    content: 0,
    sequence_number: 4,
    min_sequence_number: 1,
    added_snapshot_id: 1234567890123,
    added_files_count: 1,
    existing_files_count: 1,
    deleted_files_count: 1,
    added_rows_count: 21,
    existing_rows_count: 5,
    deleted_rows_count: 0,
    partitions: [
      { contains_null: true, contains_nan: false, lower_bound: bytes(0, 0, 0, 0), upper_bound: bytes(3, 0, 0, 0) },
      { contains_null: true, contains_nan: null, lower_bound: null, upper_bound: null },
    ],
  },
  {
    manifest_path: 's3://bucket/t/metadata/c0ffee-m1.avro',
    manifest_length: 1,
    partition_spec_id: 0,
    content: 1,
    sequence_number: 4,
    min_sequence_number: 4,
    added_snapshot_id: Number.MAX_SAFE_INTEGER,
    added_files_count: 1,
    existing_files_count: 0,
    deleted_files_count: 0,
    added_rows_count: 2,
    existing_rows_count: 0,
    deleted_rows_count: 0,
    partitions: [],
  },
  {
    manifest_path: 's3://bucket/t/metadata/old-m0.avro',
    manifest_length: 2 ** 40,
    partition_spec_id: 0,
    content: 0,
    sequence_number: 1,
    min_sequence_number: 1,
    added_snapshot_id: 9,
    added_files_count: 0,
    existing_files_count: 2 ** 31 - 1,
    deleted_files_count: 0,
    added_rows_count: 0,
    existing_rows_count: 2 ** 52,
    deleted_rows_count: 0,
    partitions: null,
  },
];

const manifestBytes = (): Uint8Array => encodeManifest(ENTRIES, { schema: SCHEMA, spec: SPEC, partitionTypes: TYPES, content: 'data', syncMarker: SYNC });
const deleteManifestBytes = (): Uint8Array => encodeManifest(DELETE_ENTRIES, { schema: SCHEMA, spec: UNPARTITIONED, content: 'deletes' });
const listBytes = (): Uint8Array => encodeManifestList(LIST, { snapshotId: 1234567890123, parentSnapshotId: null, sequenceNumber: 4 });

// ---------------------------------------------------------------------------------------------------------------
// Schemas

describe('Avro schemas', () => {
  it('derives each partition field result type from its transform and source column', () => {
    expect(partitionResultTypes(SCHEMA, SPEC)).toEqual(TYPES);
  });

  it('builds r102 from the spec: optional fields with the spec field ids, dates and timestamps as logical types, a uniquely named fixed per decimal', () => {
    const schema = manifestEntrySchema(FIELDS);
    const dataFileType = schema.fields.find((f) => f.name === 'data_file')!.type as { fields: { name: string; type: unknown }[] };
    const partition = dataFileType.fields.find((f) => f.name === 'partition');
    expect(partition).toEqual({
      name: 'partition',
      'field-id': 102,
      type: {
        type: 'record',
        name: 'r102',
        fields: [
          { name: 'id_bucket', type: ['null', 'int'], default: null, 'field-id': 1000 },
          { name: 'created_day', type: ['null', { type: 'int', logicalType: 'date' }], default: null, 'field-id': 1001 },
          { name: 'name_trunc', type: ['null', 'string'], default: null, 'field-id': 1002 },
          { name: 'big', type: ['null', 'long'], default: null, 'field-id': 1003 },
          { name: 'price', type: ['null', { type: 'fixed', name: 'decimal_10_2_1004', size: 5, logicalType: 'decimal', precision: 10, scale: 2 }], default: null, 'field-id': 1004 },
          { name: 'flag', type: ['null', 'boolean'], default: null, 'field-id': 1005 },
          { name: 'ts', type: ['null', { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': false }], default: null, 'field-id': 1006 },
          { name: 'raw_trunc', type: ['null', 'bytes'], default: null, 'field-id': 1007 },
          { name: 'cost', type: ['null', { type: 'fixed', name: 'decimal_10_2_1008', size: 5, logicalType: 'decimal', precision: 10, scale: 2 }], default: null, 'field-id': 1008 },
          { name: 'd_month', type: ['null', 'int'], default: null, 'field-id': 1009 },
        ],
      },
    });
    expect(JSON.stringify(manifestEntrySchema([]))).toContain('{"type":"record","name":"r102","fields":[]}');
  });

  it('sizes decimal fixed types as Java does (the fewest bytes holding 10^P - 1 signed)', () => {
    expect([1, 2, 3, 9, 10, 18, 19, 38].map(decimalRequiredBytes)).toEqual([1, 1, 2, 4, 5, 8, 9, 16]);
  });

  it('writes the manifest list schema Java writes (its field names, ids and order), without the docs', () => {
    // The reference's §3.2 schema: Java's `V2Metadata.MANIFEST_LIST_SCHEMA` as written in icebird's fixtures.
    const java = {
      type: 'record',
      name: 'manifest_file',
      fields: [
        { name: 'manifest_path', type: 'string', 'field-id': 500 },
        { name: 'manifest_length', type: 'long', 'field-id': 501 },
        { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
        { name: 'content', type: 'int', 'field-id': 517 },
        { name: 'sequence_number', type: 'long', 'field-id': 515 },
        { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
        { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
        { name: 'added_files_count', type: 'int', 'field-id': 504 },
        { name: 'existing_files_count', type: 'int', 'field-id': 505 },
        { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
        { name: 'added_rows_count', type: 'long', 'field-id': 512 },
        { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
        { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
        {
          name: 'partitions',
          type: [
            'null',
            {
              type: 'array',
              items: {
                type: 'record',
                name: 'r508',
                fields: [
                  { name: 'contains_null', type: 'boolean', 'field-id': 509 },
                  { name: 'contains_nan', type: ['null', 'boolean'], default: null, 'field-id': 518 },
                  { name: 'lower_bound', type: ['null', 'bytes'], default: null, 'field-id': 510 },
                  { name: 'upper_bound', type: ['null', 'bytes'], default: null, 'field-id': 511 },
                ],
              },
              'element-id': 508,
            },
          ],
          default: null,
          'field-id': 507,
        },
        { name: 'key_metadata', type: ['null', 'bytes'], default: null, 'field-id': 519 },
      ],
    };
    expect(manifestListSchema()).toEqual(java);
  });

  it('gives the manifest entry schema the Java fixture has, plus referenced_data_file, without the docs', () => {
    // The Java-written fixture's data_file fields with their ids and types (docs dropped), in Java's order.
    const header = avroHeader(fixture('spark-rename_column-m0.avro'));
    const javaSchema = stripDocs(JSON.parse(header['avro.schema'])) as { fields: { name: string; type: { fields: { name: string }[] } }[] };
    const ours = manifestEntrySchema(typedPartitionFields({ 'spec-id': 0, fields: [{ name: 'id_bucket', transform: 'bucket[4]', 'source-id': 1, 'field-id': 1000 }, { name: 'date', transform: 'identity', 'source-id': 3, 'field-id': 1001 }] }, ['int', 'date']));
    const withoutReferenced = JSON.parse(JSON.stringify(ours)) as typeof javaSchema;
    const r2 = withoutReferenced.fields.find((f) => f.name === 'data_file')!.type;
    expect(r2.fields.pop()!.name).toBe('referenced_data_file');
    // Key order differs (Java writes "type" before "default"); compare as values.
    expect(withoutReferenced).toEqual(javaSchema);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Round trips

describe('encode then decode', () => {
  it('gives back every manifest entry: statuses, inherited and explicit sequence numbers, maps, bounds, nulls, partition values of every type', () => {
    const decoded = decodeManifest(manifestBytes());
    expect(decoded.entries).toEqual(ENTRIES);
    expect(decoded.specId).toBe(2);
    expect(decoded.content).toBe('data');
    expect(decoded.schemaJson).toBe(JSON.stringify(SCHEMA));
    // A plain Uint8Array, not a view of the decoder's buffers.
    expect(decoded.entries[0].data_file.lower_bounds.get(1)!.constructor).toBe(Uint8Array);
  });

  it('gives back a delete manifest: position delete files with their referenced data file and no sort order', () => {
    const decoded = decodeManifest(deleteManifestBytes());
    expect(decoded.entries).toEqual(DELETE_ENTRIES);
    expect(decoded.content).toBe('deletes');
    expect(decoded.specId).toBe(0);
  });

  it('gives back a manifest list: counts, sequence numbers, summaries with null bounds and contains_nan, null and empty partitions', () => {
    expect(decodeManifestList(listBytes())).toEqual(LIST);
  });

  it('reads long partition values written as numbers back as bigints', () => {
    const entry: ManifestEntry = { ...ENTRIES[0], data_file: { ...ENTRIES[0].data_file, partition: { ...ENTRIES[0].data_file.partition, big: 42, ts: 7, price: -5 } } };
    const [back] = decodeManifest(encodeManifest([entry], { schema: SCHEMA, spec: SPEC, content: 'data' })).entries;
    expect(back.data_file.partition).toMatchObject({ big: 42n, ts: 7n, price: -5n });
  });

  it('writes an empty manifest and manifest list that read back empty', () => {
    expect(decodeManifest(encodeManifest([], { schema: SCHEMA, spec: SPEC, content: 'data' })).entries).toEqual([]);
    expect(decodeManifestList(encodeManifestList([], { snapshotId: 1, parentSnapshotId: 0, sequenceNumber: 1 }))).toEqual([]);
  });

  it('splits a large manifest into several deflate blocks and reads them all back', () => {
    const many = Array.from({ length: 1500 }, (_, i) => ({ ...ENTRIES[0], data_file: { ...ENTRIES[0].data_file, file_path: `s3://bucket/t/data/part-${i}.parquet` } }));
    const encoded = encodeManifest(many, { schema: SCHEMA, spec: SPEC, partitionTypes: TYPES, content: 'data', syncMarker: SYNC });
    expect(countSync(encoded, SYNC)).toBeGreaterThan(2); // the header's marker and one per block
    expect(decodeManifest(encoded).entries).toEqual(many);
  });

  it('writes the same bytes for the same input and sync marker, and a random marker otherwise', () => {
    expect(Buffer.from(manifestBytes()).equals(Buffer.from(manifestBytes()))).toBe(true);
    const a = encodeManifest(ENTRIES, { schema: SCHEMA, spec: SPEC, content: 'data' });
    const b = encodeManifest(ENTRIES, { schema: SCHEMA, spec: SPEC, content: 'data' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(a.length).toBe(b.length);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// fastavro

/** The spec's manifest_entry fields (reference §3.3, spec "Manifest Entry Fields", "Data File Fields"): path, field id, type. */
const SPEC_MANIFEST_ENTRY: [string, number, string][] = [
  ['status', 0, 'int'],
  ['snapshot_id', 1, 'long?'],
  ['sequence_number', 3, 'long?'],
  ['file_sequence_number', 4, 'long?'],
  ['data_file', 2, 'struct r2'],
  ['data_file.content', 134, 'int'],
  ['data_file.file_path', 100, 'string'],
  ['data_file.file_format', 101, 'string'],
  ['data_file.partition', 102, 'struct r102'],
  ['data_file.record_count', 103, 'long'],
  ['data_file.file_size_in_bytes', 104, 'long'],
  ['data_file.column_sizes', 108, 'map<117: int, 118: long>?'],
  ['data_file.value_counts', 109, 'map<119: int, 120: long>?'],
  ['data_file.null_value_counts', 110, 'map<121: int, 122: long>?'],
  ['data_file.nan_value_counts', 137, 'map<138: int, 139: long>?'],
  ['data_file.lower_bounds', 125, 'map<126: int, 127: bytes>?'],
  ['data_file.upper_bounds', 128, 'map<129: int, 130: bytes>?'],
  ['data_file.key_metadata', 131, 'bytes?'],
  ['data_file.split_offsets', 132, 'list<133: long>?'],
  ['data_file.equality_ids', 135, 'list<136: int>?'],
  ['data_file.sort_order_id', 140, 'int?'],
  ['data_file.referenced_data_file', 143, 'string?'],
];

/** The partition struct of SPEC: partition field ids, every field optional, Avro types of the result types. */
const SPEC_PARTITION: [string, number, string][] = [
  ['data_file.partition.id_bucket', 1000, 'int?'],
  ['data_file.partition.created_day', 1001, 'date?'],
  ['data_file.partition.name_trunc', 1002, 'string?'],
  ['data_file.partition.big', 1003, 'long?'],
  ['data_file.partition.price', 1004, 'decimal(10, 2) fixed[5]?'],
  ['data_file.partition.flag', 1005, 'boolean?'],
  ['data_file.partition.ts', 1006, 'timestamp?'],
  ['data_file.partition.raw_trunc', 1007, 'bytes?'],
  ['data_file.partition.cost', 1008, 'decimal(10, 2) fixed[5]?'],
  ['data_file.partition.d_month', 1009, 'int?'],
];

/** The spec's manifest_file fields (reference §3.2, spec "Manifest Lists"). */
const SPEC_MANIFEST_FILE: [string, number, string][] = [
  ['manifest_path', 500, 'string'],
  ['manifest_length', 501, 'long'],
  ['partition_spec_id', 502, 'int'],
  ['content', 517, 'int'],
  ['sequence_number', 515, 'long'],
  ['min_sequence_number', 516, 'long'],
  ['added_snapshot_id', 503, 'long'],
  ['added_files_count', 504, 'int'],
  ['existing_files_count', 505, 'int'],
  ['deleted_files_count', 506, 'int'],
  ['added_rows_count', 512, 'long'],
  ['existing_rows_count', 513, 'long'],
  ['deleted_rows_count', 514, 'long'],
  ['partitions', 507, 'list<508: struct r508>?'],
  ['partitions.contains_null', 509, 'boolean'],
  ['partitions.contains_nan', 518, 'boolean?'],
  ['partitions.lower_bound', 510, 'bytes?'],
  ['partitions.upper_bound', 511, 'bytes?'],
  ['key_metadata', 519, 'bytes?'],
];

type Node = Record<string, unknown>;

/** A type of fastavro's parsed schema, in the shorthand of the tables above ('T?' for ["null", T]). */
function render(type: unknown): string {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    if (type.length !== 2 || type[0] !== 'null') return `union ${JSON.stringify(type)}`;
    return `${render(type[1])}?`;
  }
  const t = type as Node;
  if (t.type === 'array' && t.logicalType === 'map') {
    const kv = t.items as { name: string; fields: Node[] };
    const [key, value] = kv.fields;
    const name = `k${String(key['field-id'])}_v${String(value['field-id'])}`;
    if (kv.name !== name || key.name !== 'key' || value.name !== 'value' || kv.fields.length !== 2) return `bad map ${JSON.stringify(t)}`;
    return `map<${String(key['field-id'])}: ${render(key.type)}, ${String(value['field-id'])}: ${render(value.type)}>`;
  }
  if (t.type === 'array') return `list<${String(t['element-id'])}: ${render(t.items)}>`;
  if (t.type === 'record') return `struct ${String(t.name)}`;
  if (t.type === 'int' && t.logicalType === 'date') return 'date';
  if (t.type === 'long' && t.logicalType === 'timestamp-micros') return t['adjust-to-utc'] === true ? 'timestamptz' : t['adjust-to-utc'] === false ? 'timestamp' : 'timestamp (no adjust-to-utc)';
  if (t.type === 'fixed' && t.logicalType === 'decimal') return `decimal(${String(t.precision)}, ${String(t.scale)}) fixed[${String(t.size)}]`;
  return JSON.stringify(t);
}

/** Every field of a record schema, nested records and lists of records included: [path, field-id, type]. */
function flatten(record: Node, prefix = ''): [string, number, string][] {
  const rows: [string, number, string][] = [];
  for (const field of record.fields as Node[]) {
    const path = `${prefix}${String(field.name)}`;
    rows.push([path, field['field-id'] as number, render(field.type)]);
    // Optional fields default to null, so a reader resolving an older file without them gets null.
    if (Array.isArray(field.type)) expect(field.default, `${path}: default`).toBeNull();
    const inner = (Array.isArray(field.type) ? field.type[1] : field.type) as Node;
    if (inner.type === 'record') rows.push(...flatten(inner, `${path}.`));
    if (inner.type === 'array' && inner.logicalType !== 'map' && (inner.items as Node).type === 'record') rows.push(...flatten(inner.items as Node, `${path}.`));
  }
  return rows;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const fvLong = (n: number | bigint): FastavroValue => (BigInt(n) > MAX_SAFE || BigInt(n) < -MAX_SAFE ? { $long: String(n) } : Number(n));
const fvCounts = (m: Map<number, number>): FastavroValue => [...m].map(([key, value]) => ({ key, value: fvLong(value) }));
const fvBounds = (m: Map<number, Uint8Array>): FastavroValue => [...m].map(([key, value]) => ({ key, value: { $bytes: hex(value) } }));

/** A decimal's value as Python's `str(Decimal)` writes it at this scale. */
function decimalString(unscaled: bigint, scale: number): string {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${unscaled < 0n ? '-' : ''}${digits.slice(0, digits.length - scale)}${scale > 0 ? `.${digits.slice(digits.length - scale)}` : ''}`;
}

/** What fastavro_read.py gives for a partition value of a result type. */
function fvPartitionValue(value: PartitionValue, type: PartitionResultType): FastavroValue {
  if (value === null) return null;
  if (type === 'date') return { $date: value as number };
  if (type === 'timestamp' || type === 'timestamptz') return { $timestamp_us: Number(value) };
  if (type.startsWith('decimal')) return { $decimal: decimalString(BigInt(value as bigint), Number(/, (\d+)\)/.exec(type)![1])) };
  if (type === 'long') return fvLong(value as bigint);
  if (value instanceof Uint8Array) return { $bytes: hex(value) };
  return value as boolean | number | string;
}

/** What fastavro_read.py gives for a manifest entry pgsip wrote. */
function fvEntry(entry: ManifestEntry, fields: readonly TypedPartitionField[]): FastavroValue {
  const f = entry.data_file;
  return {
    status: entry.status,
    snapshot_id: entry.snapshot_id === null ? null : fvLong(entry.snapshot_id),
    sequence_number: entry.sequence_number,
    file_sequence_number: entry.file_sequence_number,
    data_file: {
      content: f.content,
      file_path: f.file_path,
      file_format: f.file_format,
      partition: Object.fromEntries(fields.map(({ field, resultType }) => [field.name, fvPartitionValue(f.partition[field.name], resultType)])),
      record_count: f.record_count,
      file_size_in_bytes: f.file_size_in_bytes,
      column_sizes: fvCounts(f.column_sizes),
      value_counts: fvCounts(f.value_counts),
      null_value_counts: fvCounts(f.null_value_counts),
      nan_value_counts: fvCounts(f.nan_value_counts),
      lower_bounds: fvBounds(f.lower_bounds),
      upper_bounds: fvBounds(f.upper_bounds),
      key_metadata: null,
      split_offsets: f.split_offsets,
      equality_ids: null,
      sort_order_id: f.sort_order_id,
      referenced_data_file: f.referenced_data_file,
    },
  };
}

function fvManifestFile(m: ManifestFile): FastavroValue {
  return {
    ...m,
    partitions: m.partitions?.map((p) => ({ ...p, lower_bound: p.lower_bound && { $bytes: hex(p.lower_bound) }, upper_bound: p.upper_bound && { $bytes: hex(p.upper_bound) } })) ?? null,
    key_metadata: null,
  };
}

describe('read back by fastavro', () => {
  let files: Record<string, FastavroFile> | undefined;
  const read = (): Record<string, FastavroFile> =>
    (files ??= readWithFastavro({ manifest: manifestBytes(), deletes: deleteManifestBytes(), list: listBytes(), unpartitioned: encodeManifest(ENTRIES.map((e) => ({ ...e, data_file: { ...e.data_file, partition: {} } })), { schema: SCHEMA, spec: UNPARTITIONED, content: 'data' }) }));

  it('reads every manifest record as written', () => {
    const { manifest, deletes } = read();
    expect(manifest.codec).toBe('deflate');
    expect(manifest.records).toEqual(ENTRIES.map((e) => fvEntry(e, FIELDS)));
    expect(deletes.records).toEqual(DELETE_ENTRIES.map((e) => fvEntry(e, [])));
  });

  it('reads the manifest header keys the spec requires', () => {
    const { manifest, deletes } = read();
    expect(manifest.metadata).toEqual({
      'avro.schema': JSON.stringify(manifestEntrySchema(FIELDS)),
      'avro.codec': 'deflate',
      schema: JSON.stringify(SCHEMA),
      'schema-id': '3',
      'partition-spec': JSON.stringify(SPEC.fields),
      'partition-spec-id': '2',
      'format-version': '2',
      content: 'data',
    });
    expect(JSON.parse(manifest.metadata.schema)).toMatchObject({ 'schema-id': 3 });
    expect(deletes.metadata).toMatchObject({ content: 'deletes', 'partition-spec': '[]', 'partition-spec-id': '0' });
  });

  it('reads every manifest list record and its header keys', () => {
    const { list } = read();
    expect(list.records).toEqual(LIST.map(fvManifestFile));
    expect(list.metadata).toEqual({
      'avro.schema': JSON.stringify(manifestListSchema()),
      'avro.codec': 'deflate',
      'snapshot-id': '1234567890123',
      'parent-snapshot-id': 'null',
      'sequence-number': '4',
      'format-version': '2',
    });
  });

  it("parses every manifest's writer schema with the spec's field ids and types", () => {
    const { manifest, deletes, unpartitioned } = read();
    const r102At = SPEC_MANIFEST_ENTRY.findIndex(([path]) => path === 'data_file.partition') + 1;
    const partitioned = [...SPEC_MANIFEST_ENTRY.slice(0, r102At), ...SPEC_PARTITION, ...SPEC_MANIFEST_ENTRY.slice(r102At)];
    expect(flatten(manifest.schema as Node)).toEqual(partitioned);
    expect(flatten(deletes.schema as Node)).toEqual(SPEC_MANIFEST_ENTRY);
    expect(flatten(unpartitioned.schema as Node)).toEqual(SPEC_MANIFEST_ENTRY);
    expect((manifest.schema as Node).name).toBe('manifest_entry');
  });

  it("parses the manifest list's writer schema with the spec's field ids and types", () => {
    const { list } = read();
    expect(flatten(list.schema as Node)).toEqual(SPEC_MANIFEST_FILE);
    expect((list.schema as Node).name).toBe('manifest_file');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Other readers and writers

/** The header metadata of an Avro container, as strings (avsc's header type, read by hand). */
function avroHeader(bytes: Uint8Array): Record<string, string> {
  const header = avro.Type.forSchema({ type: 'map', values: 'bytes' }).decode(Buffer.from(bytes), 4);
  return Object.fromEntries(Object.entries(header.value as Record<string, Buffer>).map(([k, v]) => [k, v.toString('utf8')]));
}

function stripDocs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripDocs);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(Object.entries(node).filter(([k]) => k !== 'doc').map(([k, v]) => [k, stripDocs(v)]));
}

function countSync(bytes: Uint8Array, sync: Uint8Array): number {
  let n = 0;
  for (let at = Buffer.from(bytes).indexOf(Buffer.from(sync)); at >= 0; at = Buffer.from(bytes).indexOf(Buffer.from(sync), at + 1)) n++;
  return n;
}

/** Records of a container file through avsc's own `BlockDecoder` stream. */
function readWithAvscStream(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const records: Record<string, unknown>[] = [];
    const decoder = new avro.streams.BlockDecoder();
    decoder.on('data', (r: Record<string, unknown>) => records.push(r));
    decoder.on('end', () => resolve(records));
    decoder.on('error', reject);
    decoder.end(Buffer.from(bytes));
  });
}

/** A container file written by avsc's own `BlockEncoder` stream. */
function writeWithAvscStream(schema: object, records: unknown[], metadata: Record<string, string>, blockSize: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const encoder = new avro.streams.BlockEncoder(schema as ConstructorParameters<typeof avro.streams.BlockEncoder>[0], {
      codec: 'deflate',
      blockSize,
      metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v)])),
    } as ConstructorParameters<typeof avro.streams.BlockEncoder>[1]);
    encoder.on('data', (c: Buffer) => chunks.push(c));
    encoder.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    encoder.on('error', reject);
    for (const r of records) encoder.write(r);
    encoder.end();
  });
}

describe('avsc container streams and icebird', () => {
  // avsc's stock long stops 2 short of 2^53 ("potential precision loss"); pgsip's own long type goes to 2^63.
  const AVSC_LIST = LIST.map((m) => ({ ...m, added_snapshot_id: Math.min(m.added_snapshot_id, 2 ** 52) }));

  it("reads pgsip's manifest list with avsc's BlockDecoder", async () => {
    const records = await readWithAvscStream(encodeManifestList(AVSC_LIST, { snapshotId: 1, parentSnapshotId: null, sequenceNumber: 4 }));
    expect(records.map((r) => [r.manifest_path, r.manifest_length, r.added_snapshot_id, r.added_files_count, r.existing_rows_count])).toEqual(
      AVSC_LIST.map((m) => [m.manifest_path, m.manifest_length, m.added_snapshot_id, m.added_files_count, m.existing_rows_count]),
    );
  });

  it("reads a manifest list written by avsc's BlockEncoder, many small blocks", async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ ...AVSC_LIST[i % 3], manifest_path: `s3://bucket/t/metadata/m${i}.avro` }));
    const plain = many.map((m) => ({
      ...m,
      partitions: m.partitions?.map((p) => ({ ...p, lower_bound: p.lower_bound && Buffer.from(p.lower_bound), upper_bound: p.upper_bound && Buffer.from(p.upper_bound) })) ?? null,
      key_metadata: null,
    }));
    const bytes = await writeWithAvscStream(manifestListSchema(), plain, { 'format-version': '2' }, 300);
    expect(countSync(bytes, bytes.subarray(bytes.length - 16))).toBeGreaterThan(5);
    expect(decodeManifestList(bytes)).toEqual(many);
  });

  it("reads pgsip's manifest and manifest list with icebird 0.3.1, by field name", () => {
    // icebird 0.3.1 reads no fixed type, so no decimal partition here.
    const types = TYPES.map((t, i) => [t, i] as const).filter(([t]) => !t.startsWith('decimal'));
    const spec: PartitionSpec = { 'spec-id': 2, fields: types.map(([, i]) => SPEC.fields[i]) };
    const entries = ENTRIES.map((e) => ({ ...e, data_file: { ...e.data_file, partition: Object.fromEntries(spec.fields.map((f) => [f.name, e.data_file.partition[f.name]])) } }));
    const read = (bytes: Uint8Array) => {
      const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
      const { metadata, syncMarker } = avroMetadata(reader);
      return { metadata, records: avroRead({ reader, metadata, syncMarker }) };
    };
    const manifest = read(encodeManifest(entries, { schema: SCHEMA, spec, partitionTypes: types.map(([t]) => t), content: 'data' }));
    expect(manifest.metadata['partition-spec-id']).toBe('2');
    expect(manifest.metadata.content).toBe('data');
    expect(manifest.metadata.schema).toEqual(SCHEMA);
    expect(manifest.records).toHaveLength(3);
    const [first, second] = manifest.records;
    expect(first.status).toBe(1);
    expect(first.snapshot_id).toBe(1234567890123n);
    expect(first.sequence_number).toBeUndefined(); // null: icebird inherits it from the list
    expect(first.data_file.partition).toMatchObject({ id_bucket: 3, name_trunc: 'abc', big: 2n ** 60n + 7n, flag: true, d_month: 660 });
    expect((first.data_file.partition.created_day as Date).toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(first.data_file.lower_bounds).toEqual([
      { key: 1, value: bytes(1, 0, 0, 0) },
      { key: 3, value: utf8('a') },
    ]);
    expect(first.data_file.file_size_in_bytes).toBe(3224n);
    expect(second.sequence_number).toBe(3n);
    const list = read(listBytes());
    expect(list.records.map((r) => [r.manifest_path, r.content, r.added_files_count, r.sequence_number])).toEqual(LIST.map((m) => [m.manifest_path, m.content, m.added_files_count, BigInt(m.sequence_number)]));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Java and Spark files

/** A manifest entry as fastavro reads it from a Java-written manifest, in the model's terms (63-bit ids as -1). */
function entryFromFastavro(v: FastavroValue): ManifestEntry {
  const r = v as Record<string, FastavroValue>;
  const f = r.data_file as Record<string, FastavroValue>;
  const long = (x: FastavroValue): number => (typeof x === 'object' && x !== null && '$long' in x ? -1 : (x as number));
  const counts = (x: FastavroValue) => new Map(((x ?? []) as { key: number; value: number }[]).map((kv) => [kv.key, kv.value]));
  const bounds = (x: FastavroValue) => new Map(((x ?? []) as { key: number; value: { $bytes: string } }[]).map((kv) => [kv.key, Uint8Array.from(Buffer.from(kv.value.$bytes, 'hex'))]));
  const partition: PartitionValues = Object.fromEntries(
    Object.entries(f.partition as Record<string, FastavroValue>).map(([k, x]) => [k, typeof x === 'object' && x !== null && '$date' in x ? (x.$date as number) : (x as number | null)]),
  );
  return {
    status: r.status as 0 | 1 | 2,
    snapshot_id: r.snapshot_id === null ? null : long(r.snapshot_id),
    sequence_number: r.sequence_number as number | null,
    file_sequence_number: r.file_sequence_number as number | null,
    data_file: {
      content: f.content as 0 | 1,
      file_path: f.file_path as string,
      file_format: 'PARQUET',
      partition,
      record_count: f.record_count as number,
      file_size_in_bytes: f.file_size_in_bytes as number,
      column_sizes: counts(f.column_sizes),
      value_counts: counts(f.value_counts),
      null_value_counts: counts(f.null_value_counts),
      nan_value_counts: counts(f.nan_value_counts),
      lower_bounds: bounds(f.lower_bounds),
      upper_bounds: bounds(f.upper_bounds),
      split_offsets: f.split_offsets as number[] | null,
      sort_order_id: f.sort_order_id as number | null,
      referenced_data_file: (f.referenced_data_file ?? null) as string | null,
    },
  };
}

describe('Java- and Spark-written files', () => {
  const JAVA_FILES = ['spark-rename_column-m0.avro', 'spark-bunnies-91d5eea0-m0.avro'];
  const mapTo = (seen: [string, bigint][]) => ({ onUnsafeLong: (field: string, v: bigint) => (seen.push([field, v]), -1) });

  it("refuses their 63-bit snapshot ids by default, naming the field", () => {
    expect(() => decodeManifest(fixture('spark-rename_column-m0.avro'))).toThrow(/manifest entry 0: field snapshot_id is 5276958600260276572, beyond 2\^53/);
    expect(() => decodeManifestList(fixture('spark-rename_column-snap-5276958600260276572.avro'))).toThrow(
      /manifest list entry 0 \(s3a:\/\/hyperparam-iceberg\/spark\/rename_column\/metadata\/abf62b15-903b-40b6-9e6b-26bcdceac9b3-m0\.avro\): field added_snapshot_id is 5276958600260276572, beyond 2\^53/,
    );
  });

  it('reads their manifests as fastavro does (int and date partition values, a null one, a DELETED entry with its sequence numbers)', () => {
    const oracle = readWithFastavro(Object.fromEntries(JAVA_FILES.map((f) => [f, fixture(f)])));
    for (const name of JAVA_FILES) {
      const seen: [string, bigint][] = [];
      const decoded = decodeManifest(fixture(name), mapTo(seen));
      expect(decoded.entries, name).toEqual(oracle[name].records.map(entryFromFastavro));
      expect(decoded.specId).toBe(0);
      expect(decoded.content).toBe('data');
      expect(seen.every(([field]) => field === 'snapshot_id'), name).toBe(true);
    }
    const seen: [string, bigint][] = [];
    const rename = decodeManifest(fixture('spark-rename_column-m0.avro'), mapTo(seen));
    expect(seen).toEqual([
      ['snapshot_id', 5276958600260276572n],
      ['snapshot_id', 5276958600260276572n],
      ['snapshot_id', 5276958600260276572n],
    ]);
    expect(rename.entries.map((e) => e.data_file.partition)).toEqual([
      { id_bucket: 3, date: null },
      { id_bucket: 2, date: 18994 }, // 2022-01-02
      { id_bucket: 0, date: 18993 },
    ]);
    expect(JSON.parse(rename.schemaJson)).toMatchObject({ 'schema-id': 0 });
    expect(rename.entries[0].data_file.referenced_data_file).toBeNull(); // a field the writer's schema lacks
    expect(rename.entries[0].data_file.nan_value_counts).toEqual(new Map());
    const [deleted] = decodeManifest(fixture('spark-bunnies-91d5eea0-m0.avro'), mapTo([])).entries;
    expect(deleted).toMatchObject({ status: 2, snapshot_id: -1, sequence_number: 1, file_sequence_number: 1 });
    expect(deleted.data_file.lower_bounds.get(1)).toEqual(utf8('American Fuzzy L'));
    expect(deleted.data_file.column_sizes.get(1)).toBe(249);
  });

  it('reads a Spark manifest list with the older count names, and its partition summaries', () => {
    const seen: [string, bigint][] = [];
    expect(decodeManifestList(fixture('spark-rename_column-snap-5276958600260276572.avro'), mapTo(seen))).toEqual([
      {
        manifest_path: 's3a://hyperparam-iceberg/spark/rename_column/metadata/abf62b15-903b-40b6-9e6b-26bcdceac9b3-m0.avro',
        manifest_length: 7506,
        partition_spec_id: 0,
        content: 0,
        sequence_number: 1,
        min_sequence_number: 1,
        added_snapshot_id: -1,
        added_files_count: 3,
        existing_files_count: 0,
        deleted_files_count: 0,
        added_rows_count: 4,
        existing_rows_count: 0,
        deleted_rows_count: 0,
        partitions: [
          { contains_null: false, contains_nan: false, lower_bound: bytes(0, 0, 0, 0), upper_bound: bytes(3, 0, 0, 0) },
          { contains_null: true, contains_nan: false, lower_bound: bytes(0x31, 0x4a, 0, 0), upper_bound: bytes(0x32, 0x4a, 0, 0) },
        ],
      },
    ]);
    expect(seen).toEqual([['added_snapshot_id', 5276958600260276572n]]);
  });

  it('reads a Java manifest list with the spec count names, data and delete manifests', () => {
    const seen: [string, bigint][] = [];
    const list = decodeManifestList(fixture('java-bunnies-snap-9158179788527662767.avro'), mapTo(seen));
    expect(list.map((m) => [m.manifest_path.replace(/^.*\//, ''), m.manifest_length, m.content, m.sequence_number, m.min_sequence_number, m.added_files_count, m.added_rows_count, m.partitions])).toEqual([
      ['a01399a1-e864-4562-b921-c8cb56e6e4a9-m0.avro', 7422, 0, 3, 3, 1, 1, []],
      ['583a45a0-7389-4d71-9305-ac3a8725c38b-m0.avro', 7349, 0, 1, 1, 1, 21, []],
      ['a01399a1-e864-4562-b921-c8cb56e6e4a9-m1.avro', 7494, 1, 3, 3, 1, 1, []],
      ['e1756967-c907-47e2-8b37-82123c5e5908-m0.avro', 7453, 1, 2, 2, 1, 6, []],
    ]);
    expect(seen.map(([, v]) => v)).toEqual([9158179788527662767n, 4951213507629824583n, 9158179788527662767n, 6458828015811002920n]);
  });

  it("computes the partition summaries Spark wrote for its manifest's entries", () => {
    const { entries } = decodeManifest(fixture('spark-rename_column-m0.avro'), mapTo([]));
    const int32 = (v: Exclude<PartitionValue, null>): Uint8Array => {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, v as number, true);
      return out;
    };
    const fields = typedPartitionFields(
      {
        'spec-id': 0,
        fields: [
          { name: 'id_bucket', transform: 'bucket[4]', 'source-id': 1, 'field-id': 1000 },
          { name: 'date', transform: 'identity', 'source-id': 3, 'field-id': 1001 },
        ],
      },
      ['int', 'date'],
    );
    const [spark] = decodeManifestList(fixture('spark-rename_column-snap-5276958600260276572.avro'), mapTo([]));
    expect(partitionSummaries(entries, fields, int32)).toEqual(spark.partitions);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Partition summaries

describe('partitionSummaries', () => {
  /** A serializer that shows what it was given: `type:value`. */
  const show = (v: Exclude<PartitionValue, null>, t: PartitionResultType): Uint8Array => utf8(`${t}:${v instanceof Uint8Array ? hex(v) : String(v)}`);
  const entriesWith = (values: PartitionValues[]): ManifestEntry[] => values.map((partition, i) => ({ ...ENTRIES[0], data_file: dataFile({ file_path: `s3://b/${i}`, partition }) }));
  const field = (name: string, resultType: PartitionResultType): TypedPartitionField => ({ field: { name, transform: 'identity', 'source-id': 1, 'field-id': 1000 }, resultType });
  const bounds = (s: { lower_bound: Uint8Array | null; upper_bound: Uint8Array | null }) => [s.lower_bound && new TextDecoder().decode(s.lower_bound), s.upper_bound && new TextDecoder().decode(s.upper_bound)];

  it('takes the smallest and largest non-null value in Iceberg order for each result type', () => {
    const cases: [PartitionResultType, PartitionValue[], [string, string]][] = [
      ['int', [5, -3, null, 12], ['int:-3', 'int:12']],
      ['date', [20089, 0, -1], ['date:-1', 'date:20089']],
      // Code point order: U+1F600 sorts after U+FFFD, though its UTF-16 form (a surrogate, 0xD83D) sorts before.
      ['string', ['\uFFFD', 'a', '\u{1F600}', 'Z'], ['string:Z', 'string:\u{1F600}']],
      // Unsigned bytes: 0x80 after 0x7f; a prefix before the longer value.
      ['binary', [bytes(0x80), bytes(0x7f, 0xff), bytes(0x7f)], ['binary:7f', 'binary:80']],
      ['long', [2n ** 62n, -5, 2n ** 53n + 1n, 3], ['long:-5', `long:${2n ** 62n}`]],
      ['timestamptz', [1735732800000000n, -1n], ['timestamptz:-1', 'timestamptz:1735732800000000']],
      ['decimal(10, 2)', [3n, -142000n, 0n], ['decimal(10, 2):-142000', 'decimal(10, 2):3']],
      ['boolean', [true, false, true], ['boolean:false', 'boolean:true']],
    ];
    for (const [type, values, expected] of cases) {
      const [summary] = partitionSummaries(entriesWith(values.map((v) => ({ p: v }))), [field('p', type)], show);
      expect(bounds(summary), type).toEqual(expected);
      expect(summary.contains_null, type).toBe(values.includes(null));
      expect(summary.contains_nan, type).toBe(false);
    }
  });

  it('gives null bounds when every value is null or there are no entries, and one summary per field in spec order', () => {
    const summaries = partitionSummaries(entriesWith([{ a: null, b: 1 }, { a: null, b: 2 }]), [field('a', 'int'), field('b', 'int')], show);
    expect(summaries.map((s) => [s.contains_null, ...bounds(s)])).toEqual([
      [true, null, null],
      [false, 'int:1', 'int:2'],
    ]);
    expect(partitionSummaries([], [field('a', 'string')], show)).toEqual([{ contains_null: false, contains_nan: false, lower_bound: null, upper_bound: null }]);
    expect(partitionSummaries(entriesWith([{}]), [], show)).toEqual([]);
  });

  it('refuses a value of the wrong type or a missing one, naming the entry and field', () => {
    expect(() => partitionSummaries(entriesWith([{ p: 'x' }]), [field('p', 'int')], show)).toThrow(/manifest entry 0 \(s3:\/\/b\/0\), partition field "p": "x" is not a valid int partition value/);
    expect(() => partitionSummaries(entriesWith([{}]), [field('p', 'int')], show)).toThrow(/partition field "p": no value/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What is refused

describe('refusals', () => {
  const meta = { schema: SCHEMA, spec: SPEC, partitionTypes: TYPES, content: 'data' as const };
  const withPartition = (over: PartitionValues): ManifestEntry[] => [{ ...ENTRIES[0], data_file: { ...ENTRIES[0].data_file, partition: { ...ENTRIES[0].data_file.partition, ...over } } }];

  it('refuses a delete file in a data manifest and a data file in a delete manifest', () => {
    expect(() => encodeManifest(DELETE_ENTRIES, meta)).toThrow(/manifest entry 0 \(s3:\/\/bucket\/t\/data\/run=2\/delete-0\.parquet\): a file of content 1 cannot go in a data manifest/);
    expect(() => encodeManifest(ENTRIES, { ...meta, content: 'deletes' })).toThrow(/a file of content 0 cannot go in a deletes manifest/);
  });

  it('refuses an EXISTING or DELETED entry without both sequence numbers', () => {
    expect(() => encodeManifest([{ ...ENTRIES[1], file_sequence_number: null }], meta)).toThrow(/an EXISTING entry must carry both sequence numbers/);
    expect(() => encodeManifest([{ ...ENTRIES[2], sequence_number: null }], meta)).toThrow(/a DELETED entry must carry both sequence numbers/);
  });

  it('refuses partition values the spec does not have, lacks, or of the wrong type or size, naming the field', () => {
    expect(() => encodeManifest(withPartition({ other: 1 }), meta)).toThrow(/partition value "other" is not a field of the partition spec/);
    const { flag: _flag, ...withoutFlag } = ENTRIES[0].data_file.partition;
    expect(() => encodeManifest([{ ...ENTRIES[0], data_file: { ...ENTRIES[0].data_file, partition: withoutFlag } }], meta)).toThrow(/no value for partition field "flag"/);
    expect(() => encodeManifest(withPartition({ name_trunc: 3 }), meta)).toThrow(/partition field "name_trunc": 3 is not a valid string partition value/);
    expect(() => encodeManifest(withPartition({ price: 10n ** 10n }), meta)).toThrow(/partition field "price": unscaled 10000000000 has more than the 10 digits/);
    expect(() => encodeManifest(withPartition({ big: 2n ** 63n }), meta)).toThrow(/data_file\.partition\.big = 9223372036854775808n is not a valid/);
    expect(() => encodeManifest(withPartition({ id_bucket: 2 ** 31 }), meta)).toThrow(/data_file\.partition\.id_bucket = 2147483648 is not a valid int/);
  });

  it('refuses a long a number cannot hold exactly, naming the field', () => {
    expect(() => encodeManifest([{ ...ENTRIES[0], snapshot_id: 2 ** 53 }], meta)).toThrow(/manifest entry 0 \(.*\): snapshot_id = 9007199254740992 is not a valid/);
    expect(() => encodeManifestList([{ ...LIST[0], added_rows_count: 1.5 }], { snapshotId: 1, parentSnapshotId: null, sequenceNumber: 1 })).toThrow(/manifest list entry 0 \(.*\): added_rows_count = 1\.5 is not a valid/);
  });

  it('refuses a partition field name Avro cannot hold, and result types that do not pair with the spec', () => {
    const spec: PartitionSpec = { 'spec-id': 1, fields: [{ name: 'id-bucket', transform: 'bucket[4]', 'source-id': 1, 'field-id': 1000 }] };
    expect(() => encodeManifest([], { ...meta, spec, partitionTypes: ['int'] })).toThrow(/partition field "id-bucket": not a valid Avro name/);
    expect(() => encodeManifest([], { ...meta, partitionTypes: ['int'] })).toThrow(/partition spec 2 has 10 fields but 1 result types were given/);
    expect(() => encodeManifest([], { ...meta, syncMarker: new Uint8Array(8) })).toThrow(/sync marker is 16 bytes, not 8/);
  });

  it('refuses to read what is not a manifest, a truncated one, and equality delete files', async () => {
    expect(() => decodeManifest(utf8('{"not": "avro"}'))).toThrow(/manifest: not an Avro object container file/);
    const whole = manifestBytes();
    expect(() => decodeManifest(whole.subarray(0, whole.length - 20))).toThrow(/manifest: Avro block at byte \d+ is truncated/);
    const corrupt = Uint8Array.from(whole);
    corrupt[corrupt.length - 1] ^= 0xff;
    expect(() => decodeManifest(corrupt)).toThrow(/wrong sync marker/);
    const equality = {
      status: 1,
      snapshot_id: null,
      sequence_number: null,
      file_sequence_number: null,
      data_file: { ...(fvEntry(DELETE_ENTRIES[0], []) as { data_file: object }).data_file, content: 2, column_sizes: [], lower_bounds: [], upper_bounds: [], equality_ids: [1], split_offsets: null },
    };
    const bytes = await writeWithAvscStream(manifestEntrySchema([]), [equality], { 'partition-spec-id': '0', content: 'deletes', schema: '{}' }, 65536);
    expect(() => decodeManifest(bytes)).toThrow(/manifest entry 0 \(s3:\/\/bucket\/t\/data\/run=2\/delete-0\.parquet\): an equality delete file, which pgsip does not read/);
  });
});
