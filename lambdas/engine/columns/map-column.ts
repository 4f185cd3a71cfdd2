/**
 * Postgres column → Parquet column, per the type mapping of docs/architecture.md ("Contracts") and docs/types.md's table (lossless or loud).
 *
 * Policies decided here:
 * - numeric(p,s) with p <= 38 → DECIMAL(p,s): INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY of the
 *   minimal length above. Postgres 15+ scales outside [0, p] widen the DECIMAL so every value still fits:
 *   numeric(3,-2) → DECIMAL(5,0), numeric(3,5) → DECIMAL(5,5). A NaN (the only non-finite value such a column
 *   can hold) raises UnsupportedColumnError naming the column: it is never written as NULL.
 * - numeric without typmod, or with a precision above 38: STRING holding exactly the text Postgres prints
 *   (`col::text`), so every digit is kept and NaN / Infinity / -Infinity stay readable. Never rounded.
 * - Every type not listed below (enum, citext, inet, money, ranges, xml, timetz, interval, bit, ...) is
 *   selected as `col::text` and written as STRING. The text depends on session settings, which the caller
 *   fixes: `IntervalStyle = iso_8601` for interval (the contract), `client_encoding = UTF8` for all text.
 * - text, varchar, char(n) (with its padding, as Postgres prints it), name: the binary send format is the
 *   UTF-8 text itself, passed through as bytes.
 * - json → STRING annotated JSON with Postgres's bytes unchanged; jsonb the same after its version byte. The
 *   text is never parsed or re-serialized.
 * - One-dimensional arrays of any of these → 3-level LIST of the element's mapping; arrays of text-form
 *   elements are selected as `col::text[]`. A multi-dimensional value, or one whose lower bound is not 1, is an
 *   UnsupportedColumnError at export time (the mapping cannot know beforehand).
 * - Every column is OPTIONAL, even when the catalog says NOT NULL: since Postgres 18 a `NOT NULL NOT VALID`
 *   constraint sets attnotnull while older rows may still hold NULLs.
 * - ±infinity dates and timestamps: DuckDB's convention (see builders/temporal.ts).
 */
import type { SchemaElement } from 'hyparquet';
import type { CatalogColumn, ColumnPlan, InfinityPolicy, TypeProfile } from '../contracts';
import type { ColumnBuilder, ColumnMapping } from './column-mapping';
import { BytesDecoder, UuidDecoder, newBytesBuilder, newUuidBuilder } from './builders/byte-array';
import { DecimalDecoder, DecimalFixedBuilder, DecimalInt64Builder, decimalByteLength, decimalShape } from './builders/decimal';
import {
  BooleanBuilder,
  FixedDecoder,
  Float32Builder,
  Float64Builder,
  Int16Builder,
  Int32Builder,
  Int64Builder,
} from './builders/fixed-width';
import { ListBuilder } from './builders/list';
import { DateBuilder, TemporalDecoder, TimeBuilder, TimestampBuilder } from './builders/temporal';
import { DecodedColumnBuilder, type ValueDecoder } from './builders/value-decoder';
import { HashedTextBuilder } from './builders/hashed';
import { InternalError, RunDocumentError } from '../errors';
import { PgOid } from './pg-oids';

/** Largest DECIMAL precision pgsip writes (what DuckDB, Spark and Arrow's decimal128 read). */
export const MAX_DECIMAL_PRECISION = 38;

type Leaf = Omit<SchemaElement, 'name' | 'repetition_type' | 'num_children'>;

/** How one scalar type (a column's, or an array's element type) is carried. */
interface ScalarMapping {
  /** Readable Parquet type for plans and manifests. */
  parquetType: string;
  leaf: Leaf;
  /** Selected in its Postgres text form (how, for a value and for an array of them), or null for binary. */
  textForm: TextSelect | null;
  builder(column: string): ColumnBuilder;
  decoder(column: string): ValueDecoder;
}

const STRING_LEAF: Leaf = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };

/** How a type is selected in its Postgres text form, alone and as the element type of an array. */
interface TextSelect {
  value(quotedIdent: string): string;
  array(quotedIdent: string): string;
}

