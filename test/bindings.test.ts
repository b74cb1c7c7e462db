import { randomBytes } from 'node:crypto'
import type { RequestListener } from 'node:http'
import { createServer } from 'node:http'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../src/express/index.js'
import { createPortcullis, type Portcullis } from '../src/index.js'
import * as forKoa from '../src/koa/index.js'
import {
  DAY_MS,
  refused as failure,
  faultyStore,
  HOUR_MS,
  makeGate,
  secretAuth,
} from './helpers.js'
import { rawRequest, statusOf } from './support/raw-http.js'

/** One framework major: how to build the test app with the guards under test. */
interface Framework {
  name: string
  /** The standard app: guarded routes under /secret, /publishable, /session, /live, /internal; /open is not. */
  app(gate: Portcullis): RequestListener
  /** Guards mounted on a sub-router among other routes, with the app's own error handler. */
  subRouterApp(gate: Portcullis): RequestListener
  /** An app whose refusals are rendered by the onError hook. */
  hookedApp(gate: Portcullis): RequestListener
}

function expressFramework(name: string, express: typeof express5): Framework {
  const { requireSecretKey, requirePublishableKey, requireSession, ipAllowlist, getAuth } =
    forExpress
  const echo = (req: object, res: { json(body: unknown): unknown }) => res.json(getAuth(req))
  return {
    name,
    app(gate) {
      const app = express()
      app.get('/secret', requireSecretKey(gate), echo)
      app.get('/publishable', requirePublishableKey(gate), echo)
      app.get('/session', requireSession(gate), echo)
      app.get('/live', requireSecretKey(gate, { mode: 'live' }), echo)
      app.get('/internal', ipAllowlist(gate, ['10.0.0.0/8']), (_req, res) =>
        res.json({ internal: true }),
      )
      app.get('/open', (_req, res) => res.json({ open: true }))
      return app
    },
    subRouterApp(gate) {
      const app = express()
      app.get('/health', (_req, res) => res.json({ healthy: true }))
      const api = express.Router()
      api.use(requireSecretKey(gate, { passErrors: true }))
      api.get('/me', (req, res) => res.json({ project: getAuth(req).projectId }))
      app.use('/api', api)
      app.get('/after', (_req, res) => res.json({ after: true }))
      app.use(
        (
          error: { status?: number; code?: string },
          _req: unknown,
          res: express5.Response,
          _next: unknown,
        ) => {
          res.status(error.status ?? 500).json({ failure: error.code })
        },
      )
      return app
    },
    hookedApp(gate) {
      const app = express()
      app.get(
        '/secret',
        requireSecretKey(gate, {
          onError: (error, _req, res, _next, response) => {
            res.status(response.status)
            res.json({ errorCode: error.code, detail: error.message })
          },
        }),
        echo,
      )
      return app
    },
  }
}

function koaFramework(name: string, Koa: typeof Koa3): Framework {
  const { requireSecretKey, requirePublishableKey, requireSession, ipAllowlist } = forKoa
  const route = (router: Router, path: string, guard: forKoa.KoaMiddleware) =>
    router.get(path, guard, (ctx) => {
      ctx.body = ctx.state.auth
    })
  return {
    name,
    app(gate) {
      const app = new Koa()
      const router = new Router()
      route(router, '/secret', requireSecretKey(gate))
      route(router, '/publishable', requirePublishableKey(gate))
      route(router, '/session', requireSession(gate))
      route(router, '/live', requireSecretKey(gate, { mode: 'live' }))
      router.get('/internal', ipAllowlist(gate, ['10.0.0.0/8']), (ctx) => {
        ctx.body = { internal: true }
      })
      router.get('/open', (ctx) => {
        ctx.body = { open: true }
      })
      app.use(router.routes())
      return app.callback()
    },
    subRouterApp(gate) {
      const app = new Koa()
      app.use(async (ctx, next) => {
        try {
          await next()
        } catch (error) {
          const { status, code } = error as { status?: number; code?: string }
          ctx.status = status ?? 500
          ctx.body = { failure: code }
        }
      })
      const open = new Router()
      open.get('/health', (ctx) => {
        ctx.body = { healthy: true }
      })
      open.get('/after', (ctx) => {
        ctx.body = { after: true }
      })
      const api = new Router({ prefix: '/api' })
      api.use(requireSecretKey(gate, { passErrors: true }))
      api.get('/me', (ctx) => {
        ctx.body = { project: ctx.state.auth.projectId }
      })
      app.use(open.routes())
      app.use(api.routes())
      return app.callback()
    },
    hookedApp(gate) {
      const app = new Koa()
      const router = new Router()
      route(
        router,
        '/secret',
        requireSecretKey(gate, {
          onError: (error, ctx, response) => {
            ctx.status = response.status
            ctx.body = { errorCode: error.code, detail: error.message }
          },
        }),
      )
      app.use(router.routes())
      return app.callback()
    },
  }
}

