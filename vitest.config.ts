import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end suites spawn git, the worker and browsers; two cores do not gain from more forks.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
