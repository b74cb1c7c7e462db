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
//
// First it builds the API keys page's browser files (src/page/assets: TypeScript against the
// DOM, and one stylesheet) into src/page/generated-assets.ts, which the page serves from; then
// the two passes; then dist/page/ gets the same two files (and the script's types), for
// bundlers (package exports ./api-keys-element and ./api-keys-element.css).
// `node scripts/build.mjs --page` rebuilds only the generated module (`npm run build:page`);
// with `--check` it changes nothing and fails when the module is stale (a test runs that).
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// The `typescript` devDependency by path: node_modules/.bin/tsc may be typescript7's (both
// packages ship a `tsc` bin, and npm links whichever it installed last).
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const dist = join(root, 'dist')

function run(label, args, project = 'tsconfig.build.json') {
  const started = Date.now()
  const result = spawnSync(process.execPath, [tsc, '-p', project, ...args], {
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

// --- the API keys page's browser files -----------------------------------------------------

const pageSources = join(root, 'src', 'page', 'assets')
const pageModule = join(root, 'src', 'page', 'generated-assets.ts')
const PAGE_ENTRY = 'element.js'
const PAGE_SCRIPT = 'portcullis-api-keys.js'
const PAGE_STYLE = 'portcullis-api-keys.css'
const PAGE_TYPES = 'portcullis-api-keys.d.ts'
// The element module exports nothing: importing it defines <portcullis-api-keys>.
const PAGE_TYPES_TEXT = `/** Importing this module defines <portcullis-api-keys>, the API keys page as a custom element. */
export {}
declare global {
  interface HTMLElementTagNameMap {
    'portcullis-api-keys': HTMLElement
  }
}
`

/**
 * Joins the ES modules tsc emitted into one, dependencies first. The sources keep to what this
 * can join exactly: named imports of sibling modules (`import { a } from './x.js'`, no `as`) and
 * `export` on declarations; anything else fails the build, and so does a name declared in two
 * modules (the joined module is parsed by `node --check`).
 */
function joinModules(dir, entry) {
  const done = new Set()
  const parts = []
  const visit = (file, path) => {
    if (done.has(file)) return
    if (path.includes(file))
      throw new Error(`page assets: import cycle ${[...path, file].join(' → ')}`)
    let text = readFileSync(join(dir, file), 'utf8')
    const imports = []
    text = text.replace(/^import \{([^}]*)\} from '\.\/([\w-]+\.js)';?\n/gm, (_, names, from) => {
      if (/\bas\b/.test(names)) throw new Error(`page assets: ${file} renames an import`)
      imports.push(from)
      return ''
    })
    text = text.replace(/^export (?=(async )?function |const |let |class )/gm, '')
    const left = /^\s*(import|export)\b.*$/m.exec(text)
    if (left !== null) throw new Error(`page assets: ${file}: cannot join "${left[0].trim()}"`)
    for (const from of imports) visit(from, [...path, file])
    done.add(file)
    parts.push(text.trim())
  }
  visit(entry, [])
  return `${parts.join('\n')}\n`
}

/** Compiles src/page/assets and returns the script (one ES module) and the stylesheet. */
function buildPageAssets() {
  const out = mkdtempSync(join(tmpdir(), 'portcullis-page-'))
  try {
    run('page assets', ['--noEmit', 'false', '--outDir', out], join(pageSources, 'tsconfig.json'))
    const script = `/*! portcullis: <portcullis-api-keys>, the API keys page. MIT licence. */\n${joinModules(out, PAGE_ENTRY)}`
    const joined = join(out, 'joined.mjs')
    writeFileSync(joined, script)
    const check = spawnSync(process.execPath, ['--check', joined], { stdio: ['ignore', 2, 2] })
    if (check.status !== 0) throw new Error('page assets: the joined module does not parse')
    const style = readFileSync(join(pageSources, 'api-keys.css'), 'utf8')
    return { script, style }
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

function pageModuleText({ script, style }) {
  const base64 = (text) => Buffer.from(text, 'utf8').toString('base64')
  return [
    '// Generated by scripts/build.mjs (`npm run build:page`) from src/page/assets/: do not edit.',
    "// The page's script and stylesheet, in base64 so that no formatter or linter rewrites them.",
    // Laid out as Biome formats it, so that `biome check` passes on the generated file as is.
    'export const SCRIPT_BASE64 =',
    `  '${base64(script)}'`,
    'export const STYLE_BASE64 =',
    `  '${base64(style)}'`,
    '',
  ].join('\n')
}

const page = buildPageAssets()
const pageText = pageModuleText(page)
const pageCurrent = existsSync(pageModule) ? readFileSync(pageModule, 'utf8') : null
if (process.argv.includes('--check')) {
  if (pageCurrent !== pageText) {
    console.error(
      'build: src/page/generated-assets.ts is stale: run `npm run build:page` and commit it',
    )
    process.exit(1)
  }
  console.error('build: src/page/generated-assets.ts is up to date')
  process.exit(0)
}
if (pageCurrent !== pageText) writeFileSync(pageModule, pageText)
console.error(
  `build: page assets ok (src/page/generated-assets.ts ${pageCurrent === pageText ? 'unchanged' : 'written'})`,
)
if (process.argv.includes('--page')) process.exit(0)

// --- the package ----------------------------------------------------------------------------

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

mkdirSync(join(dist, 'page'), { recursive: true })
writeFileSync(join(dist, 'page', PAGE_SCRIPT), page.script)
writeFileSync(join(dist, 'page', PAGE_STYLE), page.style)
writeFileSync(join(dist, 'page', PAGE_TYPES), PAGE_TYPES_TEXT)
console.error(`build: wrote dist/page/${PAGE_SCRIPT}, ${PAGE_STYLE} and ${PAGE_TYPES}`)

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
