#!/usr/bin/env node
// The `pgsip` command. In an installed package it runs the CLI prebuilt in dist/bin (npm run build). In a
// clone the CLI is TypeScript: compiled once per source version (see cli-bundle.js), or run through tsx where
// that cannot be done, so a clone works with no build step (and never runs a stale dist/).
import { existsSync } from 'node:fs';

const source = new URL('./cli.ts', import.meta.url);
const prebuilt = new URL('../dist/bin/cli.js', import.meta.url);
if (!existsSync(source) && existsSync(prebuilt)) {
  await import(prebuilt.href);
} else {
  const { compiledCli } = await import('./cli-bundle.js');
  const compiled = await compiledCli();
  if (compiled) {
    await import(compiled);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./cli.ts');
  }
}
