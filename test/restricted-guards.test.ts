import type { RequestListener } from 'node:http'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../src/express/index.js'
import type { Portcullis } from '../src/index.js'
import * as forKoa from '../src/koa/index.js'
import { makeGate } from './helpers.js'

/** What a route requires of a restricted key; undefined: nothing, so secret keys only. */
type Permission = string | readonly string[] | undefined

/**
 * The routes under test, each guarded by requireSecretKey with the permission named:
 * /charges (charges:write), /charges/list (charges:read), /customer-charges (a list),
 * /live-charges (charges:write, live mode), /plain (no permission).
 */
const ROUTES: readonly [string, Permission, 'test' | 'live' | undefined][] = [
  ['/charges', 'charges:write', undefined],
  ['/charges/list', 'charges:read', undefined],
  ['/customer-charges', ['charges:write', 'customers:read'], undefined],
  ['/live-charges', 'charges:write', 'live'],
  ['/plain', undefined, undefined],
]

interface Framework {
  name: string
  app(gate: Portcullis): RequestListener
}

const options = (permission: Permission, mode: 'test' | 'live' | undefined) => ({
  ...(permission === undefined ? {} : { permission }),
  ...(mode === undefined ? {} : { mode }),
})

function expressFramework(name: string, express: typeof express5): Framework {
  return {
    name,
    app(gate) {
      const app = express()
      for (const [path, permission, mode] of ROUTES) {
        app.get(path, forExpress.requireSecretKey(gate, options(permission, mode)), (req, res) => {
          res.json(forExpress.getAuth(req))
        })
      }
      return app
    },
  }
}

function koaFramework(name: string, Koa: typeof Koa3): Framework {
  return {
    name,
    app(gate) {
      const app = new Koa()
      const router = new Router()
      for (const [path, permission, mode] of ROUTES) {
        router.get(path, forKoa.requireSecretKey(gate, options(permission, mode)), (ctx) => {
          ctx.body = ctx.state.auth
        })
      }
      app.use(router.routes())
      return app.callback()
    },
  }
}

const frameworks = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
]

/** Stripe's wording, with the key redacted to its head and real last four characters. */
const lacking = (key: string, permission: string) =>
  `The provided key 'rk_test_…${key.slice(-4)}' does not have the required permissions for this endpoint. Having the '${permission}' permission would allow this request to continue.`

