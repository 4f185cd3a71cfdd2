/**
 * The selection and masking flags of `pgsip run` and `pgsip start` (`--exclude-tables`, `--exclude-columns`,
 * `--hash-columns`) as execution input, checked before anything connects; and, for `pgsip run`, the hash key
 * from `--hash-key-file` or `PGSIP_HASH_KEY`, which is read once and never printed.
 */
import { readFileSync } from 'node:fs';
import type { ExecutionInput } from '../../lambdas/engine/contracts';
import type { EngineEnvironment } from '../../lambdas/engine/environment';
import { InputError } from '../../lambdas/engine/errors';
import { splitTableList } from '../../lambdas/engine/postgres/table-name';
import { parseColumnEntry } from '../../lambdas/engine/selection/column-rules';
import { hashKeyFromText } from '../../lambdas/engine/selection/hash-key';
import { checkTableEntry } from '../../lambdas/engine/selection/table-patterns';

export type SelectionFlag = 'excludeTables' | 'excludeColumns' | 'hashColumns';

const FLAGS: Record<SelectionFlag, string> = {
  excludeTables: '--exclude-tables',
  excludeColumns: '--exclude-columns',
  hashColumns: '--hash-columns',
};

/** The flags' comma-separated lists (Postgres quoting) as execution input fields. */
export function selectionInput(options: Partial<Record<SelectionFlag, string>>): Pick<ExecutionInput, SelectionFlag> {
  const input: Pick<ExecutionInput, SelectionFlag> = {};
  for (const field of Object.keys(FLAGS) as SelectionFlag[]) {
    const text = options[field];
    if (text === undefined) continue;
    const list = splitTableList(text);
    if (list.length === 0) throw new InputError(`${FLAGS[field]} names nothing`);
    for (const entry of list) {
      if (field === 'excludeTables') checkTableEntry(entry, field);
      else parseColumnEntry(entry, field);
    }
    input[field] = list;
  }
  return input;
}

/** `hashKey` for the engine environment, from `--hash-key-file` or else `PGSIP_HASH_KEY`; nothing when neither is set. */
export function hashKeyOption(
  options: { hashKeyFile?: string },
  env: NodeJS.ProcessEnv = process.env,
): Pick<EngineEnvironment, 'hashKey'> {
  let key: Uint8Array;
  if (options.hashKeyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.hashKeyFile, 'utf8');
    } catch (error) {
      throw new InputError(`cannot read --hash-key-file ${options.hashKeyFile}: ${(error as { code?: string }).code ?? 'error'}`);
    }
    key = hashKeyFromText(text, `--hash-key-file ${options.hashKeyFile}`);
  } else if (env.PGSIP_HASH_KEY) {
    key = hashKeyFromText(env.PGSIP_HASH_KEY, 'PGSIP_HASH_KEY');
  } else {
    return {};
  }
  return { hashKey: async () => key };
}
