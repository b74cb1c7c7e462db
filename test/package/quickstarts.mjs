// The README's quick starts, pasted verbatim into new apps that installed the packed tarball:
// each marked block (`<!-- quickstart: express.ts -->` …) is typechecked (TypeScript ones),
// started with CST_SECRET, and sent the README's curl requests (`<!-- quickstart-curl -->`).
// run.mjs installs the apps (the tarball plus what the README says to install) and calls
// checkQuickStarts.
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { run, startServer } from './harness.mjs'

/** The marked blocks the README must have, in order. */
const QUICK_START_NAMES = ['express.ts', 'koa.ts', 'express.cjs']
/** The snippets listen on this port; it cannot be changed without editing them. */
const PORT = 3000

/**
 * What a TypeScript app needs on top of the README's runtime install, per package the README
 * names: Express and Koa ship no types; @koa/router (14 and later) ships its own. A package
 * missing here fails the check, so a new one in the README needs a decision.
 */
const TYPES_FOR = {
  express: ['@types/express'],
  koa: ['@types/koa'],
  '@koa/router': [],
}
/** Every TypeScript quick start also needs tsx (the README runs it with `npx tsx server.ts`)
 * and @types/node (it reads `process.env`). */
const TYPESCRIPT_TOOLS = ['tsx', '@types/node']

/**
 * Finds the marked blocks, the `npm install …` line before each, and the curl block. Returns
 * `{ snippets, curl, problems }`; any problem fails the check rather than skipping a block.
 */
export function readQuickStarts(readme) {
  const problems = []
  const snippets = []
  const marker = /<!-- quickstart: ([^\s>]+) -->[ \t]*\r?\n```[^\n]*\n([\s\S]*?)\n```/g
  let sectionStart = 0
  for (const match of readme.matchAll(marker)) {
    const [, name, code] = match
    // The install line is the last `npm install …` between the previous block and this one.
    const before = readme.slice(sectionStart, match.index)
    const install = [...before.matchAll(/`npm install ([^`]+)`/g)].at(-1)
    sectionStart = match.index + match[0].length
    const words = install ? install[1].trim().split(/\s+/) : []
    if (!words.includes('portcullis')) {
      problems.push(`${name}: no \`npm install portcullis …\` line before the block`)
    }
    snippets.push({
      name,
      code: `${code}\n`,
      typescript: name.endsWith('.ts'),
      commonjs: name.endsWith('.cjs'),
      packages: words.filter((word) => word !== 'portcullis'),
    })
  }
  const names = snippets.map((snippet) => snippet.name)
  if (!isDeepStrictEqual(names, QUICK_START_NAMES)) {
    problems.push(`marked blocks: found [${names.join(', ')}], expected [${QUICK_START_NAMES}]`)
  }
  for (const snippet of snippets) {
    for (const name of snippet.packages) {
      if (snippet.typescript && !(name in TYPES_FOR)) {
        problems.push(`${snippet.name}: which @types does a TypeScript app need for ${name}?`)
      }
    }
  }

  const curlBlock = /<!-- quickstart-curl -->[ \t]*\r?\n```[^\n]*\n([\s\S]*?)\n```/.exec(readme)
  let curl = []
  if (curlBlock === null) {
    problems.push('no block marked <!-- quickstart-curl -->')
  } else {
    try {
      curl = parseCurlBlock(curlBlock[1])
    } catch (error) {
      problems.push(`curl block: ${error.message}`)
    }
    const calls = curl.map((request) => `${request.method} ${new URL(request.url).pathname}`)
    const expected = ['GET /v1/account', 'POST /v1/client-sessions', 'GET /v1/me']
    if (!isDeepStrictEqual(calls, expected)) {
      problems.push(`curl block: found [${calls.join(', ')}], the check knows [${expected}]`)
    }
  }
  return { snippets, curl, problems }
}

/** The packages an app needs for these snippets: the README's, plus types and tsx for TS. */
export function packagesFor(snippets) {
  const names = new Set()
  for (const snippet of snippets) {
    for (const name of snippet.packages) names.add(name)
    if (snippet.typescript) {
      for (const name of TYPESCRIPT_TOOLS) names.add(name)
      for (const name of snippet.packages)
        for (const types of TYPES_FOR[name] ?? []) names.add(types)
    }
  }
  return [...names].sort()
}

/**
 * The curl commands of the block (including one quoted in a comment: "then: curl …"), each
 * with the response the comment after it documents, if any: `# 201 {"clientId":"user_42",…}`.
 */
function parseCurlBlock(block) {
  const lines = block.replace(/\\\r?\n\s*/g, ' ').split('\n')
  const requests = []
  for (const line of lines) {
    const trimmed = line.trim()
    if (trimmed.startsWith('curl ')) {
      requests.push(parseCurl(trimmed))
    } else if (trimmed.startsWith('#')) {
      const [documented, ...rest] = trimmed.slice(1).split(/ — then: (?=curl )/)
      const previous = requests.at(-1)
      if (previous && previous.documented === undefined) {
        previous.documented = parseDocumented(documented.trim())
      }
      for (const command of rest) requests.push(parseCurl(command.trim()))
    } else if (trimmed !== '') {
      throw new Error(`neither a curl command nor a comment: ${trimmed}`)
    }
  }
  return requests
}

