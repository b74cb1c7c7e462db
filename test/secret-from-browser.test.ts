import { once } from 'node:events'
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../src/express/index.js'
import type { Portcullis, PortcullisOptions } from '../src/index.js'
import * as forKoa from '../src/koa/index.js'
import { makeGate } from './helpers.js'

/*
 * Request headers as each client sends them by default, captured from the real clients (the
 * browsers' DevTools, curl -v, and the libraries' sources). Authorization is added per test.
 * Browsers: a page at https://app.example.com calling fetch() on https://api.example.com
 * (cross-origin: CORS, after a preflight), and a same-origin navigation on the API's own host
 * (a link from its docs page). Only the last, pre-16.4 Safari lacks Sec-Fetch-*.
 */
const CHROME_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
const FIREFOX_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0'
const SAFARI_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15'
const CHROME_HINTS = {
  'Sec-Ch-Ua': '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
  'Sec-Ch-Ua-Mobile': '?0',
  'Sec-Ch-Ua-Platform': '"macOS"',
}

const BROWSERS: Record<string, Record<string, string>> = {
  'Chrome, cross-origin fetch()': {
    Host: 'api.example.com',
    Connection: 'keep-alive',
    ...CHROME_HINTS,
    'User-Agent': CHROME_UA,
    Accept: '*/*',
    Origin: 'https://app.example.com',
    'Sec-Fetch-Site': 'same-site',
    'Sec-Fetch-Mode': 'cors',
    'Sec-Fetch-Dest': 'empty',
    Referer: 'https://app.example.com/',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9',
    Priority: 'u=1, i',
  },
  'Chrome, same-origin navigation': {
    Host: 'api.example.com',
    Connection: 'keep-alive',
    ...CHROME_HINTS,
    'Upgrade-Insecure-Requests': '1',
    'User-Agent': CHROME_UA,
    Accept:
      'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
    'Sec-Fetch-Site': 'same-origin',
    'Sec-Fetch-Mode': 'navigate',
    'Sec-Fetch-User': '?1',
    'Sec-Fetch-Dest': 'document',
    Referer: 'https://api.example.com/docs',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9',
    Priority: 'u=0, i',
  },
  'Firefox, cross-origin fetch()': {
    Host: 'api.example.com',
    'User-Agent': FIREFOX_UA,
    Accept: '*/*',
    'Accept-Language': 'en-US,en;q=0.5',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    Referer: 'https://app.example.com/',
    Origin: 'https://app.example.com',
    Connection: 'keep-alive',
    'Sec-Fetch-Dest': 'empty',
    'Sec-Fetch-Mode': 'cors',
    'Sec-Fetch-Site': 'same-site',
    Priority: 'u=4',
  },
  'Firefox, same-origin navigation': {
    Host: 'api.example.com',
    'User-Agent': FIREFOX_UA,
    Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language': 'en-US,en;q=0.5',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    Referer: 'https://api.example.com/docs',
    Connection: 'keep-alive',
    'Upgrade-Insecure-Requests': '1',
    'Sec-Fetch-Dest': 'document',
    'Sec-Fetch-Mode': 'navigate',
    'Sec-Fetch-Site': 'same-origin',
    'Sec-Fetch-User': '?1',
    Priority: 'u=0, i',
  },
  'Safari, cross-origin fetch()': {
    Host: 'api.example.com',
    Accept: '*/*',
    Origin: 'https://app.example.com',
    'Sec-Fetch-Site': 'same-site',
    'Sec-Fetch-Dest': 'empty',
    'Accept-Language': 'en-US,en;q=0.9',
    'Sec-Fetch-Mode': 'cors',
    'User-Agent': SAFARI_UA,
    Referer: 'https://app.example.com/',
    'Accept-Encoding': 'gzip, deflate, br',
    Connection: 'keep-alive',
  },
  'Safari, same-origin navigation': {
    Host: 'api.example.com',
    Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Sec-Fetch-Site': 'same-origin',
    'Sec-Fetch-Dest': 'document',
    'Accept-Language': 'en-US,en;q=0.9',
    'Sec-Fetch-Mode': 'navigate',
    'User-Agent': SAFARI_UA,
    Referer: 'https://api.example.com/docs',
    'Accept-Encoding': 'gzip, deflate, br',
    Connection: 'keep-alive',
  },
  // Before Safari 16.4 there is no Sec-Fetch-*: the Origin and a browser User-Agent tell.
  'Safari 15, cross-origin fetch() (no Sec-Fetch-*)': {
    Host: 'api.example.com',
    Accept: '*/*',
    Origin: 'https://app.example.com',
    'Accept-Language': 'en-US,en;q=0.9',
    'User-Agent':
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Safari/605.1.15',
    Referer: 'https://app.example.com/',
    'Accept-Encoding': 'gzip, deflate, br',
    Connection: 'keep-alive',
  },
}

