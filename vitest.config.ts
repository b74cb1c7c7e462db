import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  resolve: {
    // The examples import the package by name, as users do; tests run them against the source.
    alias: [
      { find: /^portcullis$/, replacement: source('./src/index.ts') },
      { find: /^portcullis\/express$/, replacement: source('./src/express/index.ts') },
      { find: /^portcullis\/koa$/, replacement: source('./src/koa/index.ts') },
      { find: /^portcullis\/adapters\/memory$/, replacement: source('./adapters/memory/index.ts') },
      { find: /^portcullis\/adapters\/redis$/, replacement: source('./adapters/redis/index.ts') },
      { find: /^portcullis\/adapters\/sql$/, replacement: source('./adapters/sql/index.ts') },
      { find: /^portcullis\/testing$/, replacement: source('./src/testing/index.ts') },
    ],
  },
  test: {
    // The .mjs tests are plain JavaScript, as the checks they cover only matter without types.
    include: [
      'src/**/*.test.ts',
      'adapters/**/*.test.ts',
      'test/**/*.test.ts',
      'test/**/*.test.mjs',
      'bench/**/*.test.ts',
    ],
    testTimeout: 20_000,
  },
})
