#!/usr/bin/env node
// The `pgsip` command. The CLI is TypeScript: compiled once per source version (see cli-bundle.js), or run
// through tsx where that cannot be done, so a clone works with no build step.
import { compiledCli } from './cli-bundle.js';

const compiled = await compiledCli();
if (compiled) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}