/** The cast to text, which for most types is the text Postgres prints (its output function). */
const CAST_TO_TEXT: TextSelect = { value: (c) => `${c}::text`, array: (c) => `${c}::text[]` };

/**
 * inet's cast to text always adds the netmask (`::1/128`) where Postgres prints `::1`: its output function
 * instead, and for arrays the array's own text form (which prints each element with it) parsed back as text[].
 */
const INET_OUTPUT: TextSelect = { value: (c) => `textin(inet_out(${c}))`, array: (c) => `${c}::text::text[]` };

function bytesMapping(parquetType: string, leaf: Leaf, textForm: TextSelect | null, version: number | null = null): ScalarMapping {
  return {
    parquetType,
    leaf,
    textForm,
    builder: (column) => newBytesBuilder(column, version),
    decoder: (column) => new BytesDecoder(column, version),
  };
}

const TEXT = bytesMapping('STRING', STRING_LEAF, null);
const TEXT_FORM = bytesMapping('STRING', STRING_LEAF, CAST_TO_TEXT);
const INET_TEXT = bytesMapping('STRING', STRING_LEAF, INET_OUTPUT);

// Converted type only: hyparquet-writer 0.17 writes the INTEGER logical type's bitWidth as a Thrift i32 where
// the format says i8, and DuckDB rejects the whole footer ("TProtocolException: Invalid data"). Readers derive
// the same signed integer type from INT_16/INT_32/INT_64.
function integer(bitWidth: 16 | 32 | 64): Leaf {
  return {
    type: bitWidth === 64 ? 'INT64' : 'INT32',
    converted_type: bitWidth === 16 ? 'INT_16' : bitWidth === 32 ? 'INT_32' : 'INT_64',
  };
}

/**
 * The per-column choices of a run's type profile (docs/architecture.md, "Type profiles"): the profile and
 * what ±infinity dates and timestamps become.
 */
export interface ColumnProfile {
  types: TypeProfile;
  infinity: InfinityPolicy;
}

/** What pgsip 0.1 wrote: the exact types, DuckDB's infinities. */
export const NATIVE: ColumnProfile = { types: 'native', infinity: 'keep' };

function decimalMapping(typmod: number, profile: ColumnProfile): ScalarMapping {
  const shape = decimalShape(typmod);
  if (!shape || shape.precision > MAX_DECIMAL_PRECISION) return TEXT_FORM;
  const { precision, scale } = shape;
  const common = {
    converted_type: 'DECIMAL' as const,
    precision,
    scale,
    logical_type: { type: 'DECIMAL' as const, precision, scale },
  };
  const parquetType = `DECIMAL(${precision},${scale})`;
  if (profile.types === 'portable') {
    // Every precision as FIXED_LEN_BYTE_ARRAY of the minimal width: what Hive, Spark's legacy format and
    // Redshift Spectrum read (INT32/INT64-backed decimals fail in Hive's reader).
    const length = decimalByteLength(precision);
    return {
      parquetType,
      leaf: { type: 'FIXED_LEN_BYTE_ARRAY', type_length: length, ...common },
      textForm: null,
      builder: (column) => new DecimalFixedBuilder(column, precision, scale, length),
      decoder: (column) => new DecimalDecoder(column, precision, scale, length),
    };
  }
  if (precision <= 9) {
    return {
      parquetType,
      leaf: { type: 'INT32', ...common },
      textForm: null,
      builder: (column) => new DecodedColumnBuilder(new DecimalDecoder(column, precision, scale, 4)),
      decoder: (column) => new DecimalDecoder(column, precision, scale, 4),
    };
  }
  if (precision <= 18) {
    return {
      parquetType,
      leaf: { type: 'INT64', ...common },
      textForm: null,
      builder: (column) => new DecimalInt64Builder(column, precision, scale),
      decoder: (column) => new DecimalDecoder(column, precision, scale, 8),
    };
  }
  const length = decimalByteLength(precision);
  return {
    parquetType,
    leaf: { type: 'FIXED_LEN_BYTE_ARRAY', type_length: length, ...common },
    textForm: null,
    builder: (column) => new DecodedColumnBuilder(new DecimalDecoder(column, precision, scale, length)),
    decoder: (column) => new DecimalDecoder(column, precision, scale, length),
  };
}