const frameworks: Framework[] = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
]

const ENVELOPE = {
  error: { type: expect.any(String), code: expect.any(String), message: expect.any(String) },
}

describe.each(frameworks)('$name', (framework) => {
  async function setup() {
    const made = makeGate()
    const { test, live } = await made.gate.projects.provision('proj_a')
    const app = framework.app(made.gate)
    return { ...made, test, live, app }
  }

  async function refused(response: request.Response, status: number, code: string) {
    expect(response.status).toBe(status)
    expect(response.headers['content-type']).toMatch(/application\/json/)
    expect(response.body).toMatchObject(ENVELOPE)
    expect(response.body.error.code).toBe(code)
    if (status === 401) expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="api"/)
    else expect(response.headers['www-authenticate']).toBeUndefined()
  }

  it('passes authenticated requests through with their mode attached', async () => {
    const { app, test, live } = await setup()
    const secret = await request(app)
      .get('/secret')
      .set('Authorization', `Bearer ${live.secretKey.key}`)
    expect(secret.status).toBe(200)
    expect(secret.body).toEqual({
      mode: 'live',
      livemode: true,
      projectId: 'proj_a',
      credential: 'secret',
      keyId: live.secretKey.record.id,
      keyType: 'secret',
      metadata: {},
    })
    const publishable = await request(app)
      .get('/publishable')
      .set('Authorization', `Bearer ${test.publishableKey.key}`)
    expect(publishable.body).toMatchObject({ mode: 'test', credential: 'publishable' })
    expect((await request(app).get('/open')).body).toEqual({ open: true })
  })

  it('api_key_missing and session_missing: 401 with a bare Bearer challenge', async () => {
    const { app } = await setup()
    const key = await request(app).get('/secret')
    await refused(key, 401, 'api_key_missing')
    expect(key.headers['www-authenticate']).toBe('Bearer realm="api"')
    const session = await request(app).get('/session')
    await refused(session, 401, 'session_missing')
    expect(session.headers['www-authenticate']).toBe('Bearer realm="api"')
  })

  it('api_key_invalid and session_invalid: 401 invalid_token', async () => {
    const { app, test } = await setup()
    const flipped = `${test.secretKey.key.slice(0, -1)}${test.secretKey.key.endsWith('a') ? 'b' : 'a'}`
    for (const value of ['Bearer nope', `Bearer ${flipped}`, 'Basic dXNlcjpwYXNz', 'Bearer']) {
      const response = await request(app).get('/secret').set('Authorization', value)
      await refused(response, 401, 'api_key_invalid')
      expect(response.headers['www-authenticate']).toMatch(
        /error="invalid_token", error_description="[^"]+"$/,
      )
    }
    await refused(
      await request(app).get('/session').set('Authorization', 'Bearer a.b.c'),
      401,
      'session_invalid',
    )
  })

  it('wrong_key_type: 401 for a secret key on a publishable route and the reverse', async () => {
    const { app, test } = await setup()
    const leak = await request(app)
      .get('/publishable')
      .set('Authorization', `Bearer ${test.secretKey.key}`)
    await refused(leak, 401, 'wrong_key_type')
    expect(leak.body.error.message).toMatch(/secret key/i)
    await refused(
      await request(app).get('/secret').set('Authorization', `Bearer ${test.publishableKey.key}`),
      401,
      'wrong_key_type',
    )
  })

  it('api_key_expired: 401 once a rolled key’s grace period ends', async () => {
    const { app, gate, clock, test } = await setup()
    await gate.keys.roll(test.secretKey.record.id, { gracePeriodMs: HOUR_MS })
    expect(
      (await request(app).get('/secret').set('Authorization', `Bearer ${test.secretKey.key}`))
        .status,
    ).toBe(200)
    clock.advance(HOUR_MS)
    await refused(
      await request(app).get('/secret').set('Authorization', `Bearer ${test.secretKey.key}`),
      401,
      'api_key_expired',
    )
  })

  it('session_expired and session_revoked: 401', async () => {
    const { app, gate, clock, test } = await setup()
    const auth = await secretAuth(gate, test.secretKey.key)
    const idle = await gate.sessions.create(auth, { clientId: 'u1' })
    const revoked = await gate.sessions.create(auth, { clientId: 'u2' })
    const session = await request(app).get('/session').set('Authorization', `Bearer ${idle.token}`)
    expect(session.body).toMatchObject({ credential: 'session', clientId: 'u1', mode: 'test' })
    await gate.sessions.revoke(revoked.session.id)
    await refused(
      await request(app).get('/session').set('Authorization', `Bearer ${revoked.token}`),
      401,
      'session_revoked',
    )
    clock.advance(DAY_MS)
    await refused(
      await request(app).get('/session').set('Authorization', `Bearer ${idle.token}`),
      401,
      'session_expired',
    )
  })

  it('mode_mismatch: 403 for a test key on a live-only route', async () => {
    const { app, test, live } = await setup()
    await refused(
      await request(app).get('/live').set('Authorization', `Bearer ${test.secretKey.key}`),
      403,
      'mode_mismatch',
    )
    expect(
      (await request(app).get('/live').set('Authorization', `Bearer ${live.secretKey.key}`)).status,
    ).toBe(200)
  })

  it('ip_not_allowed: 403 with the exact body, from a key’s allowlist and from ipAllowlist', async () => {
    const { app, gate } = await setup()
    const exact = {
      error: {
        type: 'invalid_request_error',
        code: 'ip_not_allowed',
        message: 'Access is limited for this address',
      },
    }
    const elsewhere = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'live',
      allowedIps: ['203.0.113.0/24'],
    })
    const response = await request(app)
      .get('/secret')
      .set('Authorization', `Bearer ${elsewhere.key}`)
    await refused(response, 403, 'ip_not_allowed')
    expect(response.body).toEqual(exact)
    // X-Forwarded-For from an untrusted peer does not help.
    const spoofed = await request(app)
      .get('/secret')
      .set('Authorization', `Bearer ${elsewhere.key}`)
      .set('X-Forwarded-For', '203.0.113.9')
    expect(spoofed.status).toBe(403)
    const here = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'live',
      allowedIps: ['127.0.0.1', '::1'],
    })
    expect(
      (await request(app).get('/secret').set('Authorization', `Bearer ${here.key}`)).status,
    ).toBe(200)
    const internal = await request(app).get('/internal')
    expect(internal.status).toBe(403)
    expect(internal.body).toEqual(exact)
  })

  it('store_unavailable: 503 with Retry-After, and the route never runs', async () => {
    const source = makeGate()
    const { test } = await source.gate.projects.provision('proj_a')
    const gate = createPortcullis({ store: faultyStore(failure), sessionSecret: randomBytes(32) })
    const response = await request(framework.app(gate))
      .get('/secret')
      .set('Authorization', `Bearer ${test.secretKey.key}`)
    await refused(response, 503, 'store_unavailable')
    expect(response.headers['retry-after']).toBe('1')
  })

  it('never answers 5xx to malformed or hostile headers, and refuses a repeated one', async () => {
    const { app, test } = await setup()
    const server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    const raw = (head: string) => rawRequest(port, head)
    try {
      const hostile = [
        'Authorization: Bearer a\r\nAuthorization: Bearer b\r\n',
        'Authorization: Bearer \xff\xfe\xc3\xa9\r\n',
        `Authorization: Bearer ${'A'.repeat(9000)}\r\n`,
        'Authorization: bearer\t sk_test_x\r\n',
        'Authorization: Bearer sk_test_\x01\r\n',
      ]
      for (const head of hostile) {
        const status = statusOf(await raw(head))
        expect(status, JSON.stringify(head.slice(0, 40))).toBeGreaterThanOrEqual(400)
        expect(status, JSON.stringify(head.slice(0, 40))).toBeLessThan(500)
      }
      // Node keeps only the first Authorization header in req.headers: a valid key followed by
      // another value must still be refused as a repeated header, cached or not.
      const valid = test.secretKey.key
      expect(statusOf(await raw(`Authorization: Bearer ${valid}\r\n`))).toBe(200)
      for (const second of ['Bearer garbage', `Bearer ${valid}`]) {
        const answer = await raw(`Authorization: Bearer ${valid}\r\nauthorization: ${second}\r\n`)
        expect(statusOf(answer)).toBe(401)
        expect(answer).toContain('"code":"api_key_invalid"')
        expect(answer).toContain('sent more than once')
      }
    } finally {
      server.close()
    }
  })

  it('lives in an existing app: sub-router, other routes untouched, the app’s error handler', async () => {
    const { gate, test } = await setup()
    const app = framework.subRouterApp(gate)
    expect((await request(app).get('/health')).body).toEqual({ healthy: true })
    expect((await request(app).get('/after')).body).toEqual({ after: true })
    const denied = await request(app).get('/api/me')
    expect(denied.status).toBe(401)
    expect(denied.body).toEqual({ failure: 'api_key_missing' })
    const allowed = await request(app)
      .get('/api/me')
      .set('Authorization', `Bearer ${test.secretKey.key}`)
    expect(allowed.body).toEqual({ project: 'proj_a' })
  })

  it('lets the application render refusals with its own format', async () => {
    const { gate } = await setup()
    const response = await request(framework.hookedApp(gate)).get('/secret')
    expect(response.status).toBe(401)
    expect(response.body).toEqual({
      errorCode: 'api_key_missing',
      detail: expect.stringContaining('No API key'),
    })
  })
})

