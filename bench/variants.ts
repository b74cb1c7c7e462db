/**
 * The server variants `npm run bench` compares. Each one is a complete app with one JSON route,
 * `GET /v1/ping`, built the way its users write it, plus the credentials its clients send.
 * Every credential-checking variant holds 10,000 distinct credentials and the load cycles
 * through all of them, so no variant is measured on one hot token.
 *
 * portcullis is used through its public API with default options only, so the figures show
 * whatever the core does today (with or without its caches).
 */
import { randomBytes } from 'node:crypto'
import type { RequestListener } from 'node:http'
import Router from '@koa/router'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import express, { type RequestHandler } from 'express'
import session from 'express-session'
import Koa, { type Middleware } from 'koa'
import passport from 'passport'
import { HeaderAPIKeyStrategy } from 'passport-headerapikey'
import { MemoryStore } from '../adapters/memory/index.js'
import { RedisStore } from '../adapters/redis/index.js'
import * as portcullisExpress from '../src/express/index.js'
import { createPortcullis, type Portcullis } from '../src/index.js'
import * as portcullisKoa from '../src/koa/index.js'
import {
  BENCH_ORIGIN_HEADER,
  BENCH_ORIGINS,
  BENCH_PERMISSION,
  BENCH_RESOURCES,
  createBenchKeys,
  createToyKeys as createToyKeysOf,
  expressToyMiddleware,
  issueSessions as issueSessionsOf,
  koaToyMiddleware,
  type ToyRecord,
  warmSecretKeys,
} from './support/fixtures.js'
import {
  type BenchRedisClient,
  connectRedis,
  connectSubscriber,
  deleteByPrefix,
} from './support/redis.js'
import { grouped } from './support/stats.js'
import { sha256 } from './support/toy-hash.js'

/** How many distinct keys or sessions each credential-checking variant holds. */
export const CREDENTIAL_COUNT = Number(process.env.BENCH_CREDENTIALS ?? 10_000)

export type Framework = 'express' | 'koa'

/** What a started variant hands to the server process. */
export interface BuiltVariant {
  readonly listener: RequestListener
  /**
   * Runs once the server listens (the express-session variant logs its clients in over HTTP)
   * and returns the header values the load generator cycles through.
   */
  readonly credentials: (origin: string) => Promise<readonly string[]>
  readonly close: () => Promise<void>
}

export interface VariantContext {
  /** A prefix unique to this run and variant, for Redis keys. */
  readonly redisPrefix: string
}

export interface Variant {
  readonly id: string
  readonly framework: Framework
  readonly label: string
  /** The request header that carries the credential. */
  readonly header: 'authorization' | 'cookie'
  /** Headers sent unchanged with every request. */
  readonly extraHeaders?: Readonly<Record<string, string>>
  readonly build: (context: VariantContext) => Promise<BuiltVariant>
}

// ---------------------------------------------------------------------------------------------
// Shared pieces (the toy and the credentials are in support/fixtures.ts, shared with
// `npm run bench:instructions`)

export { BENCH_ORIGIN_HEADER, BENCH_ORIGINS, BENCH_PERMISSION }

const createToyKeys = () => createToyKeysOf(CREDENTIAL_COUNT)
const issueSessions = (gate: Portcullis) => issueSessionsOf(gate, CREDENTIAL_COUNT)

const bearer = (keys: readonly string[]) => keys.map((key) => `Bearer ${key}`)

const BARE_BODY = { projectId: 'proj_0', mode: 'test' }

function expressApp(): express.Express {
  const app = express()
  app.disable('x-powered-by')
  return app
}

function koaApp<State>(router: Router<State>): Koa<State> {
  const app = new Koa<State>()
  app.use(router.routes())
  return app
}

const nothingToClose = async () => {}

/**
 * A gate over a fresh MemoryStore, default options, holding 10,000 keys of `type` in 1,000
 * projects and both modes (see `createBenchKeys`).
 */
