// Import matrix for the built package, exercised the way a consumer would: `npm pack`, install
// the tarball into a throwaway project, then import it from ESM and CommonJS at runtime,
// typecheck TypeScript consumers under each module resolution mode, and lint the tarball with
// publint and attw. Run after `npm run build` (`npm run test:package` does both).
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const started = Date.now()
let failures = 0

function run(command, args, cwd, timeoutMs = 60_000) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' } })
    let stdout = ''
    let output = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: signal ? `signal ${signal}` : code, stdout, output: noise(output) })
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ code: 'spawn error', stdout, output: String(error) })
    })
  })
}

// npm prints this for a user-level config key it no longer knows; it says nothing about us.
const noise = (text) =>
  text
    .split('\n')
    .filter((line) => !/npm warn Unknown (user|env) config/.test(line))
    .join('\n')
    .trim()

async function expectSuccess(name, command, args, cwd, detail) {
  const result = await run(command, args, cwd)
  if (result.code === 0) {
    const note = detail?.(result.output)
    console.log(`ok   ${name}${note ? ` (${note})` : ''}`)
    return result
  }
  fail(`${name} (exit ${result.code})`, result.output)
  return null
}

function fail(name, detail) {
  failures++
  console.log(`FAIL ${name}`)
  if (detail) console.log(detail.replace(/^/gm, '     | '))
}

if (!existsSync(join(root, 'dist', 'cjs', 'package.json'))) {
  console.error('test:package: dist/ is missing or incomplete; run `npm run build` first')
  process.exit(1)
}

