/**
 * `RelayedError.named`: an error raised again elsewhere from its name and message (a snapshot holder's failure,
 * raised by Plan and Export) is of pgsip's class of that name, for every class errors.ts has; any other name is
 * kept.
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../../../lambdas/engine/errors';
import { PgsipError, RelayedError, TableLockedError } from '../../../lambdas/engine/errors';

const errorNamed = RelayedError.named;

/** Every class errors.ts exports under PgsipError, but RelayedError (whose name is whatever it carries). */
const classes = (Object.values(errors) as unknown[]).filter(
  (value): value is new (a: string, b: string) => PgsipError =>
    typeof value === 'function' && (value === PgsipError || value.prototype instanceof PgsipError) && value !== RelayedError,
);

describe('RelayedError.named', () => {
  it('knows every error class of errors.ts by its literal name, and keeps the message word for word', () => {
    expect(classes.length).toBeGreaterThanOrEqual(20);
    for (const Class of classes) {
      const name = new Class('a', 'b').name;
      const error = errorNamed(name, `table "public"."t": what ${name} says`);
      expect(error, name).toBeInstanceOf(Class);
      expect([error.name, error.message]).toEqual([name, `table "public"."t": what ${name} says`]);
    }
  });

  it('keeps a cause', () => {
    const cause = new Error('55P03');
    expect(errorNamed('TableLockedError', 'locked', { cause })).toMatchObject({ cause });
    expect(errorNamed('TableLockedError', 'locked')).toBeInstanceOf(TableLockedError);
  });

  it('carries a name it does not know as a PgsipError of that name', () => {
    const error = errorNamed('error', 'permission denied for table t');
    expect(error).toBeInstanceOf(RelayedError);
    expect(error).toBeInstanceOf(PgsipError);
    expect(new RelayedError('m').name).toBe('RelayedError');
    expect([error.name, error.message, String(error)]).toEqual(['error', 'permission denied for table t', 'error: permission denied for table t']);
  });
});
