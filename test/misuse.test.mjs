// Plain JavaScript on purpose: these misuses are what the TypeScript signatures already rule
// out, so only untyped callers (and `any`) can make them.
import { randomBytes } from 'node:crypto'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.ts'
import * as forExpress from '../src/express/index.ts'
import { createPortcullis } from '../src/index.ts'
import * as forKoa from '../src/koa/index.ts'

const makeGate = () =>
  createPortcullis({
    store: new MemoryStore({ sweepIntervalMs: 0 }),
    sessionSecret: randomBytes(32),
  })

/** A request that hangs fails the test after 2 s instead of running into the test timeout. */
const TIMEOUT = { response: 2000, deadline: 2000 }

/**
 * One framework major. Each app records the errors the framework received (and still answers
 * them the framework's default way), so the framework's own error log stays out of the count.
 */
const expressFramework = (name, express) => ({
  name,
  binding: forExpress,
  /** `bare` on /x and /y, as the user wrote it; `proper` on /ok. */
  guardApp(bare, proper, seen) {
    const app = express()
    app.set('env', 'test')
    const reached = (_req, res) => res.json({ reached: true })
    app.get('/x', bare, reached)
    app.get('/y', bare, reached)
    app.get('/ok', proper, reached)
    app.use((error, _req, _res, next) => {
      seen.push(error)
      next(error)
    })
    return app
  },
  /** A router factory mounted bare at /v1. */
  routerApp(bare, seen) {
    const app = express()
    app.set('env', 'test')
    app.use('/v1', bare)
    app.use((error, _req, _res, next) => {
      seen.push(error)
      next(error)
    })
    return app
  },
})

const koaFramework = (name, Koa) => ({
  name,
  binding: forKoa,
  guardApp(bare, proper, seen) {
    const app = new Koa()
    app.on('error', (error) => seen.push(error))
    const router = new Router()
    const reached = (ctx) => {
      ctx.body = { reached: true }
    }
    router.get('/x', bare, reached)
    router.get('/y', bare, reached)
    router.get('/ok', proper, reached)
    app.use(router.routes())
    return app.callback()
  },
  routerApp(bare, seen) {
    const app = new Koa()
    app.on('error', (error) => seen.push(error))
    app.use(bare)
    return app.callback()
  },
})

const frameworks = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2),
]

let logged
beforeEach(() => {
  logged = vi.spyOn(console, 'error').mockImplementation(() => {})
})
afterEach(() => {
  logged.mockRestore()
})

