import pg from 'pg';
import { startEmbeddedPostgres } from './bin/local/embedded-postgres';
const db = await startEmbeddedPostgres();
const c = new pg.Client(db.url); await c.connect();
for (const q of process.argv.slice(2)) {
  try { const r = await c.query(q); console.log(q, '=>', JSON.stringify(r.rows)); } catch (e) { console.log(q, 'ERR', (e as Error).message); }
}
await c.end(); await db.stop();