const tmp = mkdtempSync(join(tmpdir(), 'portcullis-package-'))
try {
  await main()
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
console.log(
  `\n${failures === 0 ? 'all checks passed' : `${failures} check(s) failed`} in ${Date.now() - started} ms`,
)
process.exit(failures === 0 ? 0 : 1)

async function main() {
  console.log(`node ${process.version}, require(esm): ${process.features.require_module === true}`)

  // --- pack and install -------------------------------------------------------------------
  const packed = await expectSuccess(
    'npm pack',
    'npm',
    ['pack', '--json', '--pack-destination', tmp],
    root,
  )
  if (packed === null) return
  const [pack] = JSON.parse(packed.stdout)
  const tarball = join(tmp, pack.filename)
  const paths = pack.files.map((file) => file.path)
  const unwanted = paths.filter((path) =>
    /\.test\.|(^|\/)test\/|test-support|\.tsbuildinfo$/.test(path),
  )
  const missing = [
    'package.json',
    'dist/cjs/package.json',
    'dist/esm/src/index.d.ts',
    'dist/esm/src/cli/main.js',
    'adapters/sql/migrations/postgres/001_init.sql',
  ].filter((path) => !paths.includes(path))
  if (unwanted.length > 0 || missing.length > 0) {
    fail('tarball contents', `unwanted: ${unwanted.join(', ')}\nmissing: ${missing.join(', ')}`)
  } else {
    console.log(`ok   tarball contents (${paths.length} files, no tests, dist/cjs/package.json)`)
  }

  const consumer = join(tmp, 'consumer')
  mkdirSync(consumer)
  writeFileSync(
    join(consumer, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '0.0.0', private: true })}\n`,
  )
  const install = ['install', '--no-audit', '--no-fund', '--no-package-lock', tarball]
  let installed = await run('npm', [...install, '--offline'], consumer)
  let how = 'offline, from the npm cache'
  if (installed.code !== 0) {
    installed = await run('npm', [...install, '--prefer-offline'], consumer)
    how = 'online, offline install failed'
  }
  if (installed.code !== 0) {
    fail(`npm install tarball (exit ${installed.code})`, installed.output)
    return
  }
  console.log(`ok   npm install tarball (${how})`)

  // --- runtime: ESM and CommonJS ----------------------------------------------------------
  for (const [file, source] of Object.entries(runtimeFixtures())) {
    writeFileSync(join(consumer, file), source)
  }
  for (const format of ['esm', 'cjs']) {
    const file = format === 'esm' ? 'runtime.mjs' : 'runtime.cjs'
    const label = format === 'esm' ? 'ESM import' : 'CJS require'
    for (const check of ['resolve', 'auth', 'instanceof', 'package.json']) {
      if (check === 'package.json' && format === 'esm') continue
      await expectSuccess(`${label}: ${check}`, process.execPath, [file, check], consumer, (out) =>
        out.split('\n').filter(Boolean).join('; '),
      )
    }
  }

  // --- types: TypeScript consumers --------------------------------------------------------
  for (const [file, source] of Object.entries(typeFixtures())) {
    writeFileSync(join(consumer, file), source)
  }
  // skipLibCheck is off on purpose: the package's own .d.ts files are what is under test, and a
  // consumer that checks libraries must not get errors from them. No emit, so no esModuleInterop
  // either (node10/commonjs consumers without it are common). This repo's tsc and @types/node
  // do the checking.
  const tsconfigs = {
    'node16 (.mts + .cts)': {
      module: 'node16',
      moduleResolution: 'node16',
      files: ['esm.mts', 'cjs.cts'],
    },
    'nodenext (.mts + .cts)': {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      files: ['esm.mts', 'cjs.cts'],
    },
    bundler: { module: 'esnext', moduleResolution: 'bundler', files: ['bundler.ts'] },
    'node10 (typesVersions)': {
      module: 'commonjs',
      moduleResolution: 'node10',
      files: ['node10.ts'],
    },
  }
  await Promise.all(
    Object.entries(tsconfigs).map(([name, { files, ...modes }], index) => {
      const config = join(consumer, `tsconfig.${index}.json`)
      writeFileSync(
        config,
        JSON.stringify({
          compilerOptions: {
            ...modes,
            target: 'ES2022',
            lib: ['ES2022'],
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files,
        }),
      )
      return expectSuccess(`tsc ${name}`, bin('tsc'), ['-p', config], consumer)
    }),
  )

  // --- package linters, on the very tarball that was installed ----------------------------
  await expectSuccess(
    'publint --strict',
    bin('publint'),
    ['run', '--strict', tarball],
    root,
    (out) => out.split('\n').at(-1),
  )
  await expectSuccess(
    'attw (profile strict: node10, node16 CJS/ESM, bundler)',
    bin('attw'),
    [tarball, '--format', 'ascii', '--no-definitely-typed', '--no-emoji'],
    root,
    (out) => (/No problems found/.test(out) ? 'no problems found' : undefined),
  )
}

function runtimeFixtures() {
  const body = (format) => `
async function main(check) {
  switch (check) {
    case 'resolve': {
      const specs = [
        'portcullis',
        'portcullis/express',
        'portcullis/express/global',
        'portcullis/koa',
        'portcullis/adapters/memory',
        'portcullis/adapters/redis',
        'portcullis/adapters/sql',
        'portcullis/testing',
      ]
      for (const spec of specs) {
        const file = String(${format === 'esm' ? 'import.meta.resolve(spec)' : 'require.resolve(spec)'})
        assert.ok(file.includes('/dist/${format}/'), spec + ' resolved to ' + file)
      }
      assert.equal(typeof createManualClock, 'function')
      for (const binding of [forExpress, forKoa]) {
        for (const name of ['requireSecretKey', 'requirePublishableKey', 'requireSession', 'ipAllowlist']) {
          assert.equal(typeof binding[name], 'function', name)
        }
      }
      console.log(specs.length + ' subpaths -> dist/${format}, both bindings export the four middlewares')
      break
    }
    case 'auth': {
      const gate = createPortcullis({ store: new MemoryStore(), sessionSecret: 'x'.repeat(32) })
      const { test } = await gate.projects.provision('proj_1')
      const result = await gate.authenticate(
        { headers: { authorization: 'Bearer ' + test.secretKey.key }, remoteAddress: '127.0.0.1' },
        { credential: 'secret' },
      )
      assert.equal(result.ok, true, 'authenticate failed: ' + (result.error && result.error.code))
      assert.equal(result.auth.mode, 'test')
      console.log('ok === true, auth.mode === ' + JSON.stringify(result.auth.mode))
      break
    }
    case 'instanceof': {
      const gate = createPortcullis({
        store: new MemoryStore({ maxKeys: 1 }),
        sessionSecret: 'x'.repeat(32),
      })
      let caught
      try {
        await gate.projects.provision('proj_1')
      } catch (error) {
        caught = error
      }
      assert.ok(caught, 'provision with maxKeys: 1 did not throw')
      assert.equal(caught.code, 'store_full', 'unexpected error: ' + caught)
      assert.ok(caught instanceof StoreCapacityError, 'not instanceof StoreCapacityError')
      assert.ok(caught instanceof PortcullisError, 'not instanceof PortcullisError')
      console.log(caught.name + ' from adapters/memory instanceof PortcullisError from portcullis')
      break
    }
    case 'package.json': {
      const pkg = require('portcullis/package.json')
      assert.equal(pkg.name, 'portcullis')
      console.log("require('portcullis/package.json').name === 'portcullis'")
      break
    }
    default:
      throw new Error('unknown check ' + check)
  }
}
`
  return {
    'runtime.mjs': `import assert from 'node:assert/strict'
import { createPortcullis, PortcullisError, StoreCapacityError } from 'portcullis'
import { MemoryStore } from 'portcullis/adapters/memory'
import { createManualClock } from 'portcullis/testing'
import * as forExpress from 'portcullis/express'
import * as forKoa from 'portcullis/koa'
${body('esm')}
await main(process.argv[2])
`,
    'runtime.cjs': `'use strict'
const assert = require('node:assert/strict')
const { createPortcullis, PortcullisError, StoreCapacityError } = require('portcullis')
const { MemoryStore } = require('portcullis/adapters/memory')
const { createManualClock } = require('portcullis/testing')
const forExpress = require('portcullis/express')
const forKoa = require('portcullis/koa')
${body('cjs')}
main(process.argv[2]).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
`,
  }
}

function typeFixtures() {
  const source = `import type { AuthContext, PortcullisStore } from 'portcullis'
import { createPortcullis, PortcullisError, StoreCapacityError } from 'portcullis'
import { MemoryStore, type MemoryStoreOptions } from 'portcullis/adapters/memory'
import { createManualClock, type ManualClock } from 'portcullis/testing'
import { type ExpressMiddleware, requireSecretKey } from 'portcullis/express'
import { type KoaMiddleware, requireSession } from 'portcullis/koa'
import 'portcullis/express/global'

const options: MemoryStoreOptions = { maxKeys: 10 }
const store: PortcullisStore = new MemoryStore(options)
const clock: ManualClock = createManualClock(0)
const gate = createPortcullis({ store, sessionSecret: 'x'.repeat(32), clock: clock.now })

export async function authenticate(key: string): Promise<AuthContext> {
  const result = await gate.authenticate(
    { headers: { authorization: \`Bearer \${key}\` }, remoteAddress: '127.0.0.1' },
    { credential: 'secret' },
  )
  if (!result.ok) {
    const error: PortcullisError = result.error
    throw error
  }
  const mode: 'test' | 'live' = result.auth.mode
  // @ts-expect-error -- fails (as unused) if the package's types collapsed to any
  result.auth.notAProperty
  return { ...result.auth, mode }
}

export const expressGuard: ExpressMiddleware = requireSecretKey(gate, { mode: 'live' })
export const koaGuard: KoaMiddleware = requireSession(gate)
// The opt-in augmentation types req.auth on Express's Request.
export const augmented: Express.Request['auth'] = undefined as AuthContext | undefined

export const isCapacityError = (error: unknown): error is StoreCapacityError =>
  error instanceof StoreCapacityError && error instanceof PortcullisError
`
  return { 'esm.mts': source, 'cjs.cts': source, 'bundler.ts': source, 'node10.ts': source }
}