async function memoryGateWithKeys(
  type: 'secret' | 'publishable' | 'restricted',
  allowedOrigins?: readonly string[],
) {
  const gate = createPortcullis({
    store: new MemoryStore(),
    sessionSecret: randomBytes(32),
    resources: [...BENCH_RESOURCES],
  })
  const keys = await createBenchKeys(gate, type, CREDENTIAL_COUNT, allowedOrigins)
  return { gate, keys }
}

/**
 * The held-keys control: a toy app built by `toy`, in a process that also holds what a
 * `requireSecretKey` server holds, a gate over a MemoryStore with the same allowlisted secret
 * keys, each authenticated once (so its cache entry is filled), which then serves no request.
 * Beside the toy, it shows what holding those keys costs a request that never reads them.
 */
function withIdleGate(toy: Variant['build']): Variant['build'] {
  return async (context) => {
    const built = await toy(context)
    const { gate, keys } = await memoryGateWithKeys('secret')
    await warmSecretKeys(gate, keys)
    return {
      ...built,
      close: async () => {
        await built.close()
        await gate.close()
      },
    }
  }
}

/** A gate over a RedisStore on a node-redis client set up as the README says. */
async function redisGate(prefix: string) {
  const client = await connectRedis('bench store')
  const subscriber = await connectSubscriber(client, 'bench store')
  const store = new RedisStore({ client, subscriber, prefix })
  const gate = createPortcullis({ store, sessionSecret: randomBytes(32) })
  const close = async () => {
    await gate.close()
    await deleteByPrefix(client, prefix)
    await Promise.all([client.quit(), subscriber.quit()])
  }
  return { gate, close }
}

async function memoryGateWithSessions() {
  const gate = createPortcullis({ store: new MemoryStore(), sessionSecret: randomBytes(32) })
  return { gate, close: () => gate.close() }
}

// ---------------------------------------------------------------------------------------------
// Express 5

const expressBare: Variant['build'] = async () => {
  const { keys } = createToyKeys()
  const app = expressApp()
  app.get('/v1/ping', (_req, res) => {
    res.json(BARE_BODY)
  })
  return { listener: app, credentials: async () => bearer(keys), close: nothingToClose }
}

const expressNoop: Variant['build'] = async () => {
  const { keys } = createToyKeys()
  const app = expressApp()
  const noop: RequestHandler = (_req, _res, next) => next()
  app.get('/v1/ping', noop, (_req, res) => {
    res.json(BARE_BODY)
  })
  return { listener: app, credentials: async () => bearer(keys), close: nothingToClose }
}

const expressToy: Variant['build'] = async () => {
  const { keys, byHash } = createToyKeys()
  const app = expressApp()
  const toy = expressToyMiddleware(byHash)
  app.get('/v1/ping', toy, (_req, res) => {
    const { projectId, mode } = res.locals.auth as ToyRecord
    res.json({ projectId, mode })
  })
  return { listener: app, credentials: async () => bearer(keys), close: nothingToClose }
}

const expressPassport: Variant['build'] = async () => {
  const { keys, byHash } = createToyKeys()
  passport.use(
    new HeaderAPIKeyStrategy({ header: 'Authorization', prefix: 'Bearer ' }, false, (key, done) => {
      const record = byHash.get(sha256(key))
      done(null, record ?? false)
    }),
  )
  const app = expressApp()
  app.get('/v1/ping', passport.authenticate('headerapikey', { session: false }), (req, res) => {
    const { projectId, mode } = req.user as ToyRecord
    res.json({ projectId, mode })
  })
  return { listener: app, credentials: async () => bearer(keys), close: nothingToClose }
}

/**
 * express-session + connect-redis with rolling sessions, mounted app-wide as its users do. Each
 * of the 10,000 clients logs in once over HTTP to get its own session cookie.
 */