/** Calls `call`, which must throw a TypeError with exactly `message` (or matching it). */
function throwsTypeError(call, message) {
  let error
  try {
    call()
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(TypeError)
  if (message instanceof RegExp) expect(error.message).toMatch(message)
  else expect(error.message).toBe(message)
}

/** The console.error calls that mention `message`. */
const logsOf = (message) =>
  logged.mock.calls.filter((args) => args.some((arg) => String(arg).includes(message)))

describe.each(frameworks)('$name: a factory mounted without (gate)', (framework) => {
  const guards = [
    {
      name: 'requireSecretKey',
      proper: (gate) => framework.binding.requireSecretKey(gate),
      status: 401,
    },
    {
      name: 'requirePublishableKey',
      proper: (gate) => framework.binding.requirePublishableKey(gate),
      status: 401,
    },
    {
      name: 'requireSession',
      proper: (gate) => framework.binding.requireSession(gate),
      status: 401,
    },
    {
      name: 'ipAllowlist',
      usage: 'ipAllowlist(gate, list)',
      proper: (gate) => framework.binding.ipAllowlist(gate, ['10.0.0.0/8']),
      status: 403,
    },
  ]

  it.each(guards)(
    '$name answers 500 at once with the fix, logged once',
    async ({ name, usage, proper, status }) => {
      const message = `${name} was mounted without a gate: use ${usage ?? `${name}(gate)`}, not ${name}`
      const seen = []
      const app = framework.guardApp(framework.binding[name], proper(makeGate()), seen)

      for (const path of ['/x', '/x', '/y']) {
        const response = await request(app).get(path).timeout(TIMEOUT)
        expect(response.status).toBe(500)
        expect(response.body).not.toEqual({ reached: true })
      }
      expect(seen).toHaveLength(3)
      for (const error of seen) {
        expect(error).toBeInstanceOf(TypeError)
        expect(error.message).toBe(message)
      }
      expect(logsOf(message)).toEqual([[`portcullis: ${message}`]])

      // The same factory, called properly, guards its route as usual.
      const ok = await request(app).get('/ok').timeout(TIMEOUT)
      expect(ok.status).toBe(status)
    },
  )

  const routers = [
    { name: 'clientSessionRoutes', usage: 'clientSessionRoutes(gate)' },
    { name: 'keyManagementRoutes', usage: 'keyManagementRoutes(gate, { authorize })' },
  ]

  it.each(routers)(
    '$name answers 500 at once with the fix, logged once',
    async ({ name, usage }) => {
      const message = `${name} was mounted without a gate: use ${usage}, not ${name}`
      const seen = []
      const app = framework.routerApp(framework.binding[name], seen)

      for (let i = 0; i < 2; i++) {
        const response = await request(app)
          .post('/v1/client-sessions')
          .set('Content-Type', 'application/json')
          .send({ clientId: 'u1' })
          .timeout(TIMEOUT)
        expect(response.status).toBe(500)
      }
      expect(seen.map((error) => [error.constructor, error.message])).toEqual([
        [TypeError, message],
        [TypeError, message],
      ])
      expect(logsOf(message)).toEqual([[`portcullis: ${message}`]])
    },
  )
})

describe.each([
  {
    name: 'portcullis/express',
    binding: forExpress,
    guardNames: 'mode, realm, retryAfterSeconds, onError, passErrors',
    secretKeyNames: 'mode, permission, realm, retryAfterSeconds, onError, passErrors',
  },
  {
    name: 'portcullis/koa',
    binding: forKoa,
    guardNames: 'mode, realm, retryAfterSeconds, onError, passErrors',
    secretKeyNames: 'mode, permission, realm, retryAfterSeconds, onError, passErrors',
  },
])('$name: misuse at construction', ({ binding, guardNames: otherNames, secretKeyNames }) => {
  const gate = makeGate()
  const guardNamesList = ['requireSecretKey', 'requirePublishableKey', 'requireSession']
  /** The options each guard knows: `permission` is requireSecretKey's alone. */
  const namesOf = (name) => (name === 'requireSecretKey' ? secretKeyNames : otherNames)

  it.each(guardNamesList)('%s without a gate throws a TypeError naming the fix', (name) => {
    const factory = binding[name]
    const expected = (got) =>
      `${name}(gate): gate must be the object createPortcullis() returned (got ${got})`
    throwsTypeError(() => factory(), expected('undefined'))
    throwsTypeError(() => factory(null), expected('null'))
    throwsTypeError(
      () => factory({ mode: 'live' }),
      expected('an object without an authenticate() method'),
    )
    // A string is described, never echoed when long: it could be a key pasted in by mistake.
    const key = `sk_live_${'a'.repeat(43)}`
    throwsTypeError(() => factory(key), expected('a string of 51 characters'))
  })

  it.each(guardNamesList)('%s refuses unknown options and bad values', (name) => {
    const factory = binding[name]
    const guardNames = namesOf(name)
    throwsTypeError(
      () => factory(gate, { mdoe: 'live' }),
      `${name}(gate, options): unknown option "mdoe" (known options: ${guardNames})`,
    )
    // Fail closed: the name is refused even when its value is unset.
    throwsTypeError(
      () => factory(gate, { mode: 'live', pasErrors: true, extra: undefined }),
      `${name}(gate, options): unknown options "pasErrors", "extra" (known options: ${guardNames})`,
    )
    throwsTypeError(
      () => factory(gate, { mode: 'production' }),
      `${name}(gate, options): mode must be "test" or "live" (got "production")`,
    )
    throwsTypeError(
      () => factory(gate, 'live'),
      `${name}(gate, options): options must be an object (got "live")`,
    )
    throwsTypeError(
      () => factory(gate, { passErrors: 'yes' }),
      `${name}(gate, options): passErrors must be true or false (got "yes")`,
    )
    throwsTypeError(
      () => factory(gate, { onError: true }),
      `${name}(gate, options): onError must be a function (got true)`,
    )
    throwsTypeError(
      () => factory(gate, { retryAfterSeconds: -1 }),
      `${name}(gate, options): retryAfterSeconds must be a non-negative whole number of seconds (got -1)`,
    )
    throwsTypeError(
      () => factory(gate, { realm: 42 }),
      `${name}(gate, options): realm must be a string (got 42)`,
    )
    // Every known option, and an unset one, are accepted.
    const all = {
      mode: 'live',
      realm: 'api',
      retryAfterSeconds: 2,
      onError() {},
      passErrors: false,
    }
    expect(factory(gate, all)).toBeTypeOf('function')
    expect(factory(gate, { mode: undefined })).toBeTypeOf('function')
    expect(factory(gate)).toBeTypeOf('function')
  })

  it('permission is requireSecretKey’s alone: the other guards refuse it as an unknown option', () => {
    for (const name of ['requirePublishableKey', 'requireSession']) {
      throwsTypeError(
        () => binding[name](gate, { permission: 'client_sessions:write' }),
        `${name}(gate, options): unknown option "permission" (known options: ${otherNames})`,
      )
    }
    throwsTypeError(
      () => binding.ipAllowlist(gate, ['10.0.0.0/8'], { permission: 'client_sessions:write' }),
      'ipAllowlist(gate, list, options): unknown option "permission" (known options: realm, retryAfterSeconds, onError, passErrors)',
    )
    expect(binding.requireSecretKey(gate, { permission: 'client_sessions:write' })).toBeTypeOf(
      'function',
    )
  })

  it('requireSecretKey refuses a permission naming a resource the gate does not have', () => {
    const platform = createPortcullis({
      store: new MemoryStore({ sweepIntervalMs: 0 }),
      sessionSecret: randomBytes(32),
      resources: ['charges', 'customers'],
    })
    const unknown = (text) =>
      `requireSecretKey(gate, options): permission ${text} names no resource of the gate's catalog (charges, customers, client_sessions); add it to createPortcullis({ resources })`
    throwsTypeError(
      () => binding.requireSecretKey(platform, { permission: 'refunds:write' }),
      unknown('refunds:write'),
    )
    // In a list, the one at fault is named.
    throwsTypeError(
      () => binding.requireSecretKey(platform, { permission: ['charges:write', 'refund:read'] }),
      unknown('refund:read'),
    )
    // A gate without resources knows only the built-in client_sessions.
    throwsTypeError(
      () => binding.requireSecretKey(gate, { permission: 'charges:write' }),
      "requireSecretKey(gate, options): permission charges:write names no resource of the gate's catalog (client_sessions); add it to createPortcullis({ resources })",
    )
    expect(
      binding.requireSecretKey(platform, { permission: ['charges:write', 'customers:read'] }),
    ).toBeTypeOf('function')
    expect(
      binding.requireSecretKey(platform, { permission: 'client_sessions:read', mode: 'live' }),
    ).toBeTypeOf('function')
  })

  it('requireSecretKey refuses a malformed permission, naming the form it takes', () => {
    const platform = createPortcullis({
      store: new MemoryStore({ sweepIntervalMs: 0 }),
      sessionSecret: randomBytes(32),
      resources: ['charges'],
    })
    const malformed = (got) =>
      `requireSecretKey(gate, options): permission ${got} must look like "charges:read" or "charges:write"`
    // A level a route cannot require, a missing or unknown level, a resource in capitals.
    for (const text of ['charges:none', 'charges', 'charges:admin', 'Charges:write', ':write']) {
      throwsTypeError(
        () => binding.requireSecretKey(platform, { permission: text }),
        malformed(JSON.stringify(text)),
      )
    }
    const shape = (got) =>
      `requireSecretKey(gate, options): permission must be "resource:read" or "resource:write", or a non-empty list of them (got ${got})`
    throwsTypeError(() => binding.requireSecretKey(platform, { permission: 42 }), shape('42'))
    throwsTypeError(() => binding.requireSecretKey(platform, { permission: [] }), shape('an array'))
    throwsTypeError(
      () => binding.requireSecretKey(platform, { permission: ['charges:read', 7] }),
      shape('an array'),
    )
    throwsTypeError(
      () => binding.requireSecretKey(platform, { permission: { charges: 'write' } }),
      shape('an object'),
    )
  })

  it('ipAllowlist needs a gate and a list, and refuses unknown options', () => {
    const { ipAllowlist } = binding
    throwsTypeError(
      () => ipAllowlist(undefined, ['10.0.0.0/8']),
      'ipAllowlist(gate, list): gate must be the object createPortcullis() returned (got undefined)',
    )
    // Forgot the gate but gave the list.
    throwsTypeError(
      () => ipAllowlist(['10.0.0.0/8']),
      'ipAllowlist(gate, list): gate must be the object createPortcullis() returned (got an array)',
    )
    const noList = (got) =>
      `ipAllowlist(gate, list): list must be an array of addresses and CIDR ranges, e.g. ipAllowlist(gate, ['10.0.0.0/8']) (got ${got})`
    throwsTypeError(() => ipAllowlist(gate), noList('undefined'))
    throwsTypeError(() => ipAllowlist(gate, '10.0.0.0/8'), noList('"10.0.0.0/8"'))
    throwsTypeError(
      () => ipAllowlist(gate, ['10.0.0.0/8'], { mode: 'live' }),
      'ipAllowlist(gate, list, options): unknown option "mode" (known options: realm, retryAfterSeconds, onError, passErrors)',
    )
    expect(ipAllowlist(gate, ['10.0.0.0/8'], { passErrors: true })).toBeTypeOf('function')
  })

  it('keyManagementRoutes requires options with authorize(request, target)', () => {
    const { keyManagementRoutes } = binding
    const required =
      'keyManagementRoutes(gate, options): options with an authorize(request, target) function are required, e.g. keyManagementRoutes(gate, { authorize: (request, target) => … }): who may manage keys is yours to decide'
    throwsTypeError(() => keyManagementRoutes(gate), required)
    throwsTypeError(() => keyManagementRoutes(gate, {}), required)
    throwsTypeError(
      () => keyManagementRoutes(gate, { authorize: true }),
      'keyManagementRoutes(gate, options): authorize must be a function (request, target) => boolean (got true)',
    )
    throwsTypeError(
      () => keyManagementRoutes(undefined, { authorize: () => true }),
      'keyManagementRoutes(gate, { authorize }): gate must be the object createPortcullis() returned (got undefined)',
    )
    expect(keyManagementRoutes(gate, { authorize: () => false })).toBeTypeOf('function')
  })

  it('the routers refuse unknown options and bad values', () => {
    const { clientSessionRoutes, keyManagementRoutes } = binding
    const authorize = () => false
    throwsTypeError(
      () => keyManagementRoutes(gate, { authorise: authorize }),
      /^keyManagementRoutes\(gate, options\): unknown option "authorise" \(known options: realm, retryAfterSeconds, authorize, onEvent/,
    )
    throwsTypeError(
      () => keyManagementRoutes(gate, { authorize, onEvent: 'audit' }),
      'keyManagementRoutes(gate, options): onEvent must be a function (event, request) => void (got "audit")',
    )
    throwsTypeError(
      () => clientSessionRoutes(gate, { onEvnt: () => {} }),
      /^clientSessionRoutes\(gate, options\): unknown option "onEvnt" \(known options: realm, retryAfterSeconds, authorize, onEvent/,
    )
    throwsTypeError(
      () => clientSessionRoutes(),
      'clientSessionRoutes(gate): gate must be the object createPortcullis() returned (got undefined)',
    )
    // An authorize these routes would ignore must not pass for a guard.
    throwsTypeError(() => clientSessionRoutes(gate, { authorize }), /takes no authorize/)
    expect(clientSessionRoutes(gate)).toBeTypeOf('function')
  })

  if (binding === forExpress) {
    it('the Express routers take no prefix: they are mounted at a path', () => {
      throwsTypeError(
        () => forExpress.clientSessionRoutes(gate, { prefix: '/v1' }),
        'clientSessionRoutes(gate, options): unknown option "prefix" (known options: realm, retryAfterSeconds, authorize, onEvent)',
      )
    })
  } else {
    it('the Koa routers refuse a prefix that no path could match', () => {
      throwsTypeError(
        () => forKoa.keyManagementRoutes(gate, { authorize: () => false, prefix: 'v1/admin' }),
        'keyManagementRoutes(gate, options): prefix must be a path starting with "/", e.g. "/v1" (got "v1/admin")',
      )
      expect(forKoa.clientSessionRoutes(gate, { prefix: '/v1' })).toBeTypeOf('function')
    })
  }
})
