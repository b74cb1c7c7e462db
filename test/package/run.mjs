// The built package, exercised the way a consumer gets it: `npm pack` (whose prepare script
// builds dist/), the tarball's file list, then the tarball installed into throwaway projects:
// the `portcullis` bin, ESM and CommonJS imports at runtime, TypeScript consumers under each
// module resolution mode with TypeScript 5 and 7, the README's quick starts pasted verbatim
// (quickstarts.mjs), and publint and attw on the same tarball. `npm run test:package`.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createReport, run } from './harness.mjs'
import { checkQuickStarts, packagesFor, readQuickStarts } from './quickstarts.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const started = Date.now()
const report = createReport()

// The compilers consumers are checked with: this repository's devDependencies `typescript` and
// `typescript7` (an npm alias of typescript@7). Both packages ship a `tsc` bin, so each is run
// from its own package rather than node_modules/.bin, and its version is checked first.
const compilers = [
  { label: 'TypeScript 5', major: 5, path: join(root, 'node_modules', 'typescript', 'bin', 'tsc') },
  {
    label: 'TypeScript 7',
    major: 7,
    path: join(root, 'node_modules', 'typescript7', 'bin', 'tsc'),
  },
]

async function expectSuccess(name, command, args, options, detail) {
  const result = await run(command, args, options)
  if (result.code === 0) {
    const note = [detail?.(result.output), `${result.ms} ms`].filter(Boolean).join(', ')
    report.ok(name, note)
    return result
  }
  report.fail(`${name} (exit ${result.code})`, result.output)
  return null
}

/** The version of a package installed in this repository, so installs hit the npm cache and
 * test what the lockfile pins. */
function installedVersion(name) {
  const file = join(root, 'node_modules', ...name.split('/'), 'package.json')
  if (!existsSync(file)) {
    throw new Error(
      `${name} is not installed here; add it as a devDependency so its version is locked`,
    )
  }
  return JSON.parse(readFileSync(file, 'utf8')).version
}