const expressSessionRedis: Variant['build'] = async ({ redisPrefix }) => {
  const client: BenchRedisClient = await connectRedis('connect-redis')
  const app = expressApp()
  app.use(
    session({
      store: new ConnectRedisStore({ client, prefix: redisPrefix }),
      secret: randomBytes(32).toString('base64url'),
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: 24 * 60 * 60 * 1000 },
    }),
  )
  app.get('/v1/ping', (req, res) => {
    const { userId } = req.session as unknown as { userId?: string }
    if (userId === undefined) {
      res.status(401).json({ error: 'unauthorized' })
      return
    }
    res.json({ userId, mode: 'test' })
  })
  app.post('/login/:user', (req, res) => {
    ;(req.session as unknown as { userId: string }).userId = String(req.params.user)
    res.status(204).end()
  })
  const credentials = async (origin: string) => {
    const cookies = new Array<string>(CREDENTIAL_COUNT)
    let next = 0
    const worker = async () => {
      while (next < CREDENTIAL_COUNT) {
        const i = next++
        const response = await fetch(`${origin}/login/user_${i}`, { method: 'POST' })
        const cookie = response.headers.get('set-cookie')?.split(';')[0]
        if (response.status !== 204 || cookie === undefined) {
          throw new Error(`login ${i} failed: ${response.status}`)
        }
        cookies[i] = cookie
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker))
    return cookies
  }
  const close = async () => {
    await deleteByPrefix(client, redisPrefix)
    await client.quit()
  }
  return { listener: app, credentials, close }
}

function expressPortcullis(
  guard: (gate: Portcullis) => RequestHandler,
  gateAndCredentials: () => Promise<{
    gate: Portcullis
    credentials: string[]
    close: () => Promise<void>
  }>,
): Variant['build'] {
  return async () => {
    const { gate, credentials, close } = await gateAndCredentials()
    const app = expressApp()
    app.get('/v1/ping', guard(gate), (req, res) => {
      const { projectId, mode, clientId } = portcullisExpress.getAuth(req)
      res.json(clientId === undefined ? { projectId, mode } : { clientId, mode })
    })
    return { listener: app, credentials: async () => bearer(credentials), close }
  }
}

// ---------------------------------------------------------------------------------------------
// Koa 3 (with @koa/router, as the README's Koa quick start)

const koaBare: Variant['build'] = async () => {
  const { keys } = createToyKeys()
  const router = new Router()
  router.get('/v1/ping', (ctx) => {
    ctx.body = BARE_BODY
  })
  return {
    listener: koaApp(router).callback(),
    credentials: async () => bearer(keys),
    close: nothingToClose,
  }
}

const koaNoop: Variant['build'] = async () => {
  const { keys } = createToyKeys()
  const router = new Router()
  const noop: Middleware = async (_ctx, next) => {
    await next()
  }
  router.get('/v1/ping', noop, (ctx) => {
    ctx.body = BARE_BODY
  })
  return {
    listener: koaApp(router).callback(),
    credentials: async () => bearer(keys),
    close: nothingToClose,
  }
}

const koaToy: Variant['build'] = async () => {
  const { keys, byHash } = createToyKeys()
  const router = new Router<{ toy: ToyRecord }>()
  router.get('/v1/ping', koaToyMiddleware(byHash), (ctx) => {
    const { projectId, mode } = ctx.state.toy
    ctx.body = { projectId, mode }
  })
  return {
    listener: koaApp(router).callback(),
    credentials: async () => bearer(keys),
    close: nothingToClose,
  }
}

