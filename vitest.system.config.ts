import { defineConfig } from 'vitest/config';

// Suites that need system packages (see scripts/test-system.sh), and the
// relay's own suites again with the native relay pump required (built by
// scripts/test-system.sh; `npm test` runs them with whichever relay the
// machine has).
export default defineConfig({
  test: {
    testTimeout: 120000,
    hookTimeout: 300000,
    projects: [
      { extends: true, test: { name: 'system', include: ['test/system/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'pump',
          include: ['test/proxy/relay.test.ts', 'test/proxy/close.test.ts', 'test/e2e/proxy-recording.test.ts', 'test/e2e/recorder-limits.test.ts', 'test/e2e/takeover.test.ts'],
          env: { IPC_TRACE_RELAY: 'pump' },
          testTimeout: 30000,
        },
      },
    ],
  },
});
