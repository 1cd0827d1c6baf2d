import { defineConfig } from 'vitest/config';

// `npm test`: everything that needs nothing beyond npm. The suites that need
// system packages (the C++ oracle, capnp, C++ peers) live in test/system and
// run from scripts/test-system.sh.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/system/**', 'node_modules/**'],
    testTimeout: 30000,
  },
});
