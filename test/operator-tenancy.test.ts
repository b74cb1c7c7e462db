import { randomBytes } from 'node:crypto'
import type { RequestListener } from 'node:http'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../src/express/index.js'
import type { OperatorEvent, OperatorTarget, Portcullis } from '../src/index.js'
import * as forKoa from '../src/koa/index.js'
import { makeGate } from './helpers.js'

// The signed-in customer, as a dashboard's session middleware would establish it. A header
// stands in for the session cookie here.
const AS_A = { 'X-Customer-Project': 'proj_a', 'Content-Type': 'application/json' }
const customerOf = (headers: Record<string, unknown>) => headers['x-customer-project']

type Authorize = (headers: Record<string, unknown>, target: OperatorTarget) => boolean

/** A customer dashboard: the key-management routes at /dashboard, authorised per target. */
interface Framework {
  name: string
  app(gate: Portcullis, authorize: Authorize, events: OperatorEvent[]): RequestListener
}

const expressFramework = (name: string, express: typeof express5): Framework => ({
  name,
  app(gate, authorize, events) {
    const app = express()
    app.use(express.json())
    app.use(
      '/dashboard',
      forExpress.keyManagementRoutes(gate, {
        authorize: (req, target) => authorize(req.headers, target),
        onEvent: (event) => events.push(event),
      }),
    )
    return app
  },
})

const koaFramework = (name: string, Koa: typeof Koa3): Framework => ({
  name,
  app(gate, authorize, events) {
    const app = new Koa()
    app.use(
      forKoa.keyManagementRoutes(gate, {
        prefix: '/dashboard',
        authorize: (ctx, target) => authorize(ctx.request.headers, target),
        onEvent: (event) => events.push(event),
      }),
    )
    return app.callback()
  },
})

const frameworks = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
]