const tmp = mkdtempSync(join(tmpdir(), 'portcullis-package-'))
try {
  await main()
} catch (error) {
  report.fail('unexpected error', error.stack)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
console.log(
  `\n${report.failures === 0 ? 'all checks passed' : `${report.failures} check(s) failed`} in ${Date.now() - started} ms`,
)
process.exit(report.failures === 0 ? 0 : 1)

async function main() {
  console.log(`node ${process.version}, require(esm): ${process.features.require_module === true}`)

  // --- compilers ----------------------------------------------------------------------------
  for (const compiler of compilers) {
    const result = await run(process.execPath, [compiler.path, '--version'], { timeoutMs: 60_000 })
    const version = /Version (\d+)\.(\d+)\.\S+/.exec(result.stdout)
    if (result.code !== 0 || version === null || Number(version[1]) !== compiler.major) {
      report.fail(`${compiler.label} compiler`, `${compiler.path} --version: ${result.output}`)
      return
    }
    compiler.label = `TypeScript ${version[0].slice('Version '.length)}`
  }
  console.log(`compilers: ${compilers.map((compiler) => compiler.label).join(', ')}`)

  // --- pack: the prepare script builds dist/ ---------------------------------------------
  const packStarted = Date.now()
  const packed = await expectSuccess(
    'npm pack',
    'npm',
    ['pack', '--json', '--pack-destination', tmp],
    { cwd: root, timeoutMs: 600_000 },
  )
  if (packed === null) return
  // npm passes the prepare script's stdout through: the build must keep it clean, or
  // `npm pack --json | …` breaks for everyone.
  let packs
  try {
    packs = JSON.parse(packed.stdout)
  } catch (error) {
    report.fail(
      'npm pack --json prints only JSON',
      `${error.message}\n${packed.stdout.slice(0, 500)}`,
    )
    return
  }
  const [pack] = packs
  // The pack itself built dist/ (through the prepare script), rather than packing a stale one.
  const marker = join(root, 'dist', 'esm', 'package.json')
  const builtAt = existsSync(marker) ? statSync(marker).mtimeMs : undefined
  if (builtAt === undefined || builtAt + 2_000 < packStarted) {
    report.fail(
      'npm pack builds dist/',
      builtAt === undefined
        ? 'there is no dist/ after npm pack: is the prepare script there?'
        : `dist/ is from ${new Date(builtAt).toISOString()}, before the pack: is the prepare script there?`,
    )
  } else {
    report.ok('npm pack built dist/ first (the prepare script)')
  }
  const tarball = join(tmp, pack.filename)
  checkTarballContents(pack.files.map((file) => file.path))

  // --- install: one project per distinct README install line -----------------------------
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const quickStarts = readQuickStarts(readme)
  if (quickStarts.problems.length > 0) {
    report.fail('README quick starts', quickStarts.problems.join('\n'))
  }
  // Snippets with the same install line share a project. The import matrix below runs in the
  // first one (`consumer`). A project per line, not one for all: @types/koa, next to Express 5,
  // resolves Express's content-disposition 2 (which ships other types) and fails to typecheck.
  const projects = []
  for (const snippet of quickStarts.snippets) {
    const key = [...snippet.packages].sort().join(' ')
    let project = projects.find((candidate) => candidate.key === key)
    if (project === undefined) {
      project = {
        key,
        snippets: [],
        dir: join(tmp, projects.length === 0 ? 'consumer' : `app-${projects.length + 1}`),
      }
      projects.push(project)
    }
    project.snippets.push(snippet)
  }
  if (projects.length === 0) projects.push({ key: '', snippets: [], dir: join(tmp, 'consumer') })
  const consumer = projects[0].dir

  const installs = await Promise.all(
    projects.map(async (project) => {
      // @types/node: for the quick starts' own code (process.env) and the matrix's older
      // module settings; the package's types themselves do not need it.
      const names = [...new Set(['@types/node', ...packagesFor(project.snippets)])].sort()
      let specs
      try {
        specs = names.map((name) => `${name}@${installedVersion(name)}`)
      } catch (error) {
        report.fail(`npm install into ${relative(tmp, project.dir)}`, error.message)
        return false
      }
      mkdirSync(project.dir)
      writeFileSync(
        join(project.dir, 'package.json'),
        `${JSON.stringify({ name: relative(tmp, project.dir), version: '0.0.0', private: true })}\n`,
      )
      const name = `npm install the tarball + ${names.join(' ')} into ${relative(tmp, project.dir)}`
      const installed = await expectSuccess(
        name,
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--no-package-lock',
          '--prefer-offline',
          tarball,
          ...specs,
        ],
        { cwd: project.dir, timeoutMs: 600_000 },
      )
      return installed !== null
    }),
  )
  if (!installs[0]) return

  // --- the bin, as installed ---------------------------------------------------------------
  await checkBin(consumer)

  // --- runtime: ESM and CommonJS ----------------------------------------------------------
  for (const [file, source] of Object.entries(runtimeFixtures())) {
    writeFileSync(join(consumer, file), source)
  }
  for (const format of ['esm', 'cjs']) {
    const file = format === 'esm' ? 'runtime.mjs' : 'runtime.cjs'
    const label = format === 'esm' ? 'ESM import' : 'CJS require'
    for (const check of ['resolve', 'auth', 'instanceof', 'page', 'package.json']) {
      if (check === 'package.json' && format === 'esm') continue
      await expectSuccess(
        `${label}: ${check}`,
        process.execPath,
        [file, check],
        { cwd: consumer },
        (out) => out.split('\n').filter(Boolean).join('; '),
      )
    }
  }

  // --- types: TypeScript consumers, with each compiler ------------------------------------
  for (const [file, source] of Object.entries(typeFixtures())) {
    writeFileSync(join(consumer, file), source)
  }
  // skipLibCheck stays off (the default): the package's own .d.ts files are what is under test,
  // and a consumer that checks libraries must not get errors from them. No emit, so no
  // esModuleInterop either (node10/commonjs consumers without it are common).
  const tsconfigs = {
    // The README's setup: nothing but these options. TypeScript 7 loads no @types package by
    // default, so its run also proves the package's types need no @types/node.
    'nodenext, strict, nothing else (.mts + .cts)': {
      options: { module: 'nodenext', strict: true },
      files: ['esm.mts', 'cjs.cts'],
    },
    'node16 (.mts + .cts)': {
      options: { module: 'node16', moduleResolution: 'node16' },
      files: ['esm.mts', 'cjs.cts'],
    },
    bundler: { options: { module: 'esnext', moduleResolution: 'bundler' }, files: ['bundler.ts'] },
    // TypeScript 7 removed moduleResolution node10 (TS5108); typesVersions serve older ones.
    'node10 (typesVersions)': {
      options: { module: 'commonjs', moduleResolution: 'node10' },
      files: ['node10.ts'],
      before: 7,
    },
  }
  const typeChecks = []
  for (const compiler of compilers) {
    for (const [name, { options, files, before }] of Object.entries(tsconfigs)) {
      if (before !== undefined && compiler.major >= before) continue
      const config = join(consumer, `tsconfig.${typeChecks.length}.json`)
      const defaults = name.startsWith('nodenext')
        ? {}
        : { target: 'ES2022', lib: ['ES2022'], strict: true, types: ['node'] }
      writeFileSync(
        config,
        JSON.stringify({ compilerOptions: { ...defaults, ...options, noEmit: true }, files }),
      )
      typeChecks.push(
        expectSuccess(
          `${compiler.label}: ${name}`,
          process.execPath,
          [compiler.path, '-p', config],
          {
            cwd: consumer,
            timeoutMs: 300_000,
          },
        ),
      )
    }
  }
  await Promise.all(typeChecks)

  // --- the README's quick starts, pasted into new apps -----------------------------------
  if (quickStarts.problems.length === 0 && installs.every(Boolean)) {
    await checkQuickStarts({
      snippets: quickStarts.snippets,
      curl: quickStarts.curl,
      projectOf: (snippet) => projects.find((project) => project.snippets.includes(snippet)).dir,
      compilers,
      report,
    })
  }

  // --- package linters, on the very tarball that was installed ----------------------------
  await expectSuccess(
    'publint --strict',
    bin('publint'),
    ['run', '--strict', tarball],
    { cwd: root },
    (out) => out.split('\n').at(-1),
  )
  await expectSuccess(
    'attw (profile strict: node10, node16 CJS/ESM, bundler)',
    bin('attw'),
    // The API keys page's element and stylesheet are browser files for bundlers (an ES module
    // and CSS), not Node entry points; the 'page' checks above cover them.
    [
      tarball,
      '--format',
      'ascii',
      '--no-definitely-typed',
      '--no-emoji',
      '--exclude-entrypoints',
      './api-keys-element',
      './api-keys-element.css',
    ],
    { cwd: root },
    (out) => (/No problems found/.test(out) ? 'no problems found' : undefined),
  )
}

