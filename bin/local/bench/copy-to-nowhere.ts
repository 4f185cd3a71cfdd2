/**
 * Postgres's own rate: the binary COPY of the benchmark table, received and dropped. Runs in the benchmark's
 * process, or as a process of its own (to be pinned to a CPU like the Lambda-shaped row):
 *   node --import tsx bin/local/bench/copy-to-nowhere.ts <database-url> <table> <rows>   (prints seconds)
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';

export async function copyToNowhere(url: string, table: string, rows: number): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const started = process.hrtime.bigint();
    const stream = client.query(copyStreams.to(`COPY (SELECT * FROM ${table}) TO STDOUT (FORMAT binary)`));
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) bytes += chunk.length;
    if (bytes === 0 || rows === 0) throw new Error('COPY returned nothing');
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    await client.end();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, table, rows] = process.argv.slice(2);
  process.stdout.write(`${await copyToNowhere(url, table, Number(rows))}\n`);
}