const SERVERS: Record<string, Record<string, string>> = {
  'curl 8.5': { Host: 'api.example.com', 'User-Agent': 'curl/8.5.0', Accept: '*/*' },
  // undici: it sends Sec-Fetch-Mode on every request, yet is no browser.
  "Node's fetch (undici)": {
    host: 'api.example.com',
    connection: 'keep-alive',
    accept: '*/*',
    'accept-language': '*',
    'sec-fetch-mode': 'cors',
    'user-agent': 'node',
    'accept-encoding': 'gzip, deflate',
  },
  'Python requests': {
    Host: 'api.example.com',
    'User-Agent': 'python-requests/2.31.0',
    'Accept-Encoding': 'gzip, deflate',
    Accept: '*/*',
    Connection: 'keep-alive',
  },
  "Go's net/http": {
    Host: 'api.example.com',
    'User-Agent': 'Go-http-client/1.1',
    'Accept-Encoding': 'gzip',
  },
}

/** As Node hands headers to a framework: lower-case names. */
const lowerCase = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))

/** What to send over a real connection: Host and Connection are the HTTP client's own. */
const sendable = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !/^(host|connection)$/i.test(name)))

const ROLL_IT = /roll this key now, it may have been exposed/

async function setup(options: Partial<PortcullisOptions> = {}) {
  const made = makeGate({ resources: ['charges'], ...options })
  const { test } = await made.gate.projects.provision('proj_a')
  const restricted = await made.gate.keys.create({
    projectId: 'proj_a',
    type: 'restricted',
    mode: 'test',
    permissions: { charges: 'write' },
  })
  const developmentKey = await made.gate.keys.create({
    projectId: 'proj_a',
    type: 'client',
    mode: 'test',
    clientId: 'user_1',
  })
  const auth = await made.gate.authenticate(
    { headers: { authorization: `Bearer ${test.secretKey.key}` } },
    { credential: 'secret' },
  )
  if (!auth.ok) throw auth.error
  const session = await made.gate.sessions.create(auth.auth, { clientId: 'user_1' })
  return {
    ...made,
    keys: {
      secret: test.secretKey.key,
      restricted: restricted.key,
      publishable: test.publishableKey.key,
      session: session.token,
      development: developmentKey.key,
    },
  }
}

type Guard =
  | { credential: 'secret'; permission?: string }
  | { credential: 'publishable' }
  | { credential: 'session' }

/** Every guard a secret or restricted key may be sent to, by route. */
const GUARDS: Record<string, Guard> = {
  'requireSecretKey()': { credential: 'secret' },
  "requireSecretKey({ permission: 'charges:read' })": {
    credential: 'secret',
    permission: 'charges:read',
  },
  'requirePublishableKey()': { credential: 'publishable' },
  'requireSession()': { credential: 'session' },
}

