/**
 * A run's columns as an Iceberg schema: each column's Iceberg type, read off the Parquet schema the column
 * mapping writes (lambdas/engine/columns/map-column.ts, the `portable` profile), and its field id. Ids are
 * the table's: a column keeps the id it had in the table's current schema (found by name), a new column gets
 * the next unused id, and a dropped one's id is never given again. Only the changes Iceberg allows between two
 * schemas pass (docs/iceberg.md, "Schema evolution"): a column added or dropped, an int widened to long, a
 * float to double, a decimal's precision raised at the same scale. Anything else is one line naming the column.
 */
import type { SchemaElement } from 'hyparquet';
import type { ColumnPlan } from '../contracts';
import { InputError, InternalError } from '../errors';
import type { IcebergField, IcebergListType, IcebergPrimitive, IcebergSchema, IcebergType } from './model';

/** The Iceberg type of a leaf the portable profile writes. Never uuid, time or fixed: see docs/iceberg.md. */
function primitiveOf(leaf: SchemaElement, column: string): IcebergPrimitive {
  const logical = leaf.logical_type;
  switch (leaf.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32':
      if (leaf.converted_type === 'DATE' || logical?.type === 'DATE') return 'date';
      if (leaf.converted_type === 'DECIMAL') return `decimal(${leaf.precision ?? 0}, ${leaf.scale ?? 0})`;
      if (leaf.converted_type === undefined || leaf.converted_type === 'INT_16' || leaf.converted_type === 'INT_32') return 'int';
      break;
    case 'INT64':
      if (logical?.type === 'TIMESTAMP' && logical.unit === 'MICROS') return logical.isAdjustedToUTC ? 'timestamptz' : 'timestamp';
      if (leaf.converted_type === 'DECIMAL') return `decimal(${leaf.precision ?? 0}, ${leaf.scale ?? 0})`;
      if (leaf.converted_type === undefined || leaf.converted_type === 'INT_64') return 'long';
      break;
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    case 'BYTE_ARRAY':
      if (leaf.converted_type === 'UTF8' || logical?.type === 'STRING') return 'string';
      if (leaf.converted_type === undefined && logical === undefined) return 'binary';
      break;
    case 'FIXED_LEN_BYTE_ARRAY':
      if (leaf.converted_type === 'DECIMAL') return `decimal(${leaf.precision ?? 0}, ${leaf.scale ?? 0})`;
      break;
  }
  throw new InputError(
    `column "${column}": its Parquet type (${leaf.type}${leaf.converted_type ? ` ${leaf.converted_type}` : ''}${logical ? ` ${logical.type}` : ''}) has no Iceberg type every engine reads; Iceberg tables take the portable type profile`,
  );
}

/**
 * The Iceberg type of a mapped column, its element id left 0 (assigned with the field ids). `schema` is the
 * column's Parquet schema elements: one leaf, or a 3-level LIST.
 */
export function icebergTypeOf(schema: SchemaElement[], column: string): IcebergType {
  if (schema.length === 1) return primitiveOf(schema[0], column);
  if (schema.length === 3 && schema[0].converted_type === 'LIST') {
    return { type: 'list', 'element-id': 0, 'element-required': false, element: primitiveOf(schema[2], column) };
  }
  throw new InternalError(`column "${column}": a Parquet shape of ${schema.length} elements has no Iceberg type here`);
}

const DECIMAL = /^decimal\((\d+), (\d+)\)$/;

/** Whether Iceberg (v2) lets a column of type `from` be read as `to`. */
export function canPromote(from: IcebergType, to: IcebergType): boolean {
  if (typeof from !== 'string' || typeof to !== 'string') {
    return typeof from !== 'string' && typeof to !== 'string' && canPromote(from.element, to.element);
  }
  if (from === to) return true;
  if (from === 'int' && to === 'long') return true;
  if (from === 'float' && to === 'double') return true;
  const a = DECIMAL.exec(from);
  const b = DECIMAL.exec(to);
  return a !== null && b !== null && a[2] === b[2] && Number(b[1]) >= Number(a[1]);
}

const show = (t: IcebergType): string => (typeof t === 'string' ? t : `list<${show(t.element)}>`);

export interface RunSchema {
  /** The schema the run's files are written with; `schema-id` is the table's when nothing changed. */
  schema: IcebergSchema;
  /** Highest field id the table has ever given, this schema's included. */
  lastColumnId: number;
  /** Whether the schema differs from the table's current one (a new schema id is committed with the run). */
  changed: boolean;
  /** Columns added, dropped or widened, for the plan's log and the manifest. */
  changes: string[];
  /** Columns replaced by new ones (new field ids) in a `--full` run. */
  replaced: string[];
}

