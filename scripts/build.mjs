// Builds the dual package: ESM into dist/esm, CommonJS into dist/cjs, each with its own .d.ts.
//
// Both passes compile the same sources with tsconfig.build.json (which excludes *.test.ts).
// The CJS pass overrides the module system; dist/cjs/package.json then marks that tree as
// CommonJS so Node and TypeScript read its .js and .d.ts files as CJS despite the root
// package's "type": "module".
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc')
const dist = join(root, 'dist')

function run(label, args) {
  const started = Date.now()
  const result = spawnSync(tsc, ['-p', 'tsconfig.build.json', ...args], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`build: ${label} failed (tsc exit ${result.status})`)
    process.exit(result.status ?? 1)
  }
  console.log(`build: ${label} ok (${Date.now() - started} ms)`)
}

rmSync(dist, { recursive: true, force: true })

run('esm', ['--outDir', 'dist/esm'])

run('cjs', [
  '--outDir',
  'dist/cjs',
  '--module',
  'commonjs',
  '--moduleResolution',
  'node10',
  // verbatimModuleSyntax forbids ESM syntax in a CommonJS emit; the CJS pass needs the rewrite.
  '--verbatimModuleSyntax',
  'false',
])

mkdirSync(join(dist, 'cjs'), { recursive: true })
writeFileSync(join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`)
// Explicit for symmetry: the root package is already "type": "module".
writeFileSync(join(dist, 'esm', 'package.json'), `${JSON.stringify({ type: 'module' })}\n`)
console.log('build: wrote dist/cjs/package.json and dist/esm/package.json')
