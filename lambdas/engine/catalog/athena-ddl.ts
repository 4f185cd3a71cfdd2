/**
 * A LakeTable as Athena DDL: `CREATE EXTERNAL TABLE` with every name in backticks (a backtick inside doubled)
 * and string literals in single quotes (Hive's DDL escapes `'` and `\` with a backslash). `STORED AS PARQUET`
 * is Athena's spelling of the SerDe and formats glue-table-input.ts names. To move an existing table to a newer
 * run, `ALTER TABLE … SET LOCATION` with the new folder, or let Commit do it in Glue.
 */
import type { LakeChain, LakeTable } from './lake-table';

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const qualified = (name: string, database?: string) => (database ? `${ident(database)}.${ident(name)}` : ident(name));

/** `database`: qualify the table name with it (`analytics`.`public_orders`); omitted, Athena's current database. */
export function athenaDdl(table: LakeTable & { partitionKey?: LakeTable['columns'][number] }, database?: string): string {
  const columns = table.columns.map((c) => `  ${ident(c.name)} ${c.type} COMMENT ${literal(c.comment)}`);
  const properties = Object.entries(table.parameters)
    .filter(([key]) => key !== 'EXTERNAL')
    .map(([key, value]) => `  ${literal(key)}=${literal(value)}`);
  const p = table.partitionKey;
  return [
    `CREATE EXTERNAL TABLE ${qualified(table.name, database)} (`,
    columns.join(',\n'),
    ')',
    `COMMENT ${literal(table.description)}`,
    ...(p ? [`PARTITIONED BY (${ident(p.name)} ${p.type} COMMENT ${literal(p.comment)})`] : []),
    'STORED AS PARQUET',
    `LOCATION ${literal(table.location)}`,
    'TBLPROPERTIES (',
    properties.join(',\n'),
    ');',
  ].join('\n');
}

/**
 * An incremental table: the runs table (partitioned by run), one partition per run of the chain, and the view
 * that deduplicates them (Athena runs views as Trino SQL: double-quoted names there). Re-running the three
 * statements after a newer run adds its partition and replaces the view.
 */
export function athenaChainDdl(chain: LakeChain, database?: string): string {
  const partitions = chain.partitions.map((p) => `  PARTITION (${ident(chain.runs.partitionKey.name)} = ${literal(p.value)}) LOCATION ${literal(p.location)}`);
  const view = database ? `"${database.replace(/"/g, '""')}"."${chain.view.name}"` : `"${chain.view.name}"`;
  return [
    athenaDdl(chain.runs, database),
    '',
    `ALTER TABLE ${qualified(chain.runs.name, database)} ADD IF NOT EXISTS`,
    `${partitions.join('\n')};`,
    '',
    `CREATE OR REPLACE VIEW ${view} AS`,
    `${chain.view.sql};`,
  ].join('\n');
}
