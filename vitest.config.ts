import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'adapters/**/*.test.ts', 'test/**/*.test.ts'],
    // Skipped suites (a service that is not reachable) must show up as skipped, not vanish.
    reporters: ['default'],
    testTimeout: 20_000,
  },
})
