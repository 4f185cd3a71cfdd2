/**
 * A LakeTable as Athena DDL: `CREATE EXTERNAL TABLE` with every name in backticks (a backtick inside doubled)
 * and string literals in single quotes (Hive's DDL escapes `'` and `\` with a backslash). `STORED AS PARQUET`
 * is Athena's spelling of the SerDe and formats glue-table-input.ts names. To move an existing table to a newer
 * run, `ALTER TABLE … SET LOCATION` with the new folder, or let Commit do it in Glue.
 */
import type { LakeTable } from './lake-table';

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** `database`: qualify the table name with it (`analytics`.`public_orders`); omitted, Athena's current database. */
export function athenaDdl(table: LakeTable, database?: string): string {
  const name = database ? `${ident(database)}.${ident(table.name)}` : ident(table.name);
  const columns = table.columns.map((c) => `  ${ident(c.name)} ${c.type} COMMENT ${literal(c.comment)}`);
  const properties = Object.entries(table.parameters)
    .filter(([key]) => key !== 'EXTERNAL')
    .map(([key, value]) => `  ${literal(key)}=${literal(value)}`);
  return [
    `CREATE EXTERNAL TABLE ${name} (`,
    columns.join(',\n'),
    ')',
    `COMMENT ${literal(table.description)}`,
    'STORED AS PARQUET',
    `LOCATION ${literal(table.location)}`,
    'TBLPROPERTIES (',
    properties.join(',\n'),
    ');',
  ].join('\n');
}