describe.each(frameworks)('operator routes scoped to one tenant on $name', (framework) => {
  async function setup(authorize?: Authorize) {
    const made = makeGate({ revealKey: randomBytes(32), resources: ['charges'] })
    const a = await made.gate.projects.provision('proj_a')
    const b = await made.gate.projects.provision('proj_b')
    const targets: OperatorTarget[] = []
    const events: OperatorEvent[] = []
    const scoped: Authorize = (headers, target) => {
      targets.push(target)
      return target.projectId === customerOf(headers)
    }
    const app = framework.app(made.gate, authorize ?? scoped, events)
    return { ...made, a, b, targets, events, app }
  }

  function expectRefusal(response: request.Response, status: number, code: string) {
    expect(response.status, response.text).toBe(status)
    expect(response.body.error.code).toBe(code)
  }

  it("refuses every operation on another project's keys with 403 and changes nothing", async () => {
    const { app, gate, a, b, events } = await setup()
    const bTestSecret = b.test.secretKey.record.id
    const bLiveSecret = b.live.secretKey.record.id
    const bLivePublishable = b.live.publishableKey.record.id
    const bRestricted = (
      await gate.keys.create({
        projectId: 'proj_b',
        type: 'restricted',
        mode: 'test',
        permissions: { charges: 'read' },
      })
    ).record.id
    const bTestPublishable = b.test.publishableKey.record.id
    const bLimited = (
      await gate.keys.create({
        projectId: 'proj_b',
        type: 'publishable',
        mode: 'live',
        allowedOrigins: ['https://shop.b.example'],
      })
    ).record.id
    const before = await gate.keys.list('proj_b')
    const attempts: [string, request.Test][] = [
      ['list', request(app).get('/dashboard/projects/proj_b/keys').set(AS_A)],
      ['list live', request(app).get('/dashboard/projects/proj_b/keys?mode=live').set(AS_A)],
      [
        'create',
        request(app)
          .post('/dashboard/projects/proj_b/keys')
          .set(AS_A)
          .send({ type: 'secret', mode: 'live', name: 'Backdoor' }),
      ],
      ['roll', request(app).post(`/dashboard/keys/${bTestSecret}/roll`).set(AS_A).send({})],
      [
        'roll with a grace period',
        request(app).post(`/dashboard/keys/${bLiveSecret}/roll`).set(AS_A).send({
          gracePeriodMs: 1000,
        }),
      ],
      ['delete', request(app).delete(`/dashboard/keys/${bLivePublishable}`).set(AS_A)],
      [
        'allowlist',
        request(app)
          .put(`/dashboard/keys/${bLiveSecret}/allowed-ips`)
          .set(AS_A)
          .send({ allowedIps: ['198.51.100.7'] }),
      ],
      ['reveal', request(app).post(`/dashboard/keys/${bTestSecret}/reveal`).set(AS_A)],
      [
        'update',
        request(app)
          .patch(`/dashboard/keys/${bLiveSecret}`)
          .set(AS_A)
          .send({ name: 'Hijacked', allowedIps: ['198.51.100.7'] }),
      ],
      [
        'update a restricted key’s grant',
        request(app)
          .patch(`/dashboard/keys/${bRestricted}`)
          .set(AS_A)
          .send({ permissions: { charges: 'write' }, metadata: { owner: 'a' } }),
      ],
      [
        'limit a publishable key to origins',
        request(app)
          .patch(`/dashboard/keys/${bLivePublishable}`)
          .set(AS_A)
          .send({ allowedOrigins: ['https://evil.example.net'] }),
      ],
      [
        'limit a publishable key to an app',
        request(app)
          .patch(`/dashboard/keys/${bTestPublishable}`)
          .set(AS_A)
          .send({ allowedIosBundleIds: ['com.example.evil'] }),
      ],
      [
        'lift a publishable key’s restriction',
        request(app).patch(`/dashboard/keys/${bLimited}`).set(AS_A).send({ allowedOrigins: [] }),
      ],
      [
        'create a publishable key limited to origins',
        request(app)
          .post('/dashboard/projects/proj_b/keys')
          .set(AS_A)
          .send({ type: 'publishable', mode: 'live', allowedOrigins: ['https://a.example.com'] }),
      ],
      [
        'create a restricted key',
        request(app)
          .post('/dashboard/projects/proj_b/keys')
          .set(AS_A)
          .send({ type: 'restricted', mode: 'test', permissions: { charges: 'write' } }),
      ],
      [
        'provision an existing project',
        request(app).post('/dashboard/projects').set(AS_A).send({ projectId: 'proj_b' }),
      ],
      [
        'provision a new project',
        request(app).post('/dashboard/projects').set(AS_A).send({ projectId: 'proj_c' }),
      ],
    ]
    for (const [what, attempt] of attempts) {
      const response = await attempt
      expect(response.status, `${what}: ${response.text}`).toBe(403)
      expect(response.body.error.code, what).toBe('forbidden')
      // Nothing of B in the answer: not a key, not a record.
      expect(response.text, what).not.toContain('proj_b')
    }

    expect(await gate.keys.list('proj_b')).toEqual(before)
    expect(await gate.keys.list('proj_c')).toEqual([])
    expect(events).toEqual([])
    for (const created of [b.test.secretKey, b.live.secretKey]) {
      const result = await gate.authenticate(
        { headers: { authorization: `Bearer ${created.key}` }, remoteAddress: '203.0.113.9' },
        { credential: 'secret' },
      )
      expect(result.ok && result.auth.projectId).toBe('proj_b')
    }
    for (const created of [b.test.publishableKey, b.live.publishableKey]) {
      const result = await gate.authenticate(
        { headers: { authorization: `Bearer ${created.key}` } },
        { credential: 'publishable' },
      )
      expect(result.ok && result.auth.projectId).toBe('proj_b')
    }

    // B's restrictions are B's: its limited key is still limited, the others still are not.
    const limited = await gate.keys.get(bLimited)
    expect(limited?.allowedOrigins).toEqual(['https://shop.b.example'])
    for (const created of [b.test.publishableKey, b.live.publishableKey]) {
      const result = await gate.authenticate(
        {
          headers: { authorization: `Bearer ${created.key}`, origin: 'https://elsewhere.example' },
        },
        { credential: 'publishable' },
      )
      expect(result.ok).toBe(true)
    }
    // A's own publishable key takes the same change.
    const ownLimited = await request(app)
      .patch(`/dashboard/keys/${a.test.publishableKey.record.id}`)
      .set(AS_A)
      .send({ allowedOrigins: ['https://shop.a.example'] })
    expect(ownLimited.status, ownLimited.text).toBe(200)
    expect(ownLimited.body.allowedOrigins).toEqual(['https://shop.a.example'])

    // The same customer can do all of it to its own project: the 403s above are the scoping.
    const own = a.test.secretKey.record.id
    expect((await request(app).get('/dashboard/projects/proj_a/keys').set(AS_A)).status).toBe(200)
    const created = await request(app)
      .post('/dashboard/projects/proj_a/keys')
      .set(AS_A)
      .send({ type: 'secret', mode: 'live', name: 'Worker' })
    expect(created.status).toBe(201)
    expect((await request(app).post(`/dashboard/keys/${own}/reveal`).set(AS_A)).body.key).toBe(
      a.test.secretKey.key,
    )
    expect(
      (
        await request(app)
          .put(`/dashboard/keys/${own}/allowed-ips`)
          .set(AS_A)
          .send({ allowedIps: ['198.51.100.7'] })
      ).status,
    ).toBe(200)
    expect(
      (await request(app).patch(`/dashboard/keys/${own}`).set(AS_A).send({ name: 'Mine' })).body
        .name,
    ).toBe('Mine')
    expect((await request(app).post(`/dashboard/keys/${own}/roll`).set(AS_A).send({})).status).toBe(
      200,
    )
    expect(
      (await request(app).delete(`/dashboard/keys/${created.body.record.id}`).set(AS_A)).status,
    ).toBe(200)
    expectRefusal(
      await request(app).post('/dashboard/projects').set(AS_A).send({ projectId: 'proj_a' }),
      409,
      'project_exists',
    )
    // Authenticating above moved B's lastUsedAt; nothing else of B changed meanwhile.
    const unused = (records: readonly { lastUsedAt: number | null }[]) =>
      records.map((record) => ({ ...record, lastUsedAt: null }))
    expect(unused(await gate.keys.list('proj_b'))).toEqual(unused(before))
  })

  it('shows authorize what each operation acts on, frozen, before it runs', async () => {
    const { app, b, targets } = await setup()
    const key = b.live.secretKey.record.id
    const testKey = b.test.publishableKey.record.id
    await request(app).post('/dashboard/projects').set(AS_A).send({ projectId: 'proj_c' })
    await request(app).get('/dashboard/projects/proj_b/keys').set(AS_A)
    await request(app).get('/dashboard/projects/proj_b/keys?mode=test&type=secret').set(AS_A)
    await request(app)
      .post('/dashboard/projects/proj_b/keys')
      .set(AS_A)
      .send({ type: 'publishable', mode: 'live' })
    await request(app).post(`/dashboard/keys/${key}/roll`).set(AS_A).send({})
    await request(app).delete(`/dashboard/keys/${testKey}`).set(AS_A)
    await request(app).put(`/dashboard/keys/${key}/allowed-ips`).set(AS_A).send({ allowedIps: [] })
    await request(app).post(`/dashboard/keys/${testKey}/reveal`).set(AS_A)
    await request(app)
      .patch(`/dashboard/keys/${key}`)
      .set(AS_A)
      .send({ metadata: { x: 1 } })
    // toStrictEqual: a target for both modes has no `mode` at all, not `mode: undefined`.
    expect(targets).toStrictEqual([
      { operationId: 'provisionProject', projectId: 'proj_c' },
      { operationId: 'listKeys', projectId: 'proj_b' },
      { operationId: 'listKeys', projectId: 'proj_b', mode: 'test' },
      { operationId: 'createKey', projectId: 'proj_b', mode: 'live' },
      { operationId: 'rollKey', projectId: 'proj_b', mode: 'live', keyId: key },
      { operationId: 'deleteKey', projectId: 'proj_b', mode: 'test', keyId: testKey },
      { operationId: 'setAllowedIps', projectId: 'proj_b', mode: 'live', keyId: key },
      { operationId: 'revealKey', projectId: 'proj_b', mode: 'test', keyId: testKey },
      { operationId: 'updateKey', projectId: 'proj_b', mode: 'live', keyId: key },
    ])
    for (const target of targets) expect(Object.isFrozen(target)).toBe(true)
  })

  it('answers 404 for a key that does not exist, whatever authorize would say', async () => {
    const calls: OperatorTarget[] = []
    const { app, b } = await setup((_headers, target) => {
      calls.push(target)
      return false
    })
    const missing = 'key_0000000000000000000000'
    const attempts = [
      request(app).post(`/dashboard/keys/${missing}/roll`).set(AS_A).send({}),
      request(app).delete(`/dashboard/keys/${missing}`).set(AS_A),
      request(app).put(`/dashboard/keys/${missing}/allowed-ips`).set(AS_A).send({ allowedIps: [] }),
      request(app).post(`/dashboard/keys/${missing}/reveal`).set(AS_A),
      request(app).patch(`/dashboard/keys/${missing}`).set(AS_A).send({ name: 'x' }),
    ]
    for (const attempt of attempts) expectRefusal(await attempt, 404, 'resource_missing')
    expect(calls).toEqual([])
    // An existing key is the application's call.
    expectRefusal(
      await request(app).delete(`/dashboard/keys/${b.test.secretKey.record.id}`).set(AS_A),
      403,
      'forbidden',
    )
    expect(calls).toHaveLength(1)
  })

  it('validates the request before asking authorize, and keeps (req, op) => op.operationId working', async () => {
    const calls: OperatorTarget[] = []
    const { app, gate } = await setup((_headers, op) => {
      calls.push(op)
      return op.operationId === 'listKeys'
    })
    expect((await request(app).get('/dashboard/projects/proj_b/keys').set(AS_A)).status).toBe(200)
    expectRefusal(
      await request(app)
        .post('/dashboard/projects/proj_b/keys')
        .set(AS_A)
        .send({ type: 'secret', mode: 'test' }),
      403,
      'forbidden',
    )
    // A malformed request never reaches authorize: it could not say what it acts on.
    expectRefusal(
      await request(app).post('/dashboard/projects/proj_b/keys').set(AS_A).send({ type: 'x' }),
      400,
      'invalid_request',
    )
    expect(calls.map((call) => call.operationId)).toEqual(['listKeys', 'createKey'])
    expect(await gate.keys.list('proj_b')).toHaveLength(4)
  })
})