function koaPortcullis(
  guard: (gate: Portcullis) => portcullisKoa.KoaMiddleware,
  gateAndCredentials: () => Promise<{
    gate: Portcullis
    credentials: string[]
    close: () => Promise<void>
  }>,
): Variant['build'] {
  return async () => {
    const { gate, credentials, close } = await gateAndCredentials()
    const router = new Router<portcullisKoa.PortcullisState>()
    router.get('/v1/ping', guard(gate), (ctx) => {
      const { projectId, mode, clientId } = ctx.state.auth
      ctx.body = clientId === undefined ? { projectId, mode } : { clientId, mode }
    })
    return {
      listener: koaApp(router).callback(),
      credentials: async () => bearer(credentials),
      close,
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Credentials for the portcullis variants

const secretKeys = async () => {
  const { gate, keys } = await memoryGateWithKeys('secret')
  return { gate, credentials: keys, close: () => gate.close() }
}
const originLimitedKeys = async () => {
  const { gate, keys } = await memoryGateWithKeys('publishable', BENCH_ORIGINS)
  return { gate, credentials: keys, close: () => gate.close() }
}
const restrictedKeys = async () => {
  const { gate, keys } = await memoryGateWithKeys('restricted')
  return { gate, credentials: keys, close: () => gate.close() }
}
const publishableKeys = async () => {
  const { gate, keys } = await memoryGateWithKeys('publishable')
  return { gate, credentials: keys, close: () => gate.close() }
}
const redisSessions = (prefix: string) => async () => {
  const { gate, close } = await redisGate(prefix)
  return { gate, credentials: await issueSessions(gate), close }
}
const memorySessions = async () => {
  const { gate, close } = await memoryGateWithSessions()
  return { gate, credentials: await issueSessions(gate), close }
}

/**
 * Every variant, in the order of the report. The `-toy-2` variants are the same app as `-toy` in
 * another process: how far two identical servers land apart in one run is the resolution of
 * every ratio in it.
 */
export const VARIANTS: readonly Variant[] = [
  {
    id: 'express-bare',
    framework: 'express',
    label: 'bare Express',
    header: 'authorization',
    build: expressBare,
  },
  {
    id: 'express-noop',
    framework: 'express',
    label: '+ no-op middleware',
    header: 'authorization',
    build: expressNoop,
  },
  {
    id: 'express-toy',
    framework: 'express',
    label: '+ SHA-256→Map (hand-written)',
    header: 'authorization',
    build: expressToy,
  },
  {
    id: 'express-toy-2',
    framework: 'express',
    label: '+ SHA-256→Map, a second process (A/A control)',
    header: 'authorization',
    build: expressToy,
  },
  {
    id: 'express-toy-keys',
    framework: 'express',
    label: `+ SHA-256→Map, beside an idle gate holding the ${grouped(CREDENTIAL_COUNT)} secret keys (held-keys control)`,
    header: 'authorization',
    build: withIdleGate(expressToy),
  },
  {
    id: 'express-passport',
    framework: 'express',
    label: '+ passport-headerapikey (SHA-256→Map)',
    header: 'authorization',
    build: expressPassport,
  },
  {
    id: 'express-session',
    framework: 'express',
    label: '+ express-session + connect-redis, rolling',
    header: 'cookie',
    build: expressSessionRedis,
  },
  {
    id: 'express-secret',
    framework: 'express',
    label: '+ portcullis requireSecretKey (MemoryStore, allowlist)',
    header: 'authorization',
    build: expressPortcullis(portcullisExpress.requireSecretKey, secretKeys),
  },
  {
    id: 'express-restricted',
    framework: 'express',
    label: `+ portcullis requireSecretKey { permission: '${BENCH_PERMISSION}' }, restricted keys`,
    header: 'authorization',
    build: expressPortcullis(
      (gate) => portcullisExpress.requireSecretKey(gate, { permission: BENCH_PERMISSION }),
      restrictedKeys,
    ),
  },
  {
    id: 'express-publishable',
    framework: 'express',
    label: '+ portcullis requirePublishableKey (MemoryStore)',
    header: 'authorization',
    build: expressPortcullis(portcullisExpress.requirePublishableKey, publishableKeys),
  },
  {
    id: 'express-publishable-origins',
    framework: 'express',
    label: '+ portcullis requirePublishableKey, keys limited to origins (Origin sent)',
    header: 'authorization',
    extraHeaders: BENCH_ORIGIN_HEADER,
    build: expressPortcullis(portcullisExpress.requirePublishableKey, originLimitedKeys),
  },
  {
    id: 'express-session-redis',
    framework: 'express',
    label: '+ portcullis requireSession (RedisStore)',
    header: 'authorization',
    build: (context) =>
      expressPortcullis(
        portcullisExpress.requireSession,
        redisSessions(context.redisPrefix),
      )(context),
  },
  {
    id: 'express-session-memory',
    framework: 'express',
    label: '+ portcullis requireSession (MemoryStore)',
    header: 'authorization',
    build: expressPortcullis(portcullisExpress.requireSession, memorySessions),
  },
  { id: 'koa-bare', framework: 'koa', label: 'bare Koa', header: 'authorization', build: koaBare },
  {
    id: 'koa-noop',
    framework: 'koa',
    label: '+ no-op middleware',
    header: 'authorization',
    build: koaNoop,
  },
  {
    id: 'koa-toy',
    framework: 'koa',
    label: '+ SHA-256→Map (hand-written)',
    header: 'authorization',
    build: koaToy,
  },
  {
    id: 'koa-toy-2',
    framework: 'koa',
    label: '+ SHA-256→Map, a second process (A/A control)',
    header: 'authorization',
    build: koaToy,
  },
  {
    id: 'koa-toy-keys',
    framework: 'koa',
    label: `+ SHA-256→Map, beside an idle gate holding the ${grouped(CREDENTIAL_COUNT)} secret keys (held-keys control)`,
    header: 'authorization',
    build: withIdleGate(koaToy),
  },
  {
    id: 'koa-secret',
    framework: 'koa',
    label: '+ portcullis requireSecretKey (MemoryStore, allowlist)',
    header: 'authorization',
    build: koaPortcullis(portcullisKoa.requireSecretKey, secretKeys),
  },
  {
    id: 'koa-restricted',
    framework: 'koa',
    label: `+ portcullis requireSecretKey { permission: '${BENCH_PERMISSION}' }, restricted keys`,
    header: 'authorization',
    build: koaPortcullis(
      (gate) => portcullisKoa.requireSecretKey(gate, { permission: BENCH_PERMISSION }),
      restrictedKeys,
    ),
  },
  {
    id: 'koa-publishable',
    framework: 'koa',
    label: '+ portcullis requirePublishableKey (MemoryStore)',
    header: 'authorization',
    build: koaPortcullis(portcullisKoa.requirePublishableKey, publishableKeys),
  },
  {
    id: 'koa-publishable-origins',
    framework: 'koa',
    label: '+ portcullis requirePublishableKey, keys limited to origins (Origin sent)',
    header: 'authorization',
    extraHeaders: BENCH_ORIGIN_HEADER,
    build: koaPortcullis(portcullisKoa.requirePublishableKey, originLimitedKeys),
  },
  {
    id: 'koa-session-redis',
    framework: 'koa',
    label: '+ portcullis requireSession (RedisStore)',
    header: 'authorization',
    build: (context) =>
      koaPortcullis(portcullisKoa.requireSession, redisSessions(context.redisPrefix))(context),
  },
  {
    id: 'koa-session-memory',
    framework: 'koa',
    label: '+ portcullis requireSession (MemoryStore)',
    header: 'authorization',
    build: koaPortcullis(portcullisKoa.requireSession, memorySessions),
  },
]

/**
 * The order in which a round visits the variants (rotated from round to round): each target's
 * pair sits side by side — a portcullis variant next to the baseline it is compared with — so
 * the two are measured moments apart.
 */
export const MEASUREMENT_ORDER: readonly string[] = [
  'express-bare',
  'express-noop',
  'express-session-redis',
  'express-session',
  'express-session-memory',
  'express-passport',
  'express-toy',
  'express-secret',
  'express-restricted',
  'express-publishable',
  'express-publishable-origins',
  'express-toy-2',
  'express-toy-keys',
  'koa-bare',
  'koa-noop',
  'koa-session-redis',
  'koa-session-memory',
  'koa-toy',
  'koa-secret',
  'koa-restricted',
  'koa-publishable',
  'koa-publishable-origins',
  'koa-toy-2',
  'koa-toy-keys',
]