function fixed(
  parquetType: string,
  leaf: Leaf,
  kind: 'bool' | 'int2' | 'int4' | 'int8' | 'float4' | 'float8',
  width: number,
  builder: (column: string) => ColumnBuilder,
): ScalarMapping {
  return { parquetType, leaf, textForm: null, builder, decoder: (column) => new FixedDecoder(column, kind, width) };
}

function temporal(
  parquetType: string,
  leaf: Leaf,
  kind: 'date' | 'time' | 'timestamp',
  builder: (column: string) => ColumnBuilder,
  infinity: InfinityPolicy,
): ScalarMapping {
  return { parquetType, leaf, textForm: null, builder, decoder: (column) => new TemporalDecoder(column, kind, infinity) };
}

/**
 * TIMESTAMP(MICROS): the logical type, and the legacy converted type LogicalTypes.md says writers must also
 * write, for local timestamps too (readers that only know converted types read it as a timestamp).
 */
function timestampLeaf(isAdjustedToUTC: boolean): Leaf {
  return { type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC, unit: 'MICROS' } };
}

function scalarMapping(typeOid: number, typmod: number, profile: ColumnProfile): ScalarMapping {
  const portable = profile.types === 'portable';
  switch (typeOid) {
    case PgOid.bool:
      return fixed('BOOLEAN', { type: 'BOOLEAN' }, 'bool', 1, (c) => new BooleanBuilder(c));
    case PgOid.int2:
      return fixed('INT16', integer(16), 'int2', 4, (c) => new Int16Builder(c));
    case PgOid.int4:
      return fixed('INT32', integer(32), 'int4', 4, (c) => new Int32Builder(c));
    case PgOid.int8:
      return fixed('INT64', integer(64), 'int8', 8, (c) => new Int64Builder(c));
    case PgOid.float4:
      return fixed('FLOAT', { type: 'FLOAT' }, 'float4', 4, (c) => new Float32Builder(c));
    case PgOid.float8:
      return fixed('DOUBLE', { type: 'DOUBLE' }, 'float8', 8, (c) => new Float64Builder(c));
    case PgOid.numeric:
      return decimalMapping(typmod, profile);
    case PgOid.text:
    case PgOid.varchar:
    case PgOid.bpchar:
    case PgOid.name:
      return TEXT;
    // Portable: the same bytes as a plain string (Spark, Athena and polars read the JSON annotation badly or
    // not at all; the text is what every engine's JSON functions take).
    case PgOid.json:
      return portable ? TEXT : bytesMapping('JSON', { type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' } }, null);
    case PgOid.jsonb:
      return portable
        ? bytesMapping('STRING', STRING_LEAF, null, 1)
        : bytesMapping('JSON', { type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' } }, null, 1);
    case PgOid.bytea:
      return bytesMapping('BYTE_ARRAY', { type: 'BYTE_ARRAY' }, null);
    case PgOid.uuid:
      // Portable: the canonical 36-character text (Spark up to 4.0.2 refuses FIXED_LEN_BYTE_ARRAY UUID outright;
      // Glue has no uuid type; Arrow C++ cannot read it).
      if (portable) return TEXT_FORM;
      return {
        parquetType: 'UUID',
        leaf: { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, logical_type: { type: 'UUID' } },
        textForm: null,
        builder: newUuidBuilder,
        decoder: (column) => new UuidDecoder(column),
      };
    case PgOid.date:
      return temporal(
        'DATE',
        { type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } },
        'date',
        (c) => new DateBuilder(c, profile.infinity),
        profile.infinity,
      );
    case PgOid.time:
      // Portable: `HH:MM:SS[.ffffff]` as Postgres prints it (Spark reads TIME only from 4.1, Glue has no time).
      if (portable) return TEXT_FORM;
      return temporal(
        'TIME(MICROS)',
        { type: 'INT64', converted_type: 'TIME_MICROS', logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' } },
        'time',
        (c) => new TimeBuilder(c),
        profile.infinity,
      );
    case PgOid.timestamp:
      return temporal('TIMESTAMP(MICROS)', timestampLeaf(false), 'timestamp', (c) => new TimestampBuilder(c, profile.infinity), profile.infinity);
    case PgOid.timestamptz:
      return temporal('TIMESTAMP(MICROS,UTC)', timestampLeaf(true), 'timestamp', (c) => new TimestampBuilder(c, profile.infinity), profile.infinity);
    case PgOid.inet:
      return INET_TEXT;
    default:
      // interval, enum, citext, inet, money, ranges, xml, timetz, oid, bit, "char", ...: Postgres text form.
      return TEXT_FORM;
  }
}

/** Date and timestamp columns (and arrays of them): the ones the ±infinity policy applies to. */
const INFINITE_TYPES = new Set<number>([PgOid.date, PgOid.timestamp, PgOid.timestamptz]);

/**
 * Maps a catalog column (domains already resolved) to its Parquet column, under a run's profile. A column
 * marked `hashed` (lambdas/engine/selection/column-rules.ts) is selected as `col::text`, arrays as a whole, and
 * written as the hex HMAC-SHA-256 of that text under `hashKey` (builders/hashed.ts): STRING in both profiles.
 * `hashKey` is needed only to build such a column (Export), not to plan it.
 */
export function mapColumn(col: CatalogColumn & { hashed?: boolean }, profile: ColumnProfile, hashKey?: Uint8Array): ColumnMapping {
  const name = col.name;
  const base = {
    name,
    pgType: col.pgType,
    typeOid: col.typeOid,
    typmod: col.typmod,
    elemTypeOid: col.elemTypeOid,
    nullable: col.nullable,
  };
  if (col.hashed) {
    return {
      plan: { ...base, parquetType: 'STRING', hashed: true },
      select: (quotedIdent) => `${quotedIdent}::text`,
      schema: [{ name, repetition_type: 'OPTIONAL', ...STRING_LEAF }],
      newBuilder: () => {
        if (!hashKey) throw new InternalError(`column "${name}" is hashed but no key reached its builder`);
        return new HashedTextBuilder(name, hashKey);
      },
    };
  }
  if (col.elemTypeOid !== null) {
    // For an array column the typmod is the element's (numeric(10,2)[] has numeric(10,2) elements).
    const element = scalarMapping(col.elemTypeOid, col.typmod, profile);
    const schema: SchemaElement[] = [
      { name, repetition_type: 'OPTIONAL', num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: 'OPTIONAL', ...element.leaf },
    ];
    const textForm = element.textForm;
    return {
      plan: { ...base, parquetType: `LIST<${element.parquetType}>`, ...(INFINITE_TYPES.has(col.elemTypeOid) ? { infinity: profile.infinity } : {}) },
      select: (quotedIdent) => (textForm ? textForm.array(quotedIdent) : quotedIdent),
      schema,
      newBuilder: () => new ListBuilder(name, element.decoder(name)),
    };
  }
  const scalar = scalarMapping(col.typeOid, col.typmod, profile);
  const textForm = scalar.textForm;
  return {
    plan: { ...base, parquetType: scalar.parquetType, ...(INFINITE_TYPES.has(col.typeOid) ? { infinity: profile.infinity } : {}) },
    select: (quotedIdent) => (textForm ? textForm.value(quotedIdent) : quotedIdent),
    schema: [{ name, repetition_type: 'OPTIONAL', ...scalar.leaf }],
    newBuilder: () => scalar.builder(name),
    decoder: () => scalar.decoder(name),
  };
}

/**
 * Rebuilds a mapping from the plan saved in `_plan.json` (Export runs in another process than Plan). The
 * mapping is re-derived from the catalog facts; a plan whose Parquet type disagrees was made by a different
 * mapping and is refused rather than written with a different schema.
 */
export function mappingFromPlan(plan: ColumnPlan, profile: ColumnProfile, hashKey?: Uint8Array): ColumnMapping {
  const mapping = mapColumn(plan, profile, hashKey);
  if (mapping.plan.parquetType !== plan.parquetType) {
    throw new RunDocumentError(
      `column "${plan.name}": the plan says ${plan.parquetType} but this version maps ${plan.pgType} to ${mapping.plan.parquetType}`,
    );
  }
  return { ...mapping, plan };
}
