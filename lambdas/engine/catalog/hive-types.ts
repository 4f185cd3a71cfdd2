/**
 * The Hive type a catalog (Glue, Athena, Spark's Hive metastore) declares for a column, derived from the
 * Parquet type pgsip wrote (`parquetType` of the plan and manifest, e.g. `DECIMAL(12,2)`, `LIST<STRING>`), so
 * the table says exactly what the files hold — never a crawler's guess. Under the portable profile every
 * mapping has a Hive type; the native profile's UUID and TIME have none (Glue and Hive lack both, and Athena
 * refuses a FIXED_LEN_BYTE_ARRAY or TIME column declared as anything else), so registering them is refused
 * with the column named rather than declared as something the readers then fail on.
 */
import { CatalogError } from '../errors';

const SCALARS: Readonly<Record<string, string>> = {
  BOOLEAN: 'boolean',
  INT16: 'smallint',
  INT32: 'int',
  INT64: 'bigint',
  FLOAT: 'float',
  DOUBLE: 'double',
  STRING: 'string',
  // JSON under native: a UTF-8 string with the JSON annotation, which every Hive reader reads as a string.
  JSON: 'string',
  BYTE_ARRAY: 'binary',
  DATE: 'date',
};

const NO_HIVE_TYPE: Readonly<Record<string, string>> = {
  UUID: 'the catalog has no uuid type and readers refuse FIXED_LEN_BYTE_ARRAY(16) UUID as anything else',
  'TIME(MICROS)': 'the catalog has no time type and readers refuse TIME(MICROS) as anything else',
};

/** `table` and `column` only name the culprit in the error. */
export function hiveType(parquetType: string, table: string, column: string): string {
  const list = /^LIST<(.*)>$/.exec(parquetType);
  if (list) return `array<${hiveType(list[1], table, column)}>`;
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(parquetType);
  if (decimal) return `decimal(${decimal[1]},${decimal[2]})`;
  // Both TIMESTAMP(MICROS) (local) and TIMESTAMP(MICROS,UTC): Hive's timestamp has no zone; Athena and Spark
  // read UTC-adjusted instants as UTC.
  if (/^TIMESTAMP\(MICROS(,UTC)?\)$/.test(parquetType)) return 'timestamp';
  const scalar = SCALARS[parquetType];
  if (scalar) return scalar;
  const why = NO_HIVE_TYPE[parquetType] ?? `pgsip has no catalog type for Parquet ${parquetType}`;
  throw new CatalogError(`table ${table}, column "${column}": ${why}; export it with --types portable (the default) to register it`);
}
