/**
 * The naive baseline of `pgsip bench`: what the obvious Node code does. A node-postgres cursor (DECLARE/FETCH
 * with pg's default type parsing) feeds parquetjs-lite row by row. Run as its own process by the benchmark:
 *   node --import tsx bin/local/bench/naive-export.ts <database-url> <table> <output.parquet>
 * Prints the row count on stdout.
 */
import pg from 'pg';
// parquetjs-lite ships no types.
// @ts-expect-error untyped CommonJS module
import parquet from 'parquetjs-lite';

const [url, table, output] = process.argv.slice(2);
if (!url || !table || !output) throw new Error('usage: naive-export.ts <database-url> <table> <output.parquet>');

const schema = new parquet.ParquetSchema({
  id: { type: 'INT64' },
  customer_id: { type: 'INT32' },
  ordered_at: { type: 'TIMESTAMP_MILLIS' },
  amount: { type: 'UTF8' },
  sku: { type: 'UTF8' },
  note: { type: 'UTF8', optional: true },
  details: { type: 'JSON' },
});

const client = new pg.Client(url);
await client.connect();
const writer = await parquet.ParquetWriter.openFile(schema, output, { compression: 'SNAPPY' });
let rows = 0;
await client.query('BEGIN');
await client.query(`DECLARE c NO SCROLL CURSOR FOR SELECT id, customer_id, ordered_at, amount, sku, note, details FROM ${table}`);
for (;;) {
  const batch = await client.query('FETCH 10000 FROM c');
  if (batch.rows.length === 0) break;
  for (const row of batch.rows) {
    if (row.note === null) delete row.note;
    await writer.appendRow(row);
  }
  rows += batch.rows.length;
}
await client.query('COMMIT');
await writer.close();
await client.end();
process.stdout.write(`${rows}\n`);
