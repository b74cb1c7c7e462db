// Builds the dual package: ESM into dist/esm, CommonJS into dist/cjs, each with its own .d.ts.
//
// Both passes compile the same sources with tsconfig.build.json (which excludes *.test.ts).
// The CJS pass overrides the module system; dist/cjs/package.json then marks that tree as
// CommonJS so Node and TypeScript read its .js and .d.ts files as CJS despite the root
// package's "type": "module".
//
// Run by `npm run build`, and by npm itself through the "prepare" script: on `npm install` in a
// clone (so the `portcullis` bin works there), and on `npm pack` / `npm publish`. Everything it
// and tsc print goes to stderr: npm passes a prepare script's stdout through, and
// `npm pack --json` must print nothing but its JSON.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// The `typescript` devDependency by path: node_modules/.bin/tsc may be typescript7's (both
// packages ship a `tsc` bin, and npm links whichever it installed last).
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const dist = join(root, 'dist')

function run(label, args) {
  const started = Date.now()
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...args], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`build: ${label} failed (tsc exit ${result.status})`)
    process.exit(result.status ?? 1)
  }
  console.error(`build: ${label} ok (${Date.now() - started} ms)`)
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
console.error('build: wrote dist/cjs/package.json and dist/esm/package.json')

// The package's bin: npm links it into node_modules/.bin, so it must start with a shebang, and
// an executable mode keeps `./dist/esm/src/cli/main.js` runnable straight from a checkout.
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
for (const target of Object.values(bin ?? {})) {
  const file = join(root, target)
  if (!readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node\n')) {
    console.error(`build: ${target} (package.json "bin") does not start with #!/usr/bin/env node`)
    process.exit(1)
  }
  chmodSync(file, 0o755)
  console.error(`build: ${target} is executable`)
}