function parseCurl(command) {
  const words = shellWords(command)
  const request = {
    method: 'GET',
    headers: {},
    body: undefined,
    url: undefined,
    documented: undefined,
  }
  for (let i = 1; i < words.length; i++) {
    const word = words[i]
    if (word === '-s') continue
    if (word === '-X') request.method = words[++i]
    else if (word === '-H') {
      const header = words[++i]
      const colon = header.indexOf(':')
      request.headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim()
    } else if (word === '-d') {
      request.body = words[++i]
      if (!words.includes('-X')) request.method = 'POST'
    } else if (word.startsWith('-')) throw new Error(`the check does not know curl's ${word}`)
    else if (request.url === undefined) request.url = `http://${word}`
    else throw new Error(`two URLs in: ${command}`)
  }
  if (request.url === undefined) throw new Error(`no URL in: ${command}`)
  return request
}

/** Splits a command line the way sh would for these simple cases: blanks, '…' and "…". */
function shellWords(command) {
  const words = []
  for (const [, single, double, bare] of command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    words.push(single ?? double ?? bare)
  }
  return words
}

/** `201 {"a":"x…",…}` → { status: 201, fields: { a: 'x…' } }; a field with … matches a prefix. */
function parseDocumented(text) {
  const match = /^(?:(\d{3}) )?(\{.*\})/.exec(text)
  if (match === null) return undefined
  const json = match[2].replace(/,\s*…\s*}$/, '}')
  return { status: match[1] ? Number(match[1]) : 200, fields: JSON.parse(json) }
}

function documentedMismatches(documented, status, body) {
  const mismatches = []
  if (status !== documented.status)
    mismatches.push(`status ${status}, documented ${documented.status}`)
  for (const [field, expected] of Object.entries(documented.fields)) {
    const actual = body?.[field]
    const ok =
      typeof expected === 'string' && expected.includes('…')
        ? typeof actual === 'string' &&
          actual.startsWith(expected.slice(0, expected.indexOf('…'))) &&
          actual.endsWith(expected.slice(expected.indexOf('…') + 1))
        : isDeepStrictEqual(actual, expected)
    if (!ok)
      mismatches.push(`${field}: ${JSON.stringify(actual)}, documented ${JSON.stringify(expected)}`)
  }
  return mismatches
}

function portIsFree(port) {
  return new Promise((resolve) => {
    // No host, as the snippets' app.listen(port): every address, IPv6 and IPv4.
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, () => server.close(() => resolve(true)))
  })
}

const newSecret = () => randomBytes(32).toString('base64url')

/** The environment a snippet starts in: this one without CST_SECRET, plus `extra`. */
function appEnv(extra) {
  const env = { ...process.env, ...extra }
  if (!('CST_SECRET' in extra)) delete env.CST_SECRET
  return env
}

/**
 * Writes each snippet into its own app directory under `apps[name]` (the project that installed
 * its packages), typechecks it with every compiler, starts it, and walks the curl calls.
 */
