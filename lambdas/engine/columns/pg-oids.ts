/**
 * Built-in PostgreSQL type OIDs (`pg_type.oid`, fixed in `pg_type.dat`; they never change between versions).
 * Extension types (citext, hstore, ...) have OIDs assigned at install time and are not listed: they take the
 * text fallback.
 */
export const PgOid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  cidr: 650,
  inet: 869,
  float4: 700,
  float8: 701,
  money: 790,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** The array type of each built-in element type above (`pg_type.typarray`), for tests and diagnostics. */
export const PgArrayOid = {
  bool: 1000,
  bytea: 1001,
  name: 1003,
  int2: 1005,
  int4: 1007,
  text: 1009,
  bpchar: 1014,
  varchar: 1015,
  int8: 1016,
  float4: 1021,
  float8: 1022,
  json: 199,
  date: 1182,
  time: 1183,
  timestamp: 1115,
  timestamptz: 1185,
  interval: 1187,
  numeric: 1231,
  uuid: 2951,
  jsonb: 3807,
} as const;
