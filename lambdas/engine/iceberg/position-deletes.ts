/**
 * A position delete file (spec "Position Delete Files"): Parquet rows of (`file_path`, `pos`), sorted by path
 * and then position, with the spec's reserved field ids (2147483546, 2147483545). Written with pgsip's own part
 * writer, V1 pages like every portable file (some engines read no V2 pages: docs/types.md), so it reads where
 * the data files read.
 */
import type { SchemaElement } from 'hyparquet';
import type { ColumnMapping } from '../columns/column-mapping';
import type { Compression } from '../contracts';
import type { Destination } from '../destinations/destination';
import { InternalError } from '../errors';
import { createHyparquetPartWriter } from '../parquet/hyparquet-part-writer';
import type { DataFile, PartitionValues } from './model';
import { noMetrics } from './data-file-metrics';

export const FILE_PATH_FIELD_ID = 2147483546;
export const POS_FIELD_ID = 2147483545;

function column(name: string, leaf: Omit<SchemaElement, 'name'>): ColumnMapping {
  return {
    // Never selected from Postgres: the mapping is only the Parquet column.
    plan: { name, pgType: 'text', typeOid: 0, typmod: -1, elemTypeOid: null, nullable: false, parquetType: leaf.type ?? '' },
    select: () => {
      throw new InternalError(`${name} of a position delete file is not read from Postgres`);
    },
    schema: [{ ...leaf, name, repetition_type: 'REQUIRED' }],
    newBuilder: () => {
      throw new InternalError(`${name} of a position delete file has no builder`);
    },
  };
}

const COLUMNS: ColumnMapping[] = [
  column('file_path', { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, field_id: FILE_PATH_FIELD_ID }),
  column('pos', { type: 'INT64', field_id: POS_FIELD_ID }),
];

/**
 * Writes the deletes of `positions` (data file URI -> its 0-based row positions) to `key`, and returns the
 * file as its manifest entry's `data_file` (content 1). `uri` is the file's own URI.
 */
export async function writePositionDeletes(
  positions: Map<string, number[]>,
  target: { destination: Destination; key: string; uri: string; compression: Compression; partition?: PartitionValues },
): Promise<DataFile> {
  const paths = [...positions.keys()].sort();
  const filePaths: string[] = [];
  const pos: bigint[] = [];
  for (const path of paths) {
    for (const p of [...positions.get(path)!].sort((a, b) => a - b)) {
      filePaths.push(path);
      pos.push(BigInt(p));
    }
  }
  const writer = createHyparquetPartWriter({
    columns: COLUMNS,
    compression: target.compression,
    pageVersion: 1,
    sink: target.destination.createObject(target.key),
    metadata: { 'iceberg.schema': JSON.stringify({ type: 'struct', 'schema-id': 0, fields: [{ id: FILE_PATH_FIELD_ID, name: 'file_path', required: true, type: 'string' }, { id: POS_FIELD_ID, name: 'pos', required: true, type: 'long' }] }) },
  });
  try {
    await writer.writeRowGroup([filePaths, pos], filePaths.length);
    const bytes = await writer.finish();
    return {
      content: 1,
      file_path: target.uri,
      file_format: 'PARQUET',
      // The partition of the data files it deletes from (a delete file applies within its partition).
      partition: target.partition ?? {},
      record_count: filePaths.length,
      file_size_in_bytes: bytes,
      ...noMetrics(),
      split_offsets: null,
      sort_order_id: null,
      referenced_data_file: paths.length === 1 ? paths[0] : null,
    };
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
}