describe('ipAllowlist configuration', () => {
  it('refuses a bad list when the middleware is created, not on the first request', () => {
    const { gate } = makeGate()
    expect(() => forExpress.ipAllowlist(gate, ['::ffff:10.0.0.0/8'])).toThrow(/IPv4-mapped/)
    expect(() => forKoa.ipAllowlist(gate, ['10.0.0.1/8'])).toThrow(/network address/)
  })

  it('follows trustedProxies like authenticate does', async () => {
    const { gate } = makeGate({ trustedProxies: ['loopback'] })
    const app = express5()
    app.get('/internal', forExpress.ipAllowlist(gate, ['203.0.113.0/24']), (_req, res) =>
      res.json({ ok: true }),
    )
    expect((await request(app).get('/internal').set('X-Forwarded-For', '203.0.113.7')).status).toBe(
      200,
    )
    expect(
      (await request(app).get('/internal').set('X-Forwarded-For', '198.51.100.7')).status,
    ).toBe(403)
  })
})

/**
 * The part of a Koa context the guards touch, for calling a guard directly (no server): the
 * request's headers, the Node request's socket, the state the auth is hung on, the response.
 */
function koaContext(
  headers: Record<string, string>,
  socket: object = { remoteAddress: '127.0.0.1' },
) {
  return {
    request: { headers },
    req: { socket },
    state: {} as { auth?: { projectId: string } },
    status: 404,
    body: undefined as unknown,
    set: () => {},
  }
}