describe.each(frameworks)('requireSecretKey with a permission on $name', (framework) => {
  async function setup() {
    const made = makeGate({ resources: ['charges', 'customers'] })
    const { test, live } = await made.gate.projects.provision('proj_a')
    const restricted = (permissions: Record<string, 'none' | 'read' | 'write'>, mode = 'test') =>
      made.gate.keys.create({
        projectId: 'proj_a',
        type: 'restricted',
        mode: mode as 'test' | 'live',
        permissions,
        metadata: { owner: 'ci' },
      })
    return { ...made, test, live, restricted, app: framework.app(made.gate) }
  }
  const get = (app: RequestListener, path: string, key: string) =>
    request(app).get(path).set('Authorization', `Bearer ${key}`)

  function expectDenied(response: request.Response, message: string) {
    expect(response.status).toBe(403)
    expect(response.headers['content-type']).toMatch(/application\/json/)
    // A 403, not a challenge: the key is good, it only may not do this.
    expect(response.headers['www-authenticate']).toBeUndefined()
    expect(response.body).toEqual({
      error: { type: 'invalid_request_error', code: 'permission_denied', message },
    })
  }

  it('admits a secret key and a restricted key holding the permission', async () => {
    const { app, test, restricted } = await setup()
    const secret = await get(app, '/charges', test.secretKey.key)
    expect(secret.status).toBe(200)
    expect(secret.body).toMatchObject({ keyType: 'secret', credential: 'secret', metadata: {} })
    expect(secret.body.permissions).toBeUndefined()

    const writer = await restricted({ charges: 'write', customers: 'none' })
    for (let i = 0; i < 2; i++) {
      // Twice: the second decision is the cached one, and must be the same.
      const admitted = await get(app, '/charges', writer.key)
      expect(admitted.status).toBe(200)
      expect(admitted.body).toEqual({
        mode: 'test',
        livemode: false,
        projectId: 'proj_a',
        credential: 'secret',
        keyId: writer.record.id,
        keyType: 'restricted',
        permissions: { charges: 'write' },
        metadata: { owner: 'ci' },
      })
    }
    // Write implies read.
    expect((await get(app, '/charges/list', writer.key)).status).toBe(200)
  })

  it('refuses a restricted key with only charges:read: 403 permission_denied naming what it lacks', async () => {
    const { app, restricted } = await setup()
    const reader = await restricted({ charges: 'read' })
    for (let i = 0; i < 2; i++) {
      expectDenied(await get(app, '/charges', reader.key), lacking(reader.key, 'charges:write'))
    }
    expect((await get(app, '/charges/list', reader.key)).status).toBe(200)
    const nothing = await restricted({})
    expectDenied(await get(app, '/charges/list', nothing.key), lacking(nothing.key, 'charges:read'))
  })

  it('requires every permission of a list, and names the first one missing', async () => {
    const { app, test, restricted } = await setup()
    const both = await restricted({ charges: 'write', customers: 'read' })
    expect((await get(app, '/customer-charges', both.key)).status).toBe(200)
    const chargesOnly = await restricted({ charges: 'write' })
    expectDenied(
      await get(app, '/customer-charges', chargesOnly.key),
      lacking(chargesOnly.key, 'customers:read'),
    )
    const customersOnly = await restricted({ charges: 'read', customers: 'write' })
    expectDenied(
      await get(app, '/customer-charges', customersOnly.key),
      lacking(customersOnly.key, 'charges:write'),
    )
    expect((await get(app, '/customer-charges', test.secretKey.key)).status).toBe(200)
  })

  it('refuses every restricted key on a route that names no permission', async () => {
    const { app, test, restricted } = await setup()
    const everything = await restricted({ charges: 'write', customers: 'write' })
    const sessions = await restricted({ client_sessions: 'write' })
    for (const key of [everything.key, sessions.key]) {
      expectDenied(
        await get(app, '/plain', key),
        `The provided key 'rk_test_…${key.slice(-4)}' is a restricted key; this endpoint accepts secret keys only.`,
      )
    }
    expect((await get(app, '/plain', test.secretKey.key)).status).toBe(200)
  })

  it('checks the mode before the permission, and still refuses a publishable key', async () => {
    const { app, live, test, restricted } = await setup()
    // Without the permission either: the mode is what it hears about first.
    const testReader = await restricted({ charges: 'read' })
    const liveWriter = await restricted({ charges: 'write' }, 'live')
    const mismatch = await get(app, '/live-charges', testReader.key)
    expect([mismatch.status, mismatch.body.error.code]).toEqual([403, 'mode_mismatch'])
    expect((await get(app, '/live-charges', liveWriter.key)).status).toBe(200)
    expect((await get(app, '/live-charges', live.secretKey.key)).status).toBe(200)
    const publishable = await get(app, '/charges', test.publishableKey.key)
    expect([publishable.status, publishable.body.error.code]).toEqual([401, 'wrong_key_type'])
  })

  it('follows an update of the grant at once on this instance', async () => {
    const { app, gate, restricted } = await setup()
    const key = await restricted({ charges: 'read' })
    expectDenied(await get(app, '/charges', key.key), lacking(key.key, 'charges:write'))
    await gate.keys.update(key.record.id, { permissions: { charges: 'write' } })
    expect((await get(app, '/charges', key.key)).status).toBe(200)
    await gate.keys.update(key.record.id, { permissions: {} })
    expectDenied(await get(app, '/charges/list', key.key), lacking(key.key, 'charges:read'))
  })
})

describe('requireSecretKey permission configuration', () => {
  it('copies the list: changing it after the guard was made changes nothing', async () => {
    const { gate } = makeGate({ resources: ['charges', 'customers'] })
    await gate.projects.provision('proj_a')
    const reader = await gate.keys.create({
      projectId: 'proj_a',
      type: 'restricted',
      mode: 'test',
      permissions: { charges: 'read' },
    })
    const permission = ['charges:read']
    const app = express5()
    app.get('/x', forExpress.requireSecretKey(gate, { permission }), (_req, res) =>
      res.json({ ok: true }),
    )
    permission.push('customers:write')
    const response = await request(app).get('/x').set('Authorization', `Bearer ${reader.key}`)
    expect(response.status).toBe(200)
  })

  it('refuses an unknown resource when the guard is made, in both bindings', () => {
    const { gate } = makeGate({ resources: ['charges'] })
    for (const requireSecretKey of [forExpress.requireSecretKey, forKoa.requireSecretKey]) {
      expect(() => requireSecretKey(gate, { permission: 'refunds:write' })).toThrow(
        /names no resource of the gate's catalog \(charges, client_sessions\); add it to createPortcullis\(\{ resources \}\)/,
      )
    }
  })
})
