/**
 * The key of hashed columns (column-rules.ts, builders/hashed.ts). Whoever runs the engine provides it
 * (`EngineEnvironment.hashKey`): on Lambda the database secret's `hashKey` field, on the CLI `--hash-key-file`
 * or `PGSIP_HASH_KEY`. The key is the bytes of that text (UTF-8; a file's one trailing newline is not part of
 * it), so the same text gives the same hashes everywhere, and `encode(hmac(col::text, '<key>', 'sha256'),
 * 'hex')` (pgcrypto) gives them in SQL.
 *
 * The key never appears in a plan, manifest, log line or message: errors name where it was to come from,
 * never its value, and no fingerprint of it is written.
 */
import type { TablePlan } from '../contracts';
import type { EngineEnvironment } from '../environment';
import { InputError, PgsipError } from '../errors';

/** HMAC-SHA-256 keys shorter than this are refused (RFC 2104 advises at least the hash's 32 bytes). */
export const MIN_HASH_KEY_BYTES = 16;

/** A key from text; `source` says where it came from, for the error (`--hash-key-file /x`, `PGSIP_HASH_KEY`). */
export function hashKeyFromText(text: string, source: string): Uint8Array {
  const key = new TextEncoder().encode(text.replace(/\r?\n$/, ''));
  if (key.length < MIN_HASH_KEY_BYTES) {
    throw new InputError(`the hash key from ${source} is ${key.length} bytes; hashing needs at least ${MIN_HASH_KEY_BYTES}`);
  }
  return key;
}

/** The first hashed column of these plans, to name it when there is no key. */
function firstHashed(plans: Pick<TablePlan, 'table' | 'columns'>[]): { table: string; column: string } | null {
  for (const plan of plans) {
    const column = plan.columns.find((c) => c.hashed);
    if (column) return { table: plan.table, column: column.name };
  }
  return null;
}

/**
 * The key when these plans hash a column (undefined when none does); a missing or short key is an InputError
 * naming the table and column that needed it. Plan calls it before it records anything, Export before it reads.
 */
export async function hashKeyFor(plans: Pick<TablePlan, 'table' | 'columns'>[], env: Pick<EngineEnvironment, 'hashKey'>): Promise<Uint8Array | undefined> {
  const needed = firstHashed(plans);
  if (!needed) return undefined;
  const where = `table ${needed.table}, column "${needed.column}"`;
  if (!env.hashKey) {
    throw new InputError(
      `${where} is to be hashed but no hash key is configured (pgsip run: --hash-key-file or PGSIP_HASH_KEY; on AWS: the "hashKey" field of the database secret)`,
    );
  }
  let key: Uint8Array;
  try {
    key = await env.hashKey();
  } catch (error) {
    // A secret that could not be read stays what it was (a ConnectionError, say); a key refused is named here.
    if (error instanceof PgsipError && !(error instanceof InputError)) throw error;
    const message = ((error as Error)?.message ?? String(error)).split('\n')[0];
    throw new InputError(`${where} is to be hashed: ${message}`, { cause: error });
  }
  if (key.length < MIN_HASH_KEY_BYTES) throw new InputError(`${where} is to be hashed: the hash key is ${key.length} bytes; hashing needs at least ${MIN_HASH_KEY_BYTES}`);
  return key;
}