/**
 * The tarball holds every file package.json points at, the SQL migrations and the README, and
 * nothing a consumer does not run: no tests, sources, benchmarks or examples.
 */
function checkTarballContents(paths) {
  const have = new Set(paths)
  const targets = new Set([
    'package.json',
    'README.md',
    'dist/cjs/package.json',
    'dist/esm/package.json',
  ])
  const addTargets = (value) => {
    if (typeof value === 'string') targets.add(value.replace(/^\.\//, ''))
    else if (Array.isArray(value)) value.forEach(addTargets)
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(addTargets)
  }
  addTargets(manifest.exports)
  addTargets(manifest.bin)
  addTargets(manifest.typesVersions)
  addTargets([manifest.main, manifest.module, manifest.types])
  const missing = []
  for (const target of targets) {
    if (target.includes('*')) {
      const pattern = new RegExp(`^${target.split('*').map(escapeRegExp).join('.+')}$`)
      if (!paths.some((path) => pattern.test(path))) missing.push(`${target} (matches nothing)`)
    } else if (!have.has(target)) missing.push(target)
  }
  const migrations = listFiles(join(root, 'adapters', 'sql', 'migrations')).filter((path) =>
    path.endsWith('.sql'),
  )
  if (migrations.length === 0)
    missing.push('adapters/sql/migrations/**/*.sql (none in the repository)')
  missing.push(...migrations.filter((path) => !have.has(path)))

  const unwanted = paths.filter(
    (path) =>
      /(^|\/)(test|tests|__tests__|test-support|bench|examples|coverage|\.portcullis)\//.test(
        path,
      ) ||
      /\.(test|spec)\./.test(path) ||
      /\.tsbuildinfo$|\.tgz$/.test(path) ||
      (/\.[cm]?ts$/.test(path) && !/\.d\.[cm]?ts$/.test(path)),
  )
  if (missing.length > 0 || unwanted.length > 0) {
    report.fail(
      'tarball contents',
      `missing: ${missing.join(', ') || 'nothing'}\nunwanted: ${unwanted.join(', ') || 'nothing'}`,
    )
  } else {
    report.ok(
      'tarball contents',
      `${paths.length} files: all ${targets.size} exports/bin/typesVersions targets, ${migrations.length} migrations, README; no tests, sources, bench or examples`,
    )
  }
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) =>
      relative(root, join(entry.parentPath ?? entry.path, entry.name))
        .split('\\')
        .join('/'),
    )
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `node_modules/.bin/portcullis --help` runs the packed CLI: a link to the bin target, a
 * `#!/usr/bin/env node` line, executable. */
