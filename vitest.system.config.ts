import { defineConfig } from 'vitest/config';

// Suites that need system packages (see scripts/test-system.sh).
export default defineConfig({
  test: {
    include: ['test/system/**/*.test.ts'],
    testTimeout: 120000,
    hookTimeout: 300000,
  },
});
