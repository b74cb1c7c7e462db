import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import request from 'supertest'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createApp as createExpressApp } from '../examples/express/app.js'
import { createApp as createKoaApp } from '../examples/koa/app.js'
import { startDemo } from '../examples/shared/demo.js'
import { runCli } from '../src/cli/cli.js'

const run = promisify(execFile)
const scratch = mkdtempSync(join(tmpdir(), 'portcullis-examples-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
const root = fileURLToPath(new URL('..', import.meta.url))
const children: ChildProcess[] = []

/** Stops every example server started so far and waits until each has exited. */
async function stopServers(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGTERM')
        }),
    ),
  )
}

afterEach(stopServers)

/** Starts an example server on a free port and resolves with everything it printed up to its walk-through. */
function startServer(
  script: string,
  dir = mkdtempSync(join(scratch, 'server-')),
  env: Record<string, string> = {},
): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      PORTCULLIS_EXAMPLE_QUIET: '1',
      PORTCULLIS_EXAMPLE_DIR: dir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`no banner within 20 s:\n${out}`)), 20_000)
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('/v1/internal/stats')) {
        clearTimeout(timer)
        resolve(out)
      }
    })
    child.stderr.on('data', (chunk) => {
      out += chunk
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}:\n${out}`))
    })
  })
}

/** Runs the printed curl lines in one bash, returning each line's output. */
async function walkThrough(banner: string): Promise<string[]> {
  const lines = banner.split('\n').filter((line) => /^(curl|TOKEN=)/.test(line))
  expect(lines).toHaveLength(8)
  const script = lines.map((line) => `${line}\necho; echo '<<end>>'`).join('\n')
  const { stdout } = await run('bash', ['-c', script], { cwd: root })
  return stdout.split('<<end>>\n').map((part) => part.trim())
}

describe.each([
  ['Express', 'examples/express/server.ts'],
  ['Koa', 'examples/koa/server.ts'],
])('the %s example', (framework, script) => {
  it('prints four keys and a curl walk-through that works as printed', async () => {
    const banner = await startServer(script)
    expect(banner).toContain(`portcullis ${framework} example listening on http://127.0.0.1:`)
    for (const label of [
      'test secret key',
      'test publishable key',
      'live secret key',
      'live publishable key',
    ]) {
      expect(banner).toMatch(new RegExp(`${label} +[sp]k_(test|live)_[0-9A-Za-z]{49}\\n`))
    }
    const [account, config, wrongType, created, me, refreshed, stats, keys] = (
      await walkThrough(banner)
    ).map((text) => (text === '' ? null : JSON.parse(text)))
    expect(account).toMatchObject({
      mode: 'test',
      livemode: false,
      projectId: 'proj_demo',
      credential: 'secret',
    })
    expect(config).toEqual({ projectId: 'proj_demo', mode: 'test', livemode: false })
    expect(wrongType.error.code).toBe('wrong_key_type')
    expect(created).toBeNull() // the token went into $TOKEN
    expect(me).toEqual({ clientId: 'user_42', mode: 'test', livemode: false })
    expect(refreshed).toMatchObject({ clientId: 'user_42', clientSessionToken: expect.any(String) })
    expect(stats).toMatchObject({ ok: true })
    expect(keys.data.map((key: { redacted: string }) => key.redacted.slice(0, 8))).toEqual([
      'sk_test_',
      'pk_test_',
    ])
  })

  it('refuses to start with an empty or short ADMIN_TOKEN instead of letting everyone in', async () => {
    for (const token of ['', 'changeme']) {
      const failed = await startServer(script, undefined, { ADMIN_TOKEN: token }).then(
        (banner) => `started anyway:\n${banner}`,
        (error: Error) => error.message,
      )
      expect(failed).toMatch(/server exited with [1-9]/)
      expect(failed).toContain(
        token === '' ? 'ADMIN_TOKEN is not set' : 'ADMIN_TOKEN is shorter than 32 characters',
      )
      expect(failed).toContain("randomBytes(32).toString('hex')")
    }
    // A long enough one is the operator's credential, and the only one.
    const token = 'a-long-enough-admin-token-0123456789'
    const banner = await startServer(script, undefined, { ADMIN_TOKEN: token })
    const origin = /listening on (http:\S+)/.exec(banner)?.[1]
    const keys = async (headers: Record<string, string>) =>
      (await fetch(`${origin}/v1/admin/projects/proj_demo/keys`, { headers })).status
    expect(await keys({ 'X-Admin-Token': token })).toBe(200)
    expect(await keys({ 'X-Admin-Token': `${token}x` })).toBe(403)
    expect(await keys({})).toBe(403)
  })

  it('mounts the API keys page at /dashboard behind the admin token, and says how to sign in', async () => {
    const token = 'a-long-enough-admin-token-0123456789'
    const banner = await startServer(script, undefined, { ADMIN_TOKEN: token })
    const base = origin(banner)
    expect(banner).toContain(
      `Dashboard (the API keys page your customers would use): ${base}/dashboard\n  sign in with the admin token ${token}\n`,
    )
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { headers, redirect: 'manual' })
    const api = { 'X-Portcullis-Page': '1' }
    const signIn = (body: string, headers: Record<string, string> = {}, query = '') =>
      fetch(`${base}/dashboard/sign-in${query}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body,
        redirect: 'manual',
      })

    // Signed out: the page sends you to sign in, and its API refuses, header or not.
    const page = await get('/dashboard')
    expect(page.status).toBe(303)
    expect(page.headers.get('location')).toBe('/dashboard/sign-in')
    const form = await get('/dashboard/sign-in')
    expect(form.status).toBe(200)
    expect(form.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(await form.text()).toContain('<form method="post" action="sign-in">')
    expect((await get('/dashboard/api/context', api)).status).toBe(403)
    expect(
      (await get('/dashboard/api/keys?mode=test', { ...api, 'X-Admin-Token': token })).status,
    ).toBe(403)
    expect((await get('/dashboard/', { cookie: 'portcullis_dashboard=forged' })).status).toBe(303)

    // A wrong token, a token in the URL, or a form from another site: no session.
    for (const refused of [
      await signIn(`token=${token}x`),
      await signIn('', {}, `?token=${token}`),
      await signIn(`token=${token}`, { 'Content-Type': 'text/plain' }),
      await signIn(`token=${token}`, { 'Sec-Fetch-Site': 'cross-site' }),
    ]) {
      expect([401, 403]).toContain(refused.status)
      expect(refused.headers.get('set-cookie')).toBeNull()
    }

    const signedIn = await signIn(`token=${encodeURIComponent(token)}`)
    expect(signedIn.status).toBe(303)
    expect(signedIn.headers.get('location')).toBe('/dashboard/')
    const setCookie = signedIn.headers.get('set-cookie') ?? ''
    expect(setCookie).toMatch(
      /^portcullis_dashboard=[\w-]{43}; Path=\/dashboard; Max-Age=28800; HttpOnly; SameSite=Strict$/,
    )
    expect(setCookie).not.toContain(token)
    const cookie = { cookie: setCookie.split(';')[0] as string }
    const dashboard = await get('/dashboard/', cookie)
    expect(dashboard.status).toBe(200)
    expect(dashboard.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(await dashboard.text()).toContain('<portcullis-api-keys api=".">')
    const context = await get('/dashboard/api/context', { ...cookie, ...api })
    expect(await context.json()).toMatchObject({ projectId: 'proj_demo', modes: ['test', 'live'] })
    const keys = await get('/dashboard/api/keys?mode=test', { ...cookie, ...api })
    const listed = (await keys.json()) as { data: { redacted: string }[] }
    expect(listed.data.map((key) => key.redacted.slice(0, 8))).toEqual(['sk_test_', 'pk_test_'])
    // The cookie is the page's credential only: the admin routes still want the header.
    expect((await get('/v1/admin/projects/proj_demo/keys', cookie)).status).toBe(403)
  })

  it('keeps its keys in a SQLite file across a restart', async () => {
    const dir = mkdtempSync(join(scratch, 'restart-'))
    const first = await startServer(script, dir)
    expect(first).toContain('store: SQLite file')
    const testKey = /test secret key +(sk_test_\w+)/.exec(first)?.[1]
    for (const child of children.splice(0)) child.kill('SIGTERM')
    const second = await startServer(script, dir)
    expect(/test secret key +(sk_test_\w+)/.exec(second)?.[1]).toBe(testKey)
    expect(second).toMatch(/live secret key +sk_live_…\w{4} \(live keys are shown once/)
    const [account] = await walkThrough(second)
    expect(JSON.parse(account as string)).toMatchObject({
      projectId: 'proj_demo',
      credential: 'secret',
    })
  })
})

/** The CLI as an operator runs it on an example's store; resolves with what it printed. */
async function operator(args: string[], env: Record<string, string> = {}) {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    env,
  })
  expect(stderr).toBe('')
  expect(code).toBe(0)
  return stdout
}

const origin = (banner: string) => /listening on (http:\S+)/.exec(banner)?.[1] as string
const shownKey = (banner: string, label: string) =>
  new RegExp(`${label} +((?:sk|pk)_(?:test|live)_[0-9A-Za-z]+)`).exec(banner)?.[1]
const status = async (banner: string, key: string) =>
  (await fetch(`${origin(banner)}/v1/account`, { headers: { authorization: `Bearer ${key}` } }))
    .status
/** The indented command the banner prints for a key it cannot show, run as printed. */
async function runHint(banner: string, start: RegExp): Promise<string> {
  const line = banner.split('\n').find((text) => start.test(text))
  expect(line, `no line matching ${start} in:\n${banner}`).toBeDefined()
  return (await run('bash', ['-c', line as string], { cwd: root })).stdout.trim()
}

describe.each([
  ['Express', 'examples/express/server.ts'],
  ['Koa', 'examples/koa/server.ts'],
])('the %s example after an operator', (_framework, script) => {
  it('shows the current keys once the CLI rolled them, and says how to get one it cannot show', async () => {
    const dir = mkdtempSync(join(scratch, 'rolled-'))
    const store = ['--store', `sqlite:${join(dir, 'example.db')}`]
    const first = await startServer(script, dir)
    const original = shownKey(first, 'test secret key') as string
    await stopServers()
    const { revealKey } = JSON.parse(readFileSync(join(dir, 'example-secrets.json'), 'utf8'))
    const listed = JSON.parse(
      await operator([
        'keys',
        'list',
        '--project',
        'proj_demo',
        '--type',
        'secret',
        ...store,
        '--json',
      ]),
    ) as { id: string; mode: string }[]
    const idOf = (mode: string) => listed.find((record) => record.mode === mode)?.id as string

    // With a grace period the rolled key still works, yet the banner shows its replacement.
    const graced = JSON.parse(
      await operator(['keys', 'roll', idOf('test'), '--grace', '1h', ...store, '--json'], {
        PORTCULLIS_REVEAL_KEY: revealKey,
      }),
    )
    const live = JSON.parse(await operator(['keys', 'roll', idOf('live'), ...store, '--json']))
    const second = await startServer(script, dir)
    expect(shownKey(second, 'test secret key')).toBe(graced.key)
    expect(second).toContain(
      `live secret key       ${live.record.redacted} (live keys are shown once`,
    )
    expect(await status(second, graced.key)).toBe(200)
    expect(await status(second, original)).toBe(200)
    await stopServers()

    // Rolled without the reveal key: redacted, with a route to a usable key that works as printed.
    const sealed = JSON.parse(
      await operator(['keys', 'roll', graced.record.id, ...store, '--json']),
    )
    const third = await startServer(script, dir)
    expect(third).toContain(
      `test secret key       ${sealed.record.redacted} (cannot be shown again: see below)`,
    )
    expect(shownKey(third, 'test secret key')).toBeUndefined()
    expect(third).toContain('Try it, after setting SK to a test secret key:')
    const routeRoll = JSON.parse(await runHint(third, /^ {2}curl -s -X POST \S+\/roll /))
    const viaRoute = routeRoll.key
    expect(viaRoute).toMatch(/^sk_test_/)
    expect(await status(third, viaRoute)).toBe(200)
    expect(await status(third, sealed.key)).toBe(401)
    await stopServers()
    const fourth = await startServer(script, dir)
    expect(shownKey(fourth, 'test secret key')).toBe(viaRoute)
    await stopServers()

    // The CLI form of the hint, run as printed, then a restart.
    await operator(['keys', 'roll', routeRoll.record.id, ...store])
    const fifth = await startServer(script, dir)
    const printed = (await runHint(fifth, /^ {2}PORTCULLIS_REVEAL_KEY=/)).split('\n').at(-1)
    await stopServers()
    const sixth = await startServer(script, dir)
    expect(shownKey(sixth, 'test secret key')).toBe(printed)
    const [account] = await walkThrough(sixth)
    expect(JSON.parse(account as string)).toMatchObject({
      projectId: 'proj_demo',
      credential: 'secret',
    })
  }, 120_000)

  it('says which port is in use and exits non-zero', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as { port: number }
    try {
      const failed = await startServer(script, undefined, { PORT: String(port) }).then(
        (banner) => `started anyway:\n${banner}`,
        (error: Error) => error.message,
      )
      expect(failed).toMatch(/server exited with [1-9]/)
      expect(failed).toContain(`port ${port} is in use; set PORT`)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })
})

describe.each([
  ['Express', createExpressApp],
  ['Koa', (gate: Parameters<typeof createExpressApp>[0]) => createKoaApp(gate).callback()],
])('the %s example app', (_framework, createApp) => {
  it('answers bad session requests in the envelope', async () => {
    process.env.PORTCULLIS_EXAMPLE_DIR = mkdtempSync(join(scratch, 'in-process-'))
    const demo = await startDemo()
    const app = createApp(demo.gate)
    const sk = demo.keys.live.secretKey.key as string
    const missing = await request(app)
      .post('/v1/client-sessions')
      .set('Authorization', `Bearer ${sk}`)
      .send({})
    expect(missing.status).toBe(400)
    expect(missing.body.error).toMatchObject({
      code: 'invalid_request',
      type: 'invalid_request_error',
    })
    // Malformed JSON: the same envelope, nothing of the body echoed back.
    const malformed = await request(app)
      .post('/v1/client-sessions')
      .set('Authorization', `Bearer ${sk}`)
      .set('Content-Type', 'application/json')
      .send(`{"clientId": ${sk}`)
    expect(malformed.status).toBe(400)
    expect(malformed.type).toBe('application/json')
    expect(malformed.body.error.code).toBe('invalid_request')
    expect(malformed.text).not.toContain(sk.slice(8, 20))
    // What a page on another site can send without a preflight: refused, nothing created.
    const forged = await request(app)
      .post('/v1/client-sessions')
      .set('Authorization', `Bearer ${sk}`)
      .set('Content-Type', 'text/plain')
      .send('{"clientId":"u"}')
    expect(forged.status).toBe(400)
    expect(forged.body.error.param).toBe('Content-Type')
    const unknown = await request(app)
      .post('/v1/client-sessions/refresh')
      .set('Authorization', `Bearer ${sk}`)
      .send({ clientId: 'nobody' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('resource_missing')
    const live = await request(app)
      .post('/v1/client-sessions')
      .set('Authorization', `Bearer ${sk}`)
      .send({ clientId: 'u' })
    expect(live.status).toBe(201)
    const me = await request(app)
      .get('/v1/me')
      .set('Authorization', `Bearer ${live.body.clientSessionToken}`)
    expect(me.body).toEqual({ clientId: 'u', mode: 'live', livemode: true })
    await demo.close()
  })
})

describe('the quick start', () => {
  it('walks from provisioning to an idle-expired session', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], {
      cwd: root,
    })
    expect(stdout).toMatch(/test secret key: +sk_test_[0-9A-Za-z]{49}\n/)
    expect(stdout).toContain("credential: 'session'")
    expect(stdout).toContain('after 23 h idle -> ok, expiry slid forward')
    expect(stdout).toContain('after 25 more idle hours -> session_expired')
  })
})
