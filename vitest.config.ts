import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file starts its own Postgres; two at a time fit the 2-core machine.
    maxWorkers: 2,
    setupFiles: ['test/support/polyfills.ts'],
  },
});
