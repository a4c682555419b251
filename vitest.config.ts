import { defineConfig } from 'vitest/config';

// Two projects: `unit` (unit + loopback integration, parallel) and `e2e-netns` (network
// namespaces, root only, one file at a time: they share the machine's two cores and
// build labs that must not compete). `npm test` runs both, one after the other.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'apps/*/src/**/*.test.ts',
            'apps/*/test/**/*.test.ts',
          ],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          // fast-check budgets: short in npm test, long under npm run fuzz.
          setupFiles: ['scripts/fuzz-setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e-netns',
          include: ['e2e/netns/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
