/**
 * Serves the Distributed Map's ItemReader in a local run. aws-local-stepfunctions runs a Distributed Map as an
 * inline Map and ignores ItemReader (docs/architecture.md, "Traps"): it iterates over the Map's input, or
 * over what `ItemsPath` selects. So for each Map of the synthesized definition that reads its items from S3,
 * this module does what Step Functions does before the Map starts: it resolves the ItemReader's `Parameters`
 * (Bucket, Key) against the Map's input, reads that JSON array from the destination, and hands the items to
 * the interpreter. The interpreter gets a copy of the definition with one difference, applied to those Maps
 * only: an `ItemsPath` pointing at the items the runner placed in the Map's input. Anything it cannot serve
 * exactly (another reader, another input type, a Map whose input is not a Task's `$.Payload`) is refused.
 */
import type { ObjectAddress } from '../../lambdas/engine/contracts';
import type { Destination } from '../../lambdas/engine/destinations/destination';

/** Where the runner puts a Map's items in its input (never a key pgsip's own payloads use). */
export const LOCAL_ITEMS_FIELD = '__pgsipLocalItems';

type State = Record<string, unknown> & { Type?: string; Next?: string };
type Definition = { States: Record<string, State> };

export interface ServedItemReaders {
  /** The definition to give the interpreter. */
  interpreted: Record<string, unknown>;
  /** Per Task state feeding such a Map: what to do to its Lambda payload before the Map sees it. */
  afterTask: Record<string, (payload: unknown) => Promise<unknown>>;
}

/** Resolves `$.a.b` against `input`; the only JSONPath the ItemReader Parameters pgsip synthesizes use. */
function resolvePath(path: string, input: unknown, where: string): unknown {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) throw new Error(`${where}: the local runner resolves only plain paths like $.a.b, not ${path}`);
  let value: unknown = input;
  for (const part of path.slice(2).split('.')) {
    if (value === null || typeof value !== 'object' || !(part in value)) throw new Error(`${where}: ${path} is not in the Map's input`);
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function resolveParameters(parameters: Record<string, unknown>, input: unknown, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (key.endsWith('.$')) out[key.slice(0, -2)] = resolvePath(String(value), input, where);
    else out[key] = value;
  }
  return out;
}

export function serveItemReaders(definition: Record<string, unknown>, destination: Destination): ServedItemReaders {
  const interpreted = structuredClone(definition) as unknown as Definition;
  const afterTask: ServedItemReaders['afterTask'] = {};
  serveScope(interpreted.States, destination, afterTask);
  return { interpreted: interpreted as unknown as Record<string, unknown>, afterTask };
}

/** One `States` object, and those nested in its Parallel branches and Map processors (state names are unique). */
function serveScope(states: Record<string, State>, destination: Destination, afterTask: ServedItemReaders['afterTask']): void {
  for (const state of Object.values(states)) {
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches as Definition[]) serveScope(branch.States, destination, afterTask);
    }
    const processor = (state.ItemProcessor ?? state.Iterator) as Definition | undefined;
    if (state.Type === 'Map' && processor?.States) serveScope(processor.States, destination, afterTask);
  }
  for (const [name, state] of Object.entries(states)) {
    const reader = state.ItemReader as { Resource?: string; ReaderConfig?: { InputType?: string; MaxItems?: number }; Parameters?: Record<string, unknown> } | undefined;
    if (state.Type !== 'Map' || !reader) continue;
    const where = `state ${name}'s ItemReader`;
    if (!String(reader.Resource).endsWith(':states:::s3:getObject') || reader.ReaderConfig?.InputType !== 'JSON' || !reader.Parameters) {
      throw new Error(`${where}: the local runner serves only s3:getObject of a JSON array with Parameters`);
    }
    if (state.ItemsPath !== undefined) throw new Error(`${where}: a Map with an ItemReader has no ItemsPath`);
    const feeders = Object.entries(states).filter(([, s]) => s.Next === name);
    const [feeder, feederState] = feeders[0] ?? [];
    if (feeders.length !== 1 || feederState?.Type !== 'Task' || feederState.OutputPath !== '$.Payload' || feederState.ResultSelector || feederState.ResultPath) {
      throw new Error(`${where}: the local runner needs exactly one Task before the Map, with OutputPath $.Payload`);
    }
    const parameters = reader.Parameters;
    const maxItems = reader.ReaderConfig?.MaxItems;
    afterTask[feeder] = async (payload) => {
      const { Bucket, Key } = resolveParameters(parameters, payload, where);
      const address: ObjectAddress = { bucket: String(Bucket), key: String(Key) };
      const key = destination.keyAt(address);
      if (key === null) throw new Error(`${where}: ${address.bucket}/${address.key} is not in ${destination.root}`);
      const body = await destination.get(key);
      if (body === null) throw new Error(`${where}: no object at ${destination.location(key)}`);
      const items: unknown = JSON.parse(body.toString('utf8'));
      if (!Array.isArray(items)) throw new Error(`${where}: ${destination.location(key)} is not a JSON array`);
      return { ...(payload as object), [LOCAL_ITEMS_FIELD]: maxItems ? items.slice(0, maxItems) : items };
    };
    state.ItemsPath = `$.${LOCAL_ITEMS_FIELD}`;
  }
}