export async function checkQuickStarts({ snippets, curl, projectOf, compilers, report }) {
  const apps = new Map()
  for (const snippet of snippets) {
    const dir = join(projectOf(snippet), snippet.name.replace('.', '-'))
    mkdirSync(dir, { recursive: true })
    const type = snippet.commonjs ? 'commonjs' : 'module'
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: `quickstart-${snippet.name.replace('.', '-')}`, private: true, type })}\n`,
    )
    const file = snippet.typescript ? 'server.ts' : 'server.js'
    writeFileSync(join(dir, file), snippet.code)
    apps.set(snippet.name, { dir, file })
  }

  // --- types: what a TypeScript user gets with a plain strict nodenext tsconfig ----------
  await Promise.all(
    snippets
      .filter((snippet) => snippet.typescript)
      .flatMap((snippet) => {
        const { dir, file } = apps.get(snippet.name)
        writeFileSync(
          join(dir, 'tsconfig.json'),
          `${JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, noEmit: true }, files: [file] })}\n`,
        )
        return compilers.map(async (compiler) => {
          const name = `quick start ${snippet.name}: ${compiler.label} --noEmit (module nodenext, strict)`
          const result = await run(process.execPath, [compiler.path, '-p', 'tsconfig.json'], {
            cwd: dir,
            timeoutMs: 180_000,
          })
          if (result.code === 0) report.ok(name, `${result.ms} ms`)
          else report.fail(`${name} (exit ${result.code})`, result.output)
        })
      }),
  )

  // --- start-up refusals: no secret, a short secret ------------------------------------
  const express = snippets.find((snippet) => snippet.name === 'express.ts')
  if (express) {
    const { dir, file } = apps.get(express.name)
    const tsx = join(projectOf(express), 'node_modules', '.bin', 'tsx')
    const refusals = [
      { label: 'without CST_SECRET', env: appEnv({}), says: 'sessionSecret is required' },
      {
        label: 'with CST_SECRET=short',
        env: appEnv({ CST_SECRET: 'short' }),
        says: 'at least 32 bytes',
      },
    ]
    await Promise.all(
      refusals.map(async ({ label, env, says }) => {
        const name = `quick start express.ts ${label} refuses to start`
        const started = Date.now()
        const server = startServer(tsx, [file], { cwd: dir, env })
        // It should end on its own; printing a key means it started, so stop waiting then.
        const listening = await server.waitFor(/test secret key:/, 60_000).then(
          () => true,
          () => false,
        )
        const exit = server.exit
        const output = server.output
        await server.stop()
        const problems = []
        if (listening) problems.push('it started and printed a key')
        else if (exit === null) problems.push('still running after 60 s')
        else if (exit === 'exit code 0') problems.push('exited with code 0')
        if (!output.includes(says)) problems.push(`no "${says}" in its output`)
        // "a way to generate one": the README's own command.
        if (!/randomBytes\(32\)/.test(output))
          problems.push('no way to generate a secret in its output')
        if (problems.length === 0)
          report.ok(
            name,
            `${exit}, says "${says}" and how to generate one, ${Date.now() - started} ms`,
          )
        else report.fail(name, `${problems.join('; ')}\n${output}`)
      }),
    )
  }

  // --- each snippet answers the README's curl calls -------------------------------------
  for (const snippet of snippets) {
    const name = `quick start ${snippet.name}: start, then the README's curl calls`
    if (!(await portIsFree(PORT))) {
      report.fail(
        name,
        `port ${PORT} is in use on this machine; the README's quick starts listen on ${PORT}, so ` +
          'stop whatever holds it and run again',
      )
      continue
    }
    const { dir, file } = apps.get(snippet.name)
    const command = snippet.typescript
      ? join(projectOf(snippet), 'node_modules', '.bin', 'tsx')
      : process.execPath
    const started = Date.now()
    const server = startServer(command, [file], {
      cwd: dir,
      env: appEnv({ CST_SECRET: newSecret() }),
    })
    try {
      const [, key] = await server.waitFor(/test secret key: (sk_test_\w+)/, 60_000)
      const startMs = Date.now() - started
      const calls = await walkCurls(curl, key)
      const problems = calls.flatMap((call) =>
        call.problems.map((problem) => `${call.label}: ${problem}`),
      )
      if (problems.length === 0) {
        report.ok(
          name,
          `pid ${server.pid}, key after ${startMs} ms; ${calls.map((call) => call.summary).join(', ')}; ${Date.now() - started} ms`,
        )
      } else {
        report.fail(name, `${problems.join('\n')}\n--- server output ---\n${server.output}`)
      }
    } catch (error) {
      report.fail(name, `${error.message}\n--- server output ---\n${server.output}`)
    } finally {
      await server.stop()
    }
  }
}

/**
 * Sends the curl block's requests in order: `sk_test_…` becomes the printed key, `eyJ…` the
 * token the client-session call returned. Checks what the README documents for each call and
 * what a user relies on: test mode, a 201 with a token, the session's clientId.
 */
async function walkCurls(requests, key) {
  const calls = []
  let token
  for (const request of requests) {
    const path = new URL(request.url).pathname
    const label = `${request.method} ${path}`
    const problems = []
    const fill = (text) =>
      text.replaceAll('sk_test_…', key).replaceAll('eyJ…', () => {
        if (token === undefined) throw new Error(`${label} needs a token no earlier call returned`)
        return token
      })
    const response = await fetch(fill(request.url), {
      method: request.method,
      headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, fill(v)])),
      body: request.body === undefined ? undefined : fill(request.body),
      signal: AbortSignal.timeout(15_000),
    })
    const text = await response.text()
    let body
    try {
      body = JSON.parse(text)
    } catch {
      problems.push(`not JSON: ${text.slice(0, 200)}`)
    }
    if (request.documented)
      problems.push(...documentedMismatches(request.documented, response.status, body))
    if (path === '/v1/account') {
      if (response.status !== 200) problems.push(`status ${response.status}: ${text}`)
      if (body?.mode !== 'test' || body?.livemode !== false) problems.push(`not test mode: ${text}`)
    } else if (path === '/v1/client-sessions') {
      if (response.status !== 201) problems.push(`status ${response.status}: ${text}`)
      if (typeof body?.clientSessionToken !== 'string')
        problems.push(`no clientSessionToken: ${text}`)
      else token = body.clientSessionToken
    } else if (path === '/v1/me') {
      if (response.status !== 200) problems.push(`status ${response.status}: ${text}`)
      if (body?.clientId !== 'user_42' || body?.credential !== 'session') {
        problems.push(`not user_42's session: ${text}`)
      }
    }
    calls.push({ label, problems, summary: `${label} ${response.status}` })
  }
  return calls
}