/**
 * The run's Iceberg schema: its columns, in order, typed and numbered against the table's current schema
 * (null for a new table). A type change Iceberg cannot evolve into is refused, unless `replace` (a `--full`
 * run): the column is then dropped and added again under a new field id, as Iceberg allows (a new column that
 * reuses a name), so the run's files carry the new one and earlier snapshots keep reading the old one.
 */
export function runSchema(
  columns: { name: string; type: IcebergType }[],
  current: { schema: IcebergSchema; lastColumnId: number } | null,
  table: string,
  replace = false,
): RunSchema {
  let lastColumnId = current?.lastColumnId ?? 0;
  const previous = new Map((current?.schema.fields ?? []).map((f) => [f.name, f]));
  const changes: string[] = [];
  const replaced: string[] = [];
  const fields: IcebergField[] = columns.map(({ name, type }) => {
    const before = previous.get(name);
    if (!before) {
      if (current) changes.push(`added ${name} ${show(type)}`);
      const id = ++lastColumnId;
      return { id, name, required: false, type: typeof type === 'string' ? type : { ...type, 'element-id': ++lastColumnId } };
    }
    if (!canPromote(before.type, type)) {
      if (!replace) {
        throw new InputError(
          `table ${table}, column "${name}": it was ${show(before.type)} in the Iceberg table and is ${show(type)} now, a change Iceberg tables cannot take (only int to long, float to double and a decimal's precision raised); run with --full to replace the column (earlier snapshots keep the old one)`,
        );
      }
      const id = ++lastColumnId;
      replaced.push(name);
      changes.push(`replaced ${name}: ${show(before.type)} is ${show(type)} now, a new column (field id ${id}; earlier snapshots keep field ${before.id})`);
      return { id, name, required: false, type: typeof type === 'string' ? type : { ...type, 'element-id': ++lastColumnId } };
    }
    if (show(before.type) !== show(type)) changes.push(`widened ${name} from ${show(before.type)} to ${show(type)}`);
    // A list keeps its element's id too.
    const kept: IcebergType = typeof type === 'string' ? type : { ...type, 'element-id': (before.type as IcebergListType)['element-id'] };
    return { id: before.id, name, required: false, type: kept };
  });
  if (current) {
    const now = new Set(columns.map((c) => c.name));
    for (const f of current.schema.fields) if (!now.has(f.name)) changes.push(`dropped ${f.name}`);
  }
  const changed = current === null || changes.length > 0 || fields.map((f) => f.name).join('\0') !== current.schema.fields.map((f) => f.name).join('\0');
  const schemaId = current === null ? 0 : changed ? current.schema['schema-id'] + 1 : current.schema['schema-id'];
  return { schema: { type: 'struct', 'schema-id': schemaId, fields }, lastColumnId, changed, changes, replaced };
}

/** A column plan with the field ids of its Iceberg field (Export writes them into the Parquet schema). */
export function withFieldIds(plan: ColumnPlan, field: IcebergField): ColumnPlan {
  return typeof field.type === 'string' ? { ...plan, fieldId: field.id } : { ...plan, fieldId: field.id, elementId: field.type['element-id'] };
}

/**
 * The Parquet schema elements of a column of an Iceberg table: its field ids on the column's root (a leaf, or
 * the LIST group) and on a list's element, as Iceberg Java writes them (the repeated middle group has none),
 * and its root named as readers that find columns by name look for it (`parquetColumnName`).
 */
export function icebergColumnSchema(schema: SchemaElement[], plan: Pick<ColumnPlan, 'fieldId' | 'elementId' | 'name'>): SchemaElement[] {
  if (plan.fieldId === undefined) throw new InternalError(`column "${plan.name}" of an Iceberg table has no field id in its plan`);
  const root = { ...schema[0], name: parquetColumnName(plan.name), field_id: plan.fieldId };
  if (schema.length === 1) return [root];
  if (plan.elementId === undefined) throw new InternalError(`column "${plan.name}": a list with a field id but no element id`);
  return [root, schema[1], { ...schema[2], field_id: plan.elementId }];
}


/**
 * The Parquet column name of an Iceberg field: Iceberg Java's Avro-compatible name (`AvroSchemaUtil.sanitize`,
 * ASCII letters, digits and `_` kept, a leading digit prefixed with `_`, anything else `_x<HEX>`), which
 * readers that find columns by name (icebird) look for. Readers that go by field id (Java, pyiceberg, DuckDB,
 * Arrow with field ids) do not care.
 */
export function parquetColumnName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    const code = name.charCodeAt(i);
    const letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
    const digit = c >= '0' && c <= '9';
    if (letter || (digit && i > 0)) out += c;
    else if (digit) out += `_${c}`;
    else out += `_x${code.toString(16).toUpperCase()}`;
  }
  return out;
}