describe('secret and restricted keys sent by a browser', () => {
  describe.each(Object.entries(BROWSERS))('%s', (_browser, headers) => {
    it.each(Object.entries(GUARDS))(
      'is refused with 401 secret_key_from_browser on %s',
      async (_route, guard) => {
        const { gate, keys } = await setup()
        for (const key of [keys.secret, keys.restricted]) {
          const result = await gate.authenticate(
            { headers: { ...lowerCase(headers), authorization: `Bearer ${key}` } },
            guard,
          )
          expect(result.ok).toBe(false)
          if (result.ok) return
          expect(result.error.code).toBe('secret_key_from_browser')
          expect(result.error.status).toBe(401)
          expect(result.error.message).toMatch(ROLL_IT)
          expect(result.error.message).not.toContain(key)
        }
      },
    )

    it('admits a publishable key, a client session token and a development client key', async () => {
      const { gate, keys } = await setup()
      const send = (key: string, guard: Guard) =>
        gate.authenticate(
          { headers: { ...lowerCase(headers), authorization: `Bearer ${key}` } },
          guard,
        )
      expect((await send(keys.publishable, { credential: 'publishable' })).ok).toBe(true)
      expect((await send(keys.session, { credential: 'session' })).ok).toBe(true)
      expect((await send(keys.development, { credential: 'session' })).ok).toBe(true)
    })
  })

  it('is refused even when the key was just admitted from a server (the cached path)', async () => {
    const { gate, keys } = await setup()
    for (const key of [keys.secret, keys.restricted]) {
      const from = async (headers: Record<string, string>) => {
        const result = await gate.authenticate(
          { headers: { ...lowerCase(headers), authorization: `Bearer ${key}` } },
          { credential: 'secret', permission: 'charges:read' },
        )
        return result.ok ? 'ok' : result.error.code
      }
      expect(await from(SERVERS['curl 8.5'] as Record<string, string>)).toBe('ok')
      expect(await from(BROWSERS['Chrome, cross-origin fetch()'] as Record<string, string>)).toBe(
        'secret_key_from_browser',
      )
      expect(await from(SERVERS["Go's net/http"] as Record<string, string>)).toBe('ok')
    }
  })

  it('is admitted when refuseSecretKeysFromBrowsers is false', async () => {
    const { gate, keys } = await setup({ refuseSecretKeysFromBrowsers: false })
    for (const headers of Object.values(BROWSERS)) {
      for (const key of [keys.secret, keys.restricted]) {
        const result = await gate.authenticate(
          { headers: { ...lowerCase(headers), authorization: `Bearer ${key}` } },
          { credential: 'secret', permission: 'charges:read' },
        )
        expect(result.ok).toBe(true)
      }
      // Off means off: a secret key on a publishable route is the usual wrong_key_type.
      const wrong = await gate.authenticate(
        { headers: { ...lowerCase(headers), authorization: `Bearer ${keys.secret}` } },
        { credential: 'publishable' },
      )
      expect(!wrong.ok && wrong.error.code).toBe('wrong_key_type')
    }
  })

  it('refuses a refuseSecretKeysFromBrowsers that is not a boolean', () => {
    expect(() => makeGate({ refuseSecretKeysFromBrowsers: 'no' as unknown as boolean })).toThrow(
      /refuseSecretKeysFromBrowsers must be true or false/,
    )
  })
})

describe.each(Object.entries(SERVERS))(
  'secret and restricted keys sent by %s',
  (_client, headers) => {
    it('are admitted', async () => {
      const { gate, keys } = await setup()
      for (const [key, guard] of [
        [keys.secret, { credential: 'secret' }],
        [keys.secret, { credential: 'secret', permission: 'charges:read' }],
        [keys.restricted, { credential: 'secret', permission: 'charges:read' }],
      ] as const) {
        const result = await gate.authenticate(
          { headers: { ...lowerCase(headers), authorization: `Bearer ${key}` } },
          guard,
        )
        expect(result.ok).toBe(true)
      }
      // Where it does not belong, the refusal is the usual one, not a browser's.
      const wrong = await gate.authenticate(
        { headers: { ...lowerCase(headers), authorization: `Bearer ${keys.secret}` } },
        { credential: 'publishable' },
      )
      expect(!wrong.ok && wrong.error.code).toBe('wrong_key_type')
    })
  },
)

/** An app with one route per guard. */
interface Framework {
  name: string
  app(gate: Portcullis): RequestListener
}

const ROUTES = {
  '/secret': 'requireSecretKey()',
  '/charges': "requireSecretKey({ permission: 'charges:read' })",
  '/publishable': 'requirePublishableKey()',
  '/session': 'requireSession()',
} as const

const expressFramework = (name: string, express: typeof express5): Framework => ({
  name,
  app(gate) {
    const { requireSecretKey, requirePublishableKey, requireSession, getAuth } = forExpress
    const echo = (req: object, res: { json(body: unknown): unknown }) => res.json(getAuth(req))
    const app = express()
    app.get('/secret', requireSecretKey(gate), echo)
    app.get('/charges', requireSecretKey(gate, { permission: 'charges:read' }), echo)
    app.get('/publishable', requirePublishableKey(gate), echo)
    app.get('/session', requireSession(gate), echo)
    return app
  },
})

const koaFramework = (name: string, Koa: typeof Koa3): Framework => ({
  name,
  app(gate) {
    const { requireSecretKey, requirePublishableKey, requireSession } = forKoa
    const router = new Router()
    const echo = (ctx: { body: unknown; state: { auth?: unknown } }) => {
      ctx.body = ctx.state.auth
    }
    router.get('/secret', requireSecretKey(gate), echo)
    router.get('/charges', requireSecretKey(gate, { permission: 'charges:read' }), echo)
    router.get('/publishable', requirePublishableKey(gate), echo)
    router.get('/session', requireSession(gate), echo)
    const app = new Koa()
    app.use(router.routes())
    return app.callback()
  },
})

