/**
 * A part's partition in the shard manifest (contracts.ts `PartitionJson`): one JSON value per spec field, in
 * spec order, exact for every result type: int and date as numbers; long, timestamps and decimals (unscaled) as
 * strings of digits, since they pass 2^53; strings as strings; binary as base64; booleans; null.
 */
import type { PartitionJson } from '../contracts';
import { RunDocumentError } from '../errors';
import type { PartitionResultType } from './manifest-avro';
import type { PartitionSpec, PartitionValues } from './model';
import type { PartitionValue } from './partition-transforms';

export function partitionToJson(values: readonly PartitionValue[]): PartitionJson {
  return values.map((v) => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'bigint') return v.toString();
    return Buffer.from(v).toString('base64');
  });
}

/** The partition tuple of a part, by field name, typed by each field's result type. */
export function partitionFromJson(json: PartitionJson, spec: PartitionSpec, types: readonly PartitionResultType[], where: string): PartitionValues {
  if (json.length !== spec.fields.length) throw new RunDocumentError(`${where}: ${json.length} partition values for a spec of ${spec.fields.length} fields`);
  const out: PartitionValues = {};
  spec.fields.forEach((field, i) => {
    const v = json[i];
    const type = types[i];
    const bad = () => new RunDocumentError(`${where}: partition field "${field.name}" (${type}) holds ${JSON.stringify(v)}`);
    if (v === null) {
      out[field.name] = null;
    } else if (type === 'boolean') {
      if (typeof v !== 'boolean') throw bad();
      out[field.name] = v;
    } else if (type === 'int' || type === 'date') {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad();
      out[field.name] = v;
    } else if (type === 'string') {
      if (typeof v !== 'string') throw bad();
      out[field.name] = v;
    } else if (type === 'binary') {
      if (typeof v !== 'string') throw bad();
      out[field.name] = new Uint8Array(Buffer.from(v, 'base64'));
    } else {
      // long, timestamp, timestamptz, decimal: exact integers as text.
      if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw bad();
      out[field.name] = BigInt(v);
    }
  });
  return out;
}
