/**
 * Every state of an Amazon States Language definition by name, those inside Parallel branches and Map item
 * processors included (the state machine nests Plan, the Map and the holders under `Run`). State names are
 * unique across a definition; a name seen twice throws.
 */
export type AslState = Record<string, any>;

export function allStates(scope: AslState, out: Record<string, AslState> = {}): Record<string, AslState> {
  for (const [name, state] of Object.entries<AslState>(scope.States)) {
    if (name in out) throw new Error(`state name ${name} used twice`);
    out[name] = state;
    for (const branch of state.Branches ?? []) allStates(branch, out);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) allStates(processor, out);
  }
  return out;
}
