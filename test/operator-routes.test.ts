import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, request as httpRequest, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../src/express/index.js'
import { createOpenApiDocument, type OperatorEvent, type Portcullis } from '../src/index.js'
import * as forKoa from '../src/koa/index.js'
import { HOUR_MS, makeGate } from './helpers.js'

const ADMIN = { 'X-Admin-Token': 'let-me-in' }
const JSON_TYPE = { 'Content-Type': 'application/json' }
const isAdmin = (headers: Record<string, unknown>) => headers['x-admin-token'] === 'let-me-in'

interface Framework {
  name: string
  /** Session routes at /v1 and key routes at /v1/admin, with or without a JSON body parser. */
  app(gate: Portcullis, events: OperatorEvent[], parseBodies: boolean): RequestListener
}

const expressFramework = (name: string, express: typeof express5): Framework => ({
  name,
  app(gate, events, parseBodies) {
    const app = express()
    if (parseBodies) app.use(express.json())
    app.use('/v1', forExpress.clientSessionRoutes(gate, { onEvent: (event) => events.push(event) }))
    app.use(
      '/v1/admin',
      forExpress.keyManagementRoutes(gate, {
        authorize: (req) => isAdmin(req.headers),
        onEvent: (event) => events.push(event),
      }),
    )
    app.get('/v1/other', (_req, res) => res.json({ other: true }))
    return app
  },
})

const koaFramework = (name: string, Koa: typeof Koa3): Framework => ({
  name,
  app(gate, events, parseBodies) {
    const app = new Koa()
    if (parseBodies) {
      // A body parser in front, like koa-bodyparser: the routes must use what it parsed.
      app.use(async (ctx, next) => {
        let text = ''
        for await (const chunk of ctx.req) text += chunk
        ;(ctx.request as { body?: unknown }).body = text === '' ? {} : JSON.parse(text)
        await next()
      })
    }
    app.use(
      forKoa.clientSessionRoutes(gate, { prefix: '/v1', onEvent: (event) => events.push(event) }),
    )
    app.use(
      forKoa.keyManagementRoutes(gate, {
        prefix: '/v1/admin',
        authorize: (ctx) => isAdmin(ctx.request.headers),
        onEvent: (event) => events.push(event),
      }),
    )
    app.use(async (ctx, next) => {
      if (ctx.path === '/v1/other') ctx.body = { other: true }
      else await next()
    })
    return app.callback()
  },
})

/**
 * Sends one request with its path exactly as given (supertest and fetch may normalise `//`
 * and backslashes away), and resolves with the status and the parsed JSON answer.
 */
async function sendRaw(
  app: RequestListener,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: { error?: { code: string; param?: string } } | null }> {
  const server = createServer(app).listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const { port } = server.address() as AddressInfo
    return await new Promise((resolve, reject) => {
      const sent = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => {
          let parsed = null
          try {
            parsed = JSON.parse(text)
          } catch {
            // The framework's own 404 page, for instance.
          }
          resolve({ status: response.statusCode ?? 0, body: parsed })
        })
      })
      sent.on('error', reject)
      sent.end(body)
    })
  } finally {
    server.close()
  }
}

const frameworks = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
]