describe.each([
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
])('over HTTP on $name', (framework) => {
  it('refuses secret and restricted keys from every browser on every guard, with a challenge', async () => {
    const { gate, keys } = await setup()
    const app = framework.app(gate)
    for (const [browser, headers] of Object.entries(BROWSERS)) {
      for (const [path, guard] of Object.entries(ROUTES)) {
        for (const key of [keys.secret, keys.restricted]) {
          const response = await request(app)
            .get(path)
            .set(sendable(headers))
            .set('Authorization', `Bearer ${key}`)
          const what = `${browser} → ${guard}`
          expect(response.status, what).toBe(401)
          expect(response.headers['content-type'], what).toMatch(/application\/json/)
          expect(response.body.error, what).toMatchObject({
            type: 'authentication_error',
            code: 'secret_key_from_browser',
          })
          expect(response.body.error.message).toMatch(ROLL_IT)
          expect(response.headers['www-authenticate']).toMatch(
            /^Bearer realm="api", error="invalid_token", error_description=".*roll this key/,
          )
          expect(response.text).not.toContain(key)
        }
      }
    }
  })

  it('admits secret and restricted keys from curl, Node, Python and Go', async () => {
    const { gate, keys } = await setup()
    const app = framework.app(gate)
    for (const [client, headers] of Object.entries(SERVERS)) {
      const secret = await request(app)
        .get('/secret')
        .set(sendable(headers))
        .set('Authorization', `Bearer ${keys.secret}`)
      expect(secret.status, client).toBe(200)
      expect(secret.body).toMatchObject({ credential: 'secret', keyType: 'secret' })
      const restricted = await request(app)
        .get('/charges')
        .set(sendable(headers))
        .set('Authorization', `Bearer ${keys.restricted}`)
      expect(restricted.status, client).toBe(200)
      expect(restricted.body).toMatchObject({ keyType: 'restricted' })
    }
  })

  it('admits publishable keys and client session tokens from browsers', async () => {
    const { gate, keys } = await setup()
    const app = framework.app(gate)
    for (const headers of Object.values(BROWSERS)) {
      const publishable = await request(app)
        .get('/publishable')
        .set(sendable(headers))
        .set('Authorization', `Bearer ${keys.publishable}`)
      expect(publishable.status).toBe(200)
      const session = await request(app)
        .get('/session')
        .set(sendable(headers))
        .set('Authorization', `Bearer ${keys.session}`)
      expect(session.status).toBe(200)
    }
  })

  it('admits a browser’s secret key when refuseSecretKeysFromBrowsers is false', async () => {
    const { gate, keys } = await setup({ refuseSecretKeysFromBrowsers: false })
    const app = framework.app(gate)
    const response = await request(app)
      .get('/secret')
      .set(sendable(BROWSERS['Chrome, cross-origin fetch()'] as Record<string, string>))
      .set('Authorization', `Bearer ${keys.secret}`)
    expect(response.status).toBe(200)
  })
})

describe("Node's own fetch against a real server", () => {
  it('sends the headers undici really sends, and is admitted with a secret key', async () => {
    const { gate, keys } = await setup()
    const seen: Record<string, unknown>[] = []
    const app = express5()
    app.use((req, _res, next) => {
      seen.push({ ...req.headers })
      next()
    })
    app.get('/secret', forExpress.requireSecretKey(gate), (req, res) =>
      res.json(forExpress.getAuth(req)),
    )
    const server = createServer(app).listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const response = await fetch(`http://127.0.0.1:${port}/secret`, {
        headers: { authorization: `Bearer ${keys.secret}` },
      })
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ credential: 'secret', projectId: 'proj_a' })
      // The fixture above is what undici sends: Sec-Fetch-Mode, and no Sec-Fetch-Site or Origin.
      expect(seen[0]).toMatchObject({ 'sec-fetch-mode': 'cors', accept: '*/*' })
      expect(seen[0]).not.toHaveProperty('sec-fetch-site')
      expect(seen[0]).not.toHaveProperty('sec-fetch-dest')
      expect(seen[0]).not.toHaveProperty('origin')
    } finally {
      server.close()
      await gate.close()
    }
  })
})
