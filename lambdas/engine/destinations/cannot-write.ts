/**
 * The first write of a run (the held snapshot, a table's plan) is where a destination that cannot be written
 * shows: one line naming the destination and the reason, before any shard runs.
 */
import type { Destination } from './destination';
import { DestinationError, InputError } from '../errors';

export function cannotWrite(destination: Destination, error: unknown): Error {
  if (error instanceof DestinationError) return error; // it names the file and the reason already
  const e = error as { code?: string; name?: string; message?: string };
  return new InputError(`cannot write to ${destination.root}: ${e.code ?? e.name ?? 'error'}: ${(e.message ?? '').split('\n')[0]}`, { cause: error });
}