async function checkBin(consumer) {
  const name = 'node_modules/.bin/portcullis --help'
  const link = join(consumer, 'node_modules', '.bin', 'portcullis')
  const target = join(consumer, 'node_modules', 'portcullis', manifest.bin.portcullis)
  const problems = []
  if (!existsSync(link)) {
    report.fail(name, 'npm linked no node_modules/.bin/portcullis')
    return
  }
  if (lstatSync(link).isSymbolicLink() && realpathSync(link) !== realpathSync(target)) {
    problems.push(`the link points at ${realpathSync(link)}, not ${target}`)
  }
  const firstLine = readFileSync(target, 'utf8').split('\n', 1)[0]
  if (firstLine !== '#!/usr/bin/env node') problems.push(`first line of the bin: ${firstLine}`)
  const result = await run(link, ['--help'], { cwd: consumer, timeoutMs: 60_000 })
  if (result.code !== 0) problems.push(`exit ${result.code}`)
  if (!/^Usage: portcullis <command>/m.test(result.stdout)) problems.push('no usage on stdout')
  if (problems.length === 0) report.ok(name, `exit 0, prints the usage, ${result.ms} ms`)
  else report.fail(name, `${problems.join('; ')}\n${result.output}`)
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
    case 'page': {
      // The API keys page from the packed build: it serves the same files the package exports
      // for bundlers (portcullis/api-keys-element and its .css), read from no file at runtime.
      const gate = createPortcullis({ store: new MemoryStore(), sessionSecret: 'x'.repeat(32) })
      await gate.projects.provision('proj_1')
      assert.equal(typeof forKoa.apiKeysPage, 'function')
      const page = forExpress.apiKeysPage(gate, { authorize: () => ({ projectId: 'proj_1' }) })
      const server = createServer((req, res) =>
        page(req, res, () => {
          res.statusCode = 404
          res.end()
        }),
      )
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
      const base = 'http://127.0.0.1:' + server.address().port + '/'
      try {
        const html = await (await fetch(base)).text()
        const script = /<script type="module" src="([^"]+)"/.exec(html)
        const style = /<link rel="stylesheet" href="([^"]+)"/.exec(html)
        assert.ok(script && style, 'no script or stylesheet in the page: ' + html)
        const exported = (spec) => readFileSync(${format === 'esm' ? 'new URL(import.meta.resolve(spec))' : 'require.resolve(spec)'}, 'utf8')
        const served = async (path) => (await fetch(base + path)).text()
        assert.equal(await served(script[1]), exported('portcullis/api-keys-element'))
        assert.equal(await served(style[1]), exported('portcullis/api-keys-element.css'))
        const context = await fetch(base + 'api/context', { headers: { 'X-Portcullis-Page': '1' } })
        assert.equal((await context.json()).projectId, 'proj_1')
        console.log('apiKeysPage serves the exported element and stylesheet; its API answers')
      } finally {
        server.close()
      }
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
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
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
const { readFileSync } = require('node:fs')
const { createServer } = require('node:http')
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
import {
  type ApiKeysPageGrant,
  apiKeysPage,
  type ExpressMiddleware,
  requireSecretKey,
} from 'portcullis/express'
import { apiKeysPage as koaApiKeysPage, type KoaMiddleware, requireSession } from 'portcullis/koa'
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
const grant: ApiKeysPageGrant = { projectId: 'proj_1', modes: ['test'], can: { reveal: false } }
export const expressPage = apiKeysPage(gate, { authorize: () => grant })
export const koaPage = koaApiKeysPage(gate, { prefix: '/keys', authorize: () => false })
// @ts-expect-error -- authorize is required
apiKeysPage(gate, {})
// The opt-in augmentation types req.auth on Express's Request.
export const augmented: Express.Request['auth'] = undefined as AuthContext | undefined

export const isCapacityError = (error: unknown): error is StoreCapacityError =>
  error instanceof StoreCapacityError && error instanceof PortcullisError
`
  return { 'esm.mts': source, 'cjs.cts': source, 'bundler.ts': source, 'node10.ts': source }
}
