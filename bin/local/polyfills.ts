/**
 * aws-local-stepfunctions 3 calls Node 22's `Promise.withResolvers`; Node 20 (this project's floor for the
 * CLI) lacks it. Lambda itself runs nodejs22.x or newer and never loads this file.
 */
const P = Promise as unknown as { withResolvers?: unknown };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
export {};