describe('a decision made from the cache', () => {
  async function warmGate() {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_sync')
    const headers = { authorization: `Bearer ${test.secretKey.key}` }
    const first = await gate.authenticate(
      { headers, remoteAddress: '127.0.0.1' },
      { credential: 'secret' },
    )
    expect(first.ok).toBe(true)
    return { gate, headers }
  }

  it('lets Express go on synchronously, and returns a promise only when it waited', async () => {
    const { gate, headers } = await warmGate()
    const guard = forExpress.requireSecretKey(gate)
    const req = { headers, socket: { remoteAddress: '127.0.0.1' } }
    const res = { status: () => res, setHeader: () => res, json: () => res }
    let nextCalls = 0
    const returned = guard(req, res, () => {
      nextCalls++
    })
    expect(returned).toBeUndefined()
    expect(nextCalls).toBe(1)
    expect(forExpress.getAuth(req as never).projectId).toBe('proj_sync')
    // An unknown (well-formed) key needs the store: a promise, then next is not called.
    const other = await gate.keys.create({ projectId: 'proj_sync', type: 'secret', mode: 'test' })
    const waiting = guard(
      { headers: { authorization: `Bearer ${other.key}x` }, socket: {} },
      res,
      () => {
        nextCalls++
      },
    )
    expect(waiting).toBeUndefined()
    const stored = guard(
      { headers: { authorization: `Bearer ${other.key}` }, socket: {} },
      res,
      () => {
        nextCalls++
      },
    )
    expect(stored).toBeInstanceOf(Promise)
    await stored
    expect(nextCalls).toBe(2)
  })

  it('lets Koa go on to next() in the same tick', async () => {
    const { gate, headers } = await warmGate()
    const guard = forKoa.requireSecretKey(gate)
    const ctx = koaContext(headers)
    let reached = false
    const settled = guard(ctx, async () => {
      reached = true
    })
    expect(reached).toBe(true)
    expect(ctx.state.auth?.projectId).toBe('proj_sync')
    await settled
  })

  it('works over any object with an authenticate method, one promise per request', async () => {
    const { gate, headers } = await warmGate()
    const seen: unknown[] = []
    const wrapper = {
      authenticate: (...args: Parameters<typeof gate.authenticate>) => {
        seen.push(args[1])
        return gate.authenticate(...args)
      },
    }
    const res = { status: () => res, setHeader: () => res, json: () => res }
    const req = { headers, socket: { remoteAddress: '127.0.0.1' } }
    let passed = 0
    const returned = forExpress.requireSecretKey(wrapper as never, { mode: 'test' })(
      req,
      res,
      () => {
        passed++
      },
    )
    expect(returned).toBeInstanceOf(Promise)
    await returned
    expect(passed).toBe(1)
    expect(forExpress.getAuth(req as never).projectId).toBe('proj_sync')
    const ctx = koaContext({})
    await forKoa.requireSecretKey(wrapper as never)(ctx, async () => {
      passed++
    })
    expect(ctx.status).toBe(401)
    expect(passed).toBe(1)
    // The guard's options, as the core takes them.
    expect(seen).toEqual([{ credential: 'secret', mode: 'test' }, { credential: 'secret' }])
  })

  it("reads the socket's address only for a key with an IP allowlist", async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_peer')
    const listed = await gate.keys.create({
      projectId: 'proj_peer',
      type: 'secret',
      mode: 'test',
      allowedIps: ['127.0.0.1'],
    })
    /** A socket of its own per request (the address is remembered by socket), counting reads. */
    const peer = (address: string) => {
      const socket = {
        reads: 0,
        get remoteAddress() {
          socket.reads++
          return address
        },
      }
      return socket
    }
    const res = { status: () => res, setHeader: () => res, json: () => res }
    const viaExpress = async (
      guard: ReturnType<typeof forExpress.requireSecretKey>,
      key: string,
      address: string,
    ) => {
      const socket = peer(address)
      let passed = false
      await guard({ headers: { authorization: `Bearer ${key}` }, socket }, res, () => {
        passed = true
      })
      return { passed, reads: socket.reads }
    }
    const viaKoa = async (
      guard: ReturnType<typeof forKoa.requireSecretKey>,
      key: string,
      address: string,
    ) => {
      const socket = peer(address)
      const ctx = koaContext({ authorization: `Bearer ${key}` }, socket)
      let passed = false
      await guard(ctx, async () => {
        passed = true
      })
      return { passed, status: ctx.status, reads: socket.reads }
    }
    for (const round of ['from the store', 'from the cache']) {
      // Keys without an allowlist: the address is never read.
      expect(
        await viaExpress(forExpress.requireSecretKey(gate), test.secretKey.key, '10.0.0.1'),
        round,
      ).toEqual({ passed: true, reads: 0 })
      expect(
        await viaExpress(
          forExpress.requirePublishableKey(gate),
          test.publishableKey.key,
          '10.0.0.1',
        ),
        round,
      ).toEqual({ passed: true, reads: 0 })
      expect(
        await viaKoa(forKoa.requireSecretKey(gate), test.secretKey.key, '10.0.0.1'),
        round,
      ).toEqual({ passed: true, status: 404, reads: 0 })
      expect(
        await viaKoa(forKoa.requirePublishableKey(gate), test.publishableKey.key, '10.0.0.1'),
        round,
      ).toEqual({ passed: true, status: 404, reads: 0 })
      // A key with one: read, and enforced.
      expect(
        await viaExpress(forExpress.requireSecretKey(gate), listed.key, '127.0.0.1'),
        round,
      ).toEqual({ passed: true, reads: 1 })
      expect(
        await viaExpress(forExpress.requireSecretKey(gate), listed.key, '10.0.0.1'),
        round,
      ).toEqual({ passed: false, reads: 1 })
      expect(await viaKoa(forKoa.requireSecretKey(gate), listed.key, '127.0.0.1'), round).toEqual({
        passed: true,
        status: 404,
        reads: 1,
      })
      expect(await viaKoa(forKoa.requireSecretKey(gate), listed.key, '10.0.0.1'), round).toEqual({
        passed: false,
        status: 403,
        reads: 1,
      })
    }
  })

  it('hands every acceptance of a key the same frozen auth, and the public answer its usual shape', async () => {
    const { gate, headers } = await warmGate()
    const request = { headers, remoteAddress: '127.0.0.1' }
    const first = await gate.authenticate(request, { credential: 'secret' })
    const second = await gate.authenticate(request, { credential: 'secret' })
    if (!first.ok || !second.ok) throw new Error('expected acceptances')
    // Exactly { ok, auth }: the bindings receive the auth alone, the public API still wraps it.
    expect(Object.keys(first)).toEqual(['ok', 'auth'])
    expect(second.auth).toBe(first.auth)
    expect(Object.isFrozen(first.auth)).toBe(true)

    const req = { headers, socket: { remoteAddress: '127.0.0.1' } }
    const res = { status: () => res, setHeader: () => res, json: () => res }
    forExpress.requireSecretKey(gate)(req, res, () => {})
    expect(forExpress.getAuth(req as never)).toBe(first.auth)

    const ctx = koaContext(headers)
    await forKoa.requireSecretKey(gate)(ctx, async () => {})
    expect(ctx.state.auth).toBe(first.auth)
    // A refusal still reaches the binding as one, with its rendering.
    const refusedCtx = { ...ctx, request: { headers: {} }, state: {} as { auth?: unknown } }
    await forKoa.requireSecretKey(gate)(refusedCtx, async () => {})
    expect(refusedCtx.status).toBe(401)
    expect(refusedCtx.state.auth).toBeUndefined()
  })
})