describe.each(frameworks)('operator routes on $name', (framework) => {
  async function setup(parseBodies = false) {
    const made = makeGate({
      revealKey: randomBytes(32),
      maxGracePeriodMs: 24 * HOUR_MS,
      resources: ['charges', 'customers'],
    })
    const { test, live } = await made.gate.projects.provision('proj_a')
    const events: OperatorEvent[] = []
    return { ...made, test, live, events, app: framework.app(made.gate, events, parseBodies) }
  }
  const bearer = (key: string) => ({ Authorization: `Bearer ${key}` })

  function expectRefusal(response: request.Response, status: number, code: string, param?: string) {
    expect(response.status).toBe(status)
    expect(response.body.error.code).toBe(code)
    if (param !== undefined) {
      expect(`${response.body.error.param} ${response.body.error.message}`).toContain(param)
    }
  }

  describe('client sessions', () => {
    it('creates, refreshes and revokes a client’s sessions in the key’s mode', async () => {
      for (const parseBodies of [false, true]) {
        const { app, live, test, gate, events } = await setup(parseBodies)
        const created = await request(app)
          .post('/v1/client-sessions')
          .set(bearer(live.secretKey.key))
          .send({ clientId: 'u1' })
        expect(created.status).toBe(201)
        expect(created.body).toEqual({
          clientId: 'u1',
          clientSessionToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
          expiresAt: expect.any(Number),
          maxExpiresAt: expect.any(Number),
          livemode: true,
        })
        const refreshed = await request(app)
          .post('/v1/client-sessions/refresh')
          .set(bearer(live.secretKey.key))
          .send({ clientId: 'u1' })
        expect(refreshed.status).toBe(200)
        // The test key sees no such client: the live one is another universe.
        const otherMode = await request(app)
          .post('/v1/client-sessions/refresh')
          .set(bearer(test.secretKey.key))
          .send({ clientId: 'u1' })
        expectRefusal(otherMode, 404, 'resource_missing')
        const revoked = await request(app)
          .post('/v1/client-sessions/revoke')
          .set(bearer(live.secretKey.key))
          .send({ clientId: 'u1' })
        expect(revoked.body).toEqual({ clientId: 'u1', revoked: 2 })
        const use = await gate.authenticate(
          { headers: { authorization: `Bearer ${created.body.clientSessionToken}` } },
          { credential: 'session' },
        )
        expect(!use.ok && use.error.code).toBe('session_revoked')
        expect(events.map((event) => event.type)).toEqual([
          'client_session.created',
          'client_session.refreshed',
          'client_sessions.revoked',
        ])
      }
    })

    it('refuses bad requests with 400 and writes nothing', async () => {
      const { app, test, gate } = await setup()
      const auth = await gate.authenticate(
        { headers: { authorization: `Bearer ${test.secretKey.key}` } },
        { credential: 'secret' },
      )
      if (!auth.ok) throw auth.error
      const post = () => request(app).post('/v1/client-sessions').set(bearer(test.secretKey.key))
      expectRefusal(await post().send({}), 400, 'invalid_request', 'clientId')
      expectRefusal(await post().send({ clientId: '' }), 400, 'invalid_request', 'clientId')
      expectRefusal(
        await post().send({ clientId: 'x'.repeat(256) }),
        400,
        'invalid_request',
        'clientId',
      )
      expectRefusal(
        await post().send({ clientId: 'u1', extra: true }),
        400,
        'invalid_request',
        'extra',
      )
      expectRefusal(await post().send({ clientId: 42 }), 400, 'invalid_request', 'clientId')
      expectRefusal(
        await post().set('Content-Type', 'application/json').send('{"clientId":'),
        400,
        'invalid_request',
      )
      expectRefusal(await post().send([{ clientId: 'u1' }]), 400, 'invalid_request')
      expect(await gate.sessions.list(auth.auth, 'u1')).toEqual([])
    })

    it('needs a secret key', async () => {
      const { app, test } = await setup()
      expectRefusal(
        await request(app).post('/v1/client-sessions').send({ clientId: 'u1' }),
        401,
        'api_key_missing',
      )
      expectRefusal(
        await request(app)
          .post('/v1/client-sessions')
          .set(bearer(test.publishableKey.key))
          .send({ clientId: 'u1' }),
        401,
        'wrong_key_type',
      )
    })

    it('accepts a restricted key with client_sessions:write, and refuses any other with 403', async () => {
      const { app, gate, test, events } = await setup()
      const restricted = (permissions: Record<string, 'read' | 'write'>) =>
        gate.keys.create({ projectId: 'proj_a', type: 'restricted', mode: 'test', permissions })
      const reader = await restricted({ client_sessions: 'read', charges: 'write' })
      const unrelated = await restricted({ charges: 'write', customers: 'write' })
      for (const key of [reader.key, unrelated.key]) {
        for (const path of [
          '/v1/client-sessions',
          '/v1/client-sessions/refresh',
          '/v1/client-sessions/revoke',
        ]) {
          const response = await request(app).post(path).set(bearer(key)).send({ clientId: 'u1' })
          expectRefusal(response, 403, 'permission_denied')
          expect(response.body.error.message).toBe(
            `The provided key 'rk_test_…${key.slice(-4)}' does not have the required permissions for this endpoint. Having the 'client_sessions:write' permission would allow this request to continue.`,
          )
        }
      }
      const auth = await gate.authenticate(
        { headers: { authorization: `Bearer ${test.secretKey.key}` } },
        { credential: 'secret' },
      )
      if (!auth.ok) throw auth.error
      expect(await gate.sessions.list(auth.auth, 'u1')).toEqual([])
      expect(events).toEqual([])

      const writer = await restricted({ client_sessions: 'write' })
      const created = await request(app)
        .post('/v1/client-sessions')
        .set(bearer(writer.key))
        .send({ clientId: 'u1' })
      expect(created.status, created.text).toBe(201)
      expect(created.body.livemode).toBe(false)
      const refreshed = await request(app)
        .post('/v1/client-sessions/refresh')
        .set(bearer(writer.key))
        .send({ clientId: 'u1' })
      expect(refreshed.status).toBe(200)
      const revoked = await request(app)
        .post('/v1/client-sessions/revoke')
        .set(bearer(writer.key))
        .send({ clientId: 'u1' })
      expect(revoked.body).toEqual({ clientId: 'u1', revoked: 2 })
      // The sessions are the project's and mode's, whichever of its keys made them.
      expect(await gate.sessions.list(auth.auth, 'u1')).toHaveLength(2)
      expect(events.map((event) => [event.type, event.projectId, event.mode])).toEqual([
        ['client_session.created', 'proj_a', 'test'],
        ['client_session.refreshed', 'proj_a', 'test'],
        ['client_sessions.revoked', 'proj_a', 'test'],
      ])
    })

    it('leaves other routes alone', async () => {
      const { app } = await setup()
      expect((await request(app).get('/v1/other')).body).toEqual({ other: true })
      expect((await request(app).get('/v1/client-sessions')).status).toBe(404)
    })
  })

  describe('key management', () => {
    it('asks the application who its operators are', async () => {
      const { app, gate } = await setup()
      expectRefusal(await request(app).get('/v1/admin/projects/proj_a/keys'), 403, 'forbidden')
      expect(() => forExpress.keyManagementRoutes(gate, {} as never)).toThrow(/authorize/)
      expect(() => forKoa.keyManagementRoutes(gate, {} as never)).toThrow(/authorize/)
    })

    it('provisions, lists, creates, rolls, re-allowlists, reveals and deletes', async () => {
      const { app, events } = await setup(true)
      const provisioned = await request(app)
        .post('/v1/admin/projects')
        .set(ADMIN)
        .send({ projectId: 'proj_b' })
      expect(provisioned.status).toBe(201)
      expect(provisioned.body.live.secretKey.key).toMatch(/^sk_live_/)
      expectRefusal(
        await request(app).post('/v1/admin/projects').set(ADMIN).send({ projectId: 'proj_b' }),
        409,
        'project_exists',
      )

      const list = await request(app).get('/v1/admin/projects/proj_b/keys?mode=live').set(ADMIN)
      expect(list.body.data.map((key: { type: string }) => key.type)).toEqual([
        'secret',
        'publishable',
      ])
      expect(JSON.stringify(list.body)).not.toContain(provisioned.body.live.secretKey.key)

      const created = await request(app)
        .post('/v1/admin/projects/proj_b/keys')
        .set(ADMIN)
        .send({ type: 'secret', mode: 'live', name: 'Worker', allowedIps: ['203.0.113.0/24'] })
      expect(created.status).toBe(201)
      const keyId = created.body.record.id
      const rolled = await request(app)
        .post(`/v1/admin/keys/${keyId}/roll`)
        .set(ADMIN)
        .send({ gracePeriodMs: HOUR_MS })
      expect(rolled.body.record).toMatchObject({
        name: 'Worker',
        allowedIps: ['203.0.113.0/24'],
        rolledFromId: keyId,
      })
      expectRefusal(
        await request(app).post(`/v1/admin/keys/${keyId}/roll`).set(ADMIN).send({}),
        409,
        'key_already_rolled',
      )

      const newId = rolled.body.record.id
      const allowlisted = await request(app)
        .put(`/v1/admin/keys/${newId}/allowed-ips`)
        .set(ADMIN)
        .send({ allowedIps: ['2001:DB8::/32'] })
      expect(allowlisted.body.allowedIps).toEqual(['2001:db8::/32'])

      const testKey = provisioned.body.test.secretKey
      const revealed = await request(app)
        .post(`/v1/admin/keys/${testKey.record.id}/reveal`)
        .set(ADMIN)
        .set(JSON_TYPE)
      expect(revealed.body).toEqual({ id: testKey.record.id, key: testKey.key })
      expectRefusal(
        await request(app).post(`/v1/admin/keys/${newId}/reveal`).set(ADMIN).set(JSON_TYPE),
        409,
        'key_not_revealable',
      )

      expect(
        (await request(app).delete(`/v1/admin/keys/${newId}`).set(ADMIN).set(JSON_TYPE)).body,
      ).toEqual({
        id: newId,
        deleted: true,
      })
      expectRefusal(
        await request(app).delete(`/v1/admin/keys/${newId}`).set(ADMIN).set(JSON_TYPE),
        404,
        'resource_missing',
      )

      expect(events.map((event) => event.type)).toEqual([
        'project.provisioned',
        'key.created',
        'key.created',
        'key.created',
        'key.created',
        'key.created',
        'key.rolled',
        'key.allowed_ips_updated',
        'key.revealed',
        'key.deleted',
      ])
    })

    it('refuses bad input with 400 and leaves everything as it was', async () => {
      const { app, gate, test } = await setup()
      const keyId = test.secretKey.record.id
      const before = await gate.keys.list('proj_a')
      const refusals: [request.Test, string][] = [
        [request(app).get('/v1/admin/projects/proj_a/keys?mode=prod').set(ADMIN), 'mode'],
        [request(app).get('/v1/admin/projects/proj_a/keys?color=red').set(ADMIN), 'color'],
        [request(app).get('/v1/admin/projects/proj_a/keys?mode=test&mode=live').set(ADMIN), 'mode'],
        [
          request(app).post('/v1/admin/projects/proj_a/keys').set(ADMIN).send({ type: 'secret' }),
          'mode',
        ],
        [
          request(app)
            .post('/v1/admin/projects/proj_a/keys')
            .set(ADMIN)
            .send({ type: 'secret', mode: 'test', allowedIps: ['::ffff:10.0.0.0/8'] }),
          'allowedIps[0]',
        ],
        [
          request(app)
            .post('/v1/admin/projects/proj_a/keys')
            .set(ADMIN)
            .send({ type: 'secret', mode: 'test', scopes: [] }),
          'scopes',
        ],
        [
          request(app)
            .post(`/v1/admin/keys/${keyId}/roll`)
            .set(ADMIN)
            .send({ gracePeriodMs: 24 * HOUR_MS + 1 }),
          'gracePeriodMs',
        ],
        [
          request(app).post(`/v1/admin/keys/${keyId}/roll`).set(ADMIN).send({ gracePeriodMs: -5 }),
          'gracePeriodMs',
        ],
        [
          request(app)
            .put(`/v1/admin/keys/${keyId}/allowed-ips`)
            .set(ADMIN)
            .send({ allowedIps: ['10.0.0.1/8'] }),
          'allowedIps[0]',
        ],
        [request(app).put(`/v1/admin/keys/${keyId}/allowed-ips`).set(ADMIN).send({}), 'allowedIps'],
        [request(app).post('/v1/admin/keys/not-a-key/roll').set(ADMIN).send({}), 'keyId'],
        [
          request(app).post('/v1/admin/projects').set(ADMIN).send({ projectId: 'has space' }),
          'projectId',
        ],
        [
          request(app)
            .post('/v1/admin/projects')
            .set(ADMIN)
            .set('Content-Type', 'text/plain')
            .send('proj_x'),
          'Content-Type',
        ],
      ]
      for (const [pending, param] of refusals) {
        const response = await pending
        expectRefusal(response, 400, 'invalid_request', param)
      }
      const huge = await request(app)
        .post('/v1/admin/projects')
        .set(ADMIN)
        .send({ projectId: 'p', pad: 'x'.repeat(70_000) })
      expectRefusal(huge, 400, 'invalid_request')
      expect(await gate.keys.list('proj_a')).toEqual(before)
      expect(await gate.keys.list('proj_x')).toEqual([])
    })
  })

  describe('restricted keys and metadata', () => {
    it('creates a restricted key with permissions and metadata, and changes them with PATCH', async () => {
      for (const parseBodies of [false, true]) {
        const { app, gate, events } = await setup(parseBodies)
        const created = await request(app)
          .post('/v1/admin/projects/proj_a/keys')
          .set(ADMIN)
          .send({
            type: 'restricted',
            mode: 'test',
            name: 'Contractor',
            permissions: { charges: 'write', customers: 'none' },
            metadata: { owner: 'acme', tags: ['ci', 2027], nested: { on: true } },
          })
        expect(created.status, created.text).toBe(201)
        expect(created.body.key).toMatch(/^rk_test_/)
        const keyId = created.body.record.id
        expect(created.body.record).toMatchObject({
          type: 'restricted',
          name: 'Contractor',
          permissions: { charges: 'write' },
          metadata: { owner: 'acme', tags: ['ci', 2027], nested: { on: true } },
        })
        const shown = await request(app)
          .get('/v1/admin/projects/proj_a/keys?type=restricted')
          .set(ADMIN)
        expect(shown.body.data).toEqual([created.body.record])

        const updated = await request(app)
          .patch(`/v1/admin/keys/${keyId}`)
          .set(ADMIN)
          .send({
            name: 'Contractor (2027)',
            permissions: { customers: 'read' },
            metadata: null,
            allowedIps: ['203.0.113.0/24', '127.0.0.1', '::1'],
          })
        expect(updated.status, updated.text).toBe(200)
        expect(updated.body).toMatchObject({
          id: keyId,
          name: 'Contractor (2027)',
          permissions: { customers: 'read' },
          metadata: {},
          allowedIps: ['203.0.113.0/24', '127.0.0.1', '::1'],
        })
        // The new grant is the one in force: what it lost is refused, what it gained admitted.
        const use = (permission: string) =>
          gate.authenticate(
            {
              headers: { authorization: `Bearer ${created.body.key}` },
              remoteAddress: '127.0.0.1',
            },
            { credential: 'secret', permission },
          )
        expect((await use('customers:read')).ok).toBe(true)
        const lost = await use('charges:write')
        expect(!lost.ok && lost.error.code).toBe('permission_denied')

        // One field is enough; the others stay.
        const renamed = await request(app)
          .patch(`/v1/admin/keys/${keyId}`)
          .set(ADMIN)
          .send({ metadata: { owner: 'ci' } })
        expect(renamed.body).toMatchObject({
          name: 'Contractor (2027)',
          permissions: { customers: 'read' },
          metadata: { owner: 'ci' },
        })
        expect(events.map((event) => [event.type, event.keyId])).toEqual([
          ['key.created', keyId],
          ['key.updated', keyId],
          ['key.updated', keyId],
        ])
        expect(events[1]).toMatchObject({ projectId: 'proj_a', mode: 'test' })
      }
    })

    it('PATCH changes a secret key’s name and allowlist, and refuses what its type cannot carry', async () => {
      const { app, gate, test } = await setup()
      const keyId = test.secretKey.record.id
      const patch = (id: string, body: unknown) =>
        request(app)
          .patch(`/v1/admin/keys/${id}`)
          .set(ADMIN)
          .send(body as object)
      const changed = await patch(keyId, { name: 'Billing', allowedIps: ['2001:DB8::/32'] })
      expect(changed.body).toMatchObject({
        name: 'Billing',
        allowedIps: ['2001:db8::/32'],
        permissions: null,
      })
      const before = await gate.keys.list('proj_a')
      expectRefusal(
        await patch(keyId, { permissions: { charges: 'read' } }),
        400,
        'invalid_request',
        'permissions',
      )
      expectRefusal(
        await patch(test.publishableKey.record.id, { allowedIps: ['10.0.0.0/8'] }),
        400,
        'invalid_request',
        'allowedIps',
      )
      // Nothing to change is refused before authorize, not turned into a write.
      const empty = await patch(keyId, {})
      expectRefusal(empty, 400, 'invalid_request')
      expect(empty.body.error.message).toContain('name, allowedIps, permissions, metadata')
      expectRefusal(await patch(keyId, { color: 'red' }), 400, 'invalid_request', 'color')
      expectRefusal(await patch(keyId, { name: '' }), 400, 'invalid_request', 'name')
      expectRefusal(
        await patch('key_0000000000000000000000', { name: 'x' }),
        404,
        'resource_missing',
      )
      expect(await gate.keys.list('proj_a')).toEqual(before)
    })

    it('refuses an unknown resource, a bad level and metadata over 4 KiB, naming the field', async () => {
      const { app, gate, events } = await setup()
      const restricted = await gate.keys.create({
        projectId: 'proj_a',
        type: 'restricted',
        mode: 'test',
        permissions: { charges: 'read' },
      })
      const before = await gate.keys.list('proj_a')
      const create = (fields: Record<string, unknown>) =>
        request(app)
          .post('/v1/admin/projects/proj_a/keys')
          .set(ADMIN)
          .send({ type: 'restricted', mode: 'test', ...fields })
      const patch = (fields: Record<string, unknown>) =>
        request(app).patch(`/v1/admin/keys/${restricted.record.id}`).set(ADMIN).send(fields)
      const big = { notes: 'x'.repeat(4096) }
      const refusals: [request.Test, string][] = [
        [create({ permissions: { refunds: 'write' } }), 'permissions.refunds'],
        [patch({ permissions: { charges: 'read', refunds: 'read' } }), 'permissions.refunds'],
        [create({ permissions: { charges: 'admin' } }), 'permissions.charges'],
        [patch({ permissions: { charges: true } }), 'permissions.charges'],
        [create({ permissions: 'charges:write' }), 'permissions'],
        [create({ type: 'secret', permissions: { charges: 'read' } }), 'permissions'],
        [create({ metadata: big }), 'metadata'],
        [patch({ metadata: big }), 'metadata'],
        [create({ metadata: ['owner'] }), 'metadata'],
        [patch({ metadata: 'owner=ci' }), 'metadata'],
      ]
      for (const [pending, param] of refusals) {
        const response = await pending
        expectRefusal(response, 400, 'invalid_request')
        expect(response.body.error.param, response.text).toBe(param)
      }
      const tooBig = await create({ metadata: big })
      expect(tooBig.body.error.message).toMatch(/metadata is \d+ bytes as JSON; at most 4096/)
      // A "__proto__" field arrives as a field, and is refused by name: never a prototype.
      const proto = await request(app)
        .post('/v1/admin/projects/proj_a/keys')
        .set(ADMIN)
        .set(JSON_TYPE)
        .send('{"type":"restricted","mode":"test","metadata":{"__proto__":{"admin":true}}}')
      expectRefusal(proto, 400, 'invalid_request', '__proto__')
      expect(await gate.keys.list('proj_a')).toEqual(before)
      expect(events).toEqual([])
    })
  })

  describe('client restrictions of publishable keys', () => {
    const FINGERPRINT = Array.from({ length: 32 }, (_, i) =>
      (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0'),
    ).join(':')
    const app = (packageName: string, sha256CertFingerprint: string) => ({
      packageName,
      sha256CertFingerprint,
    })

    it('creates a key limited to origins, and changes or lifts the limit with PATCH', async () => {
      for (const parseBodies of [false, true]) {
        const { app: server, gate, events } = await setup(parseBodies)
        const created = await request(server)
          .post('/v1/admin/projects/proj_a/keys')
          .set(ADMIN)
          .send({
            type: 'publishable',
            mode: 'test',
            name: 'Storefront',
            allowedOrigins: ['https://Shop.Example.com:443', 'https://*.example.org'],
          })
        expect(created.status, created.text).toBe(201)
        const keyId = created.body.record.id
        expect(created.body.record).toMatchObject({
          type: 'publishable',
          allowedOrigins: ['https://shop.example.com', 'https://*.example.org'],
          allowedAndroidApps: [],
          allowedIosBundleIds: [],
        })
        const listed = await request(server)
          .get('/v1/admin/projects/proj_a/keys?type=publishable')
          .set(ADMIN)
        expect(listed.body.data).toContainEqual(created.body.record)
        const from = async (headers: Record<string, string>) => {
          const result = await gate.authenticate(
            { headers: { authorization: `Bearer ${created.body.key}`, ...headers } },
            { credential: 'publishable' },
          )
          return result.ok ? 'ok' : result.error.code
        }
        expect(await from({ origin: 'https://shop.example.com' })).toBe('ok')
        expect(await from({ origin: 'https://evil.example.net' })).toBe('origin_not_allowed')

        // Another kind replaces the first; the fingerprint is stored canonical.
        const android = await request(server)
          .patch(`/v1/admin/keys/${keyId}`)
          .set(ADMIN)
          .send({
            allowedAndroidApps: [
              app('com.example.shop', FINGERPRINT.replace(/:/g, '').toLowerCase()),
            ],
          })
        expect(android.status, android.text).toBe(200)
        expect(android.body).toMatchObject({
          allowedOrigins: [],
          allowedAndroidApps: [app('com.example.shop', FINGERPRINT)],
          allowedIosBundleIds: [],
        })
        expect(await from({ origin: 'https://shop.example.com' })).toBe('app_not_allowed')
        expect(
          await from({ 'x-android-package': 'com.example.shop', 'x-android-cert': FINGERPRINT }),
        ).toBe('ok')

        const ios = await request(server)
          .patch(`/v1/admin/keys/${keyId}`)
          .set(ADMIN)
          .send({ allowedIosBundleIds: ['com.example.shop'], name: 'Storefront (iOS)' })
        expect(ios.body).toMatchObject({
          name: 'Storefront (iOS)',
          allowedAndroidApps: [],
          allowedIosBundleIds: ['com.example.shop'],
        })
        const lifted = await request(server)
          .patch(`/v1/admin/keys/${keyId}`)
          .set(ADMIN)
          .send({ allowedIosBundleIds: [] })
        expect(lifted.body).toMatchObject({
          allowedOrigins: [],
          allowedAndroidApps: [],
          allowedIosBundleIds: [],
        })
        expect(await from({})).toBe('ok')
        expect(events.map((event) => event.type)).toEqual([
          'key.created',
          'key.updated',
          'key.updated',
          'key.updated',
        ])
      }
    })

    it('passes the validation message on, with param naming the entry, and writes nothing', async () => {
      const { app: server, gate, test, events } = await setup()
      const before = await gate.keys.list('proj_a')
      const create = (fields: Record<string, unknown>) =>
        request(server)
          .post('/v1/admin/projects/proj_a/keys')
          .set(ADMIN)
          .send({ type: 'publishable', mode: 'test', ...fields })
      const patch = (fields: Record<string, unknown>, keyId = test.publishableKey.record.id) =>
        request(server).patch(`/v1/admin/keys/${keyId}`).set(ADMIN).send(fields)
      const refusals: [request.Test, string, string?][] = [
        [
          create({ allowedOrigins: ['https://shop.example.com', 'https://*.com'] }),
          'allowedOrigins[1]',
          'allowedOrigins[1]: "https://*.com" needs at least two named labels after *',
        ],
        [
          patch({ allowedOrigins: ['https://shop.example.com/cart'] }),
          'allowedOrigins[0]',
          'no path, query or fragment',
        ],
        [
          create({ allowedOrigins: ['https://a.example.com', 'ftp://b.example.com'] }),
          'allowedOrigins[1]',
          'must use http or https',
        ],
        [create({ allowedOrigins: ['https://a.example.com', 42] }), 'allowedOrigins[1]'],
        [create({ allowedOrigins: 'https://a.example.com' }), 'allowedOrigins'],
        [
          create({
            allowedOrigins: Array.from({ length: 101 }, (_, i) => `https://s${i}.example.com`),
          }),
          'allowedOrigins',
        ],
        [
          create({
            allowedAndroidApps: [
              app('com.example.shop', FINGERPRINT),
              app('com.example.shop', 'AB:CD'),
            ],
          }),
          'allowedAndroidApps[1].sha256CertFingerprint',
          'SHA-256 of the signing certificate',
        ],
        [
          patch({ allowedAndroidApps: [app('shop', FINGERPRINT)] }),
          'allowedAndroidApps[0].packageName',
          'is not an Android package name',
        ],
        [
          create({ allowedAndroidApps: [{ packageName: 'com.example.shop' }] }),
          'allowedAndroidApps[0].sha256CertFingerprint',
        ],
        [
          create({ allowedAndroidApps: [{ ...app('com.example.shop', FINGERPRINT), sha1: 'x' }] }),
          'allowedAndroidApps[0].sha1',
        ],
        [create({ allowedAndroidApps: ['com.example.shop'] }), 'allowedAndroidApps[0]'],
        [
          patch({ allowedIosBundleIds: ['com.example.shop', 'not a bundle id'] }),
          'allowedIosBundleIds[1]',
          'is not an iOS bundle identifier',
        ],
        [
          create({
            allowedOrigins: ['https://shop.example.com'],
            allowedIosBundleIds: ['com.example.shop'],
          }),
          'allowedIosBundleIds',
          'one kind of client at most',
        ],
        [
          patch({ allowedAndroidApps: [], allowedOrigins: ['https://shop.example.com'] }),
          'allowedAndroidApps',
          'one kind of client at most',
        ],
        [
          create({ type: 'secret', allowedOrigins: ['https://shop.example.com'] }),
          'allowedOrigins',
          'publishable keys only',
        ],
        [
          patch({ allowedIosBundleIds: ['com.example.shop'] }, test.secretKey.record.id),
          'allowedIosBundleIds',
          'publishable keys only',
        ],
      ]
      for (const [pending, param, message] of refusals) {
        const response = await pending
        expectRefusal(response, 400, 'invalid_request')
        expect(response.body.error.param, response.text).toBe(param)
        if (message !== undefined) expect(response.body.error.message).toContain(message)
      }
      expect(await gate.keys.list('proj_a')).toEqual(before)
      expect(events).toEqual([])
    })
  })

  describe('requests a browser could forge, or a URL parser misread', () => {
    it('refuses a POST, PUT, PATCH or DELETE without Content-Type: application/json, body parser or not', async () => {
      for (const parseBodies of [false, true]) {
        const { app, gate, test, events } = await setup(parseBodies)
        const auth = await gate.authenticate(
          { headers: { authorization: `Bearer ${test.secretKey.key}` } },
          { credential: 'secret' },
        )
        if (!auth.ok) throw auth.error
        const before = await gate.keys.list('proj_a')
        const secretId = test.secretKey.record.id
        const plain = { 'Content-Type': 'text/plain' }
        const refusals: request.Test[] = [
          // What a cross-site form or a no-cors fetch can send: text/plain holding JSON.
          request(app)
            .post('/v1/client-sessions')
            .set(bearer(test.secretKey.key))
            .set(plain)
            .send('{"clientId":"u"}'),
          request(app).post('/v1/admin/projects').set(ADMIN).set(plain).send('{"projectId":"p"}'),
          request(app)
            .put(`/v1/admin/keys/${secretId}/allowed-ips`)
            .set(ADMIN)
            .set(plain)
            .send('{"allowedIps":["198.51.100.7"]}'),
          // No body at all: nothing for a body reader to refuse, the header is still required.
          request(app).delete(`/v1/admin/keys/${test.publishableKey.record.id}`).set(ADMIN),
          request(app).post(`/v1/admin/keys/${secretId}/roll`).set(ADMIN),
          request(app).post(`/v1/admin/keys/${secretId}/reveal`).set(ADMIN),
          request(app)
            .patch(`/v1/admin/keys/${secretId}`)
            .set(ADMIN)
            .set(plain)
            .send('{"name":"Renamed"}'),
        ]
        for (const pending of refusals) {
          const response = await pending
          expectRefusal(response, 400, 'invalid_request', 'Content-Type')
          expect(response.body.error.param).toBe('Content-Type')
          expect(response.body.error.message).toContain('preflight')
        }
        // A JSON body without any Content-Type (node:http leaves the header out).
        const untyped = await sendRaw(
          app,
          'POST',
          '/v1/client-sessions',
          bearer(test.secretKey.key),
          '{"clientId":"u"}',
        )
        expect([untyped.status, untyped.body?.error?.param]).toEqual([400, 'Content-Type'])

        expect(await gate.sessions.list(auth.auth, 'u')).toEqual([])
        expect(await gate.keys.list('p')).toEqual([])
        expect(await gate.keys.list('proj_a')).toEqual(before)
        expect(events).toEqual([])

        // With the header (parameters and case do not matter) the same requests work.
        const created = await request(app)
          .post('/v1/client-sessions')
          .set(bearer(test.secretKey.key))
          .set('Content-Type', 'Application/JSON; charset=utf-8')
          .send('{"clientId":"u"}')
        expect(created.status).toBe(201)
        const deleted = await request(app)
          .delete(`/v1/admin/keys/${test.publishableKey.record.id}`)
          .set(ADMIN)
          .set(JSON_TYPE)
        expect(deleted.body).toEqual({ id: test.publishableKey.record.id, deleted: true })
        const listed = await request(app).get('/v1/admin/projects/proj_a/keys').set(ADMIN)
        expect(listed.status).toBe(200) // a GET needs no Content-Type
      }
    })

    it('passes paths with "//" or a backslash on (404) instead of routing what follows them', async () => {
      const { app, gate, test, events } = await setup()
      const before = await gate.keys.list('proj_a')
      const secretId = test.secretKey.record.id
      const keyBody = JSON.stringify({ type: 'secret', mode: 'test' })
      const admin = { ...ADMIN, ...JSON_TYPE }
      const session = { ...bearer(test.secretKey.key), ...JSON_TYPE }
      const clientBody = JSON.stringify({ clientId: 'u' })
      const attempts: [string, string, Record<string, string>, string?][] = [
        ['GET', '/v1/admin//evil.example/projects/proj_a/keys', ADMIN],
        ['POST', '/v1/admin//evil.example/projects/proj_a/keys', admin, keyBody],
        ['POST', `/v1/admin//evil.example/keys/${secretId}/roll`, admin, '{}'],
        ['GET', '/v1/admin/\\evil.example/projects/proj_a/keys', ADMIN],
        ['POST', '/v1/admin/\\evil.example/projects/proj_a/keys', admin, keyBody],
        ['POST', `/v1/admin/\\evil.example/keys/${secretId}/roll`, admin, '{}'],
        ['POST', '/v1/admin/%5Cevil.example/projects/proj_a/keys', admin, keyBody],
        ['POST', '/v1/admin/%5cevil.example/projects/proj_a/keys', admin, keyBody],
        ['POST', '/v1/admin/projects//proj_a/keys', admin, keyBody],
        ['POST', '/v1//evil.example/client-sessions', session, clientBody],
        ['POST', '/v1/\\evil.example/client-sessions', session, clientBody],
      ]
      for (const [method, path, headers, body] of attempts) {
        const response = await sendRaw(app, method, path, headers, body)
        // No operator route matches: the request goes on to the app, which knows no such path.
        expect(response.status, `${method} ${path}`).toBe(404)
        expect(response.body?.error, `${method} ${path}`).toBeUndefined()
      }
      expect(await gate.keys.list('proj_a')).toEqual(before)
      expect(events).toEqual([])
      const auth = await gate.authenticate(
        { headers: { authorization: `Bearer ${test.secretKey.key}` } },
        { credential: 'secret' },
      )
      if (!auth.ok) throw auth.error
      expect(await gate.sessions.list(auth.auth, 'u')).toEqual([])
    })
  })
})

describe('the OpenAPI document', () => {
  it('describes every route from the definitions that validate it', () => {
    const { gate } = makeGate({ maxGracePeriodMs: 3 * HOUR_MS })
    const document = createOpenApiDocument(gate, { servers: [{ url: 'https://api.example.com' }] })
    expect(document.openapi).toBe('3.1.0')
    const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>
    const operations = Object.values(paths).flatMap((methods) =>
      Object.values(methods).map((op) => op.operationId),
    )
    expect(operations.sort()).toEqual([
      'createClientSession',
      'createKey',
      'deleteKey',
      'listKeys',
      'provisionProject',
      'refreshClientSession',
      'revealKey',
      'revokeClientSessions',
      'rollKey',
      'setAllowedIps',
      'updateKey',
    ])
    const roll = paths['/v1/admin/keys/{keyId}/roll']?.post as {
      requestBody: {
        content: {
          'application/json': {
            schema: {
              properties: { gracePeriodMs: { maximum: number } }
              additionalProperties: boolean
            }
          }
        }
      }
      security: unknown
    }
    const rollBody = roll.requestBody.content['application/json'].schema
    expect(rollBody.properties.gracePeriodMs.maximum).toBe(3 * HOUR_MS)
    expect(rollBody.additionalProperties).toBe(false)
    expect(roll.security).toEqual([{ operator: [] }])
    // A restricted key needs client_sessions:write: the role a bearer scheme may list.
    expect(paths['/v1/client-sessions']?.post?.security).toEqual([
      { secretKey: ['client_sessions:write'] },
    ])
    expect(paths['/v1/client-sessions']?.post?.description).toContain('client_sessions:write')
    const bodyOf = (operation: Record<string, unknown> | undefined) =>
      (
        operation as {
          requestBody: { content: { 'application/json': { schema: Record<string, unknown> } } }
        }
      ).requestBody.content['application/json'].schema
    const level = { type: 'string', enum: ['none', 'read', 'write'] }
    const update = bodyOf(paths['/v1/admin/keys/{keyId}']?.patch)
    expect(paths['/v1/admin/keys/{keyId}']?.patch?.operationId).toBe('updateKey')
    expect(update).toMatchObject({
      type: 'object',
      minProperties: 1,
      additionalProperties: false,
      properties: {
        name: { type: 'string' },
        allowedIps: { type: 'array' },
        permissions: { type: 'object', additionalProperties: level },
        metadata: { type: ['object', 'null'], additionalProperties: true },
      },
    })
    expect(bodyOf(paths['/v1/admin/projects/{projectId}/keys']?.post)).toMatchObject({
      properties: {
        type: { enum: ['secret', 'publishable', 'client', 'restricted'] },
        permissions: { type: 'object', additionalProperties: level },
        metadata: { type: ['object', 'null'] },
      },
    })
    const patch = paths['/v1/admin/keys/{keyId}']?.patch as {
      responses: { '200': { content: { 'application/json': { schema: unknown } } } }
    }
    const record = patch.responses['200'].content['application/json'].schema
    expect(record).toMatchObject({
      properties: {
        permissions: {
          type: ['object', 'null'],
          additionalProperties: { type: 'string', enum: ['read', 'write'] },
        },
        metadata: { type: 'object', additionalProperties: true },
      },
    })
    // Client restrictions: in both request bodies and in the record, with what a refusal is.
    const restrictionShapes = {
      allowedOrigins: { type: 'array', items: { type: 'string' }, maxItems: 100 },
      allowedAndroidApps: {
        type: 'array',
        items: {
          type: 'object',
          required: ['packageName', 'sha256CertFingerprint'],
          additionalProperties: false,
          properties: {
            packageName: { type: 'string' },
            sha256CertFingerprint: { type: 'string' },
          },
        },
      },
      allowedIosBundleIds: { type: 'array', items: { type: 'string' } },
    }
    const createBody = bodyOf(paths['/v1/admin/projects/{projectId}/keys']?.post)
    for (const schema of [update, createBody, record]) {
      expect(schema).toMatchObject({ properties: restrictionShapes })
    }
    const described = (schema: unknown, field: string) =>
      (schema as { properties: Record<string, { description: string }> }).properties[field]
        ?.description
    for (const schema of [update, createBody, record]) {
      expect(described(schema, 'allowedOrigins')).toContain('403 origin_not_allowed')
      expect(described(schema, 'allowedAndroidApps')).toContain('403 app_not_allowed')
      expect(described(schema, 'allowedIosBundleIds')).toContain('403 app_not_allowed')
    }
    expect(described(update, 'allowedOrigins')).toContain('Empty: not limited')
    expect(update.description).toContain(
      'allowedOrigins, allowedAndroidApps or allowedIosBundleIds',
    )
    const responseText = (operation: unknown, status: string) =>
      (operation as { responses: Record<string, { description: string }> }).responses[status]
        ?.description
    const sessions = paths['/v1/client-sessions']?.post
    expect(responseText(sessions, '401')).toContain('secret_key_from_browser')
    expect(responseText(sessions, '401')).toContain('roll it')
    expect(responseText(paths['/v1/admin/keys/{keyId}']?.patch, '403')).toContain('forbidden')
    expect(responseText(paths['/v1/admin/keys/{keyId}']?.patch, '400')).toContain(
      'allowedOrigins[1]',
    )
    // Writes without fields still declare the JSON body, so generated clients send the
    // Content-Type the server requires of every POST, PUT and DELETE.
    for (const write of [
      paths['/v1/admin/keys/{keyId}']?.delete,
      paths['/v1/admin/keys/{keyId}/reveal']?.post,
    ]) {
      expect(write?.requestBody).toMatchObject({
        required: true,
        content: { 'application/json': { schema: { type: 'object', properties: {} } } },
      })
    }
    expect(paths['/v1/admin/projects/{projectId}/keys']?.get?.requestBody).toBeUndefined()
    expect(JSON.parse(JSON.stringify(document))).toEqual(document)
  })
})
