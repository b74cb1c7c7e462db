/**
 * The platform the browser suite drives: a gate on a SQL store (SQLite or PostgreSQL) with a
 * manual clock, and an Express 5 or Koa 3 app with its own cookie login, the API keys page at a
 * non-root path, and the API routes the keys are tried on.
 */
import { randomBytes } from 'node:crypto'
import type { RequestListener } from 'node:http'
import Router from '@koa/router'
import express from 'express'
import Koa from 'koa'
import { migrate, SqlStore } from '../../../adapters/sql/index.js'
import {
  createPostgresDatabase,
  createSqliteDatabase,
  type TestDatabase,
} from '../../../adapters/sql/test-support/databases.js'
import * as forExpress from '../../../src/express/index.js'
import { createPortcullis, type OperatorEvent, type Portcullis } from '../../../src/index.js'
import * as forKoa from '../../../src/koa/index.js'
import { createManualClock, type ManualClock } from '../../../src/testing/index.js'

/** Where the page is mounted: not the root, so relative URLs and the mount are tested. */
export const MOUNT = '/settings/api-keys'
/** The platform's own page, which embeds the element over the mounted page's API. */
export const EMBEDDED_PATH = '/account/developers'

/**
 * The platform's own page: its header, then `<portcullis-api-keys>` from the mount's assets,
 * under the platform's own strict CSP (nothing inline).
 */
const EMBEDDED_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Developers · Example platform</title>
<script type="module" src="${MOUNT}/assets/portcullis-api-keys.js"></script>
</head>
<body>
<header><p>Example platform</p></header>
<main>
<h1>Developers</h1>
<portcullis-api-keys api="${MOUNT}"></portcullis-api-keys>
</main>
</body>
</html>
`
const EMBEDDED_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'self'; object-src 'none'; base-uri 'none'",
}
export const SESSION_COOKIE = 'platform_session'
/** A fixed instant, so screenshots show the same dates on every run. */
export const START_MS = Date.UTC(2025, 5, 2, 9, 30)

export interface Platform {
  readonly gate: Portcullis
  readonly clock: ManualClock
  /** Signs a user in: the cookie value that makes `authorize` return `grant`. */
  signIn(grant: forExpress.ApiKeysPageGrant): string
  close(): Promise<void>
}

/** A gate on a fresh database of `dialect`, with reveal enabled and two resources. */
export async function createPlatformGate(dialect: 'sqlite' | 'postgres') {
  const database: TestDatabase =
    dialect === 'sqlite' ? createSqliteDatabase() : createPostgresDatabase()
  const connection = database.connect()
  await migrate(connection.db, { tablePrefix: database.prefix })
  const clock = createManualClock(START_MS)
  const store = new SqlStore(connection.db, {
    tablePrefix: database.prefix,
    clock: clock.now,
    sweepIntervalMs: 0,
  })
  const gate = createPortcullis({
    store,
    sessionSecret: randomBytes(32),
    revealKey: randomBytes(32),
    clock: clock.now,
    resources: ['charges', 'customers'],
  })
  return {
    gate,
    clock,
    async close() {
      await gate.close()
      await store.close()
      await database.drop()
    },
  }
}

/** The signed-in user's grant, from the session cookie (a real app would look up its session). */
function users() {
  const sessions = new Map<string, forExpress.ApiKeysPageGrant>()
  return {
    signIn(grant: forExpress.ApiKeysPageGrant) {
      const id = randomBytes(16).toString('hex')
      sessions.set(id, grant)
      return id
    },
    grantOf(cookie: unknown): forExpress.ApiKeysPageGrant | false {
      if (typeof cookie !== 'string') return false
      const id = /(?:^|;\s*)platform_session=([0-9a-f]+)/.exec(cookie)?.[1]
      return (id !== undefined && sessions.get(id)) || false
    },
  }
}

export type Framework = 'Express 5' | 'Koa 3'

/** The platform's app on `framework`. */
export function createPlatformApp(
  framework: Framework,
  gate: Portcullis,
): { handler: RequestListener; signIn: Platform['signIn']; auditLog: readonly string[] } {
  const people = users()
  const auditLog: string[] = []
  const onEvent = (event: OperatorEvent) => {
    auditLog.push(JSON.stringify(event))
  }
  if (framework === 'Express 5') {
    const app = express()
    app.use(
      MOUNT,
      forExpress.apiKeysPage(gate, {
        authorize: (req) => people.grantOf(req.headers.cookie),
        onEvent,
      }),
    )
    app.get(EMBEDDED_PATH, (_req, res) => {
      res.set(EMBEDDED_HEADERS).send(EMBEDDED_HTML)
    })
    app.get('/v1/account', forExpress.requireSecretKey(gate), (req, res) => {
      res.json(forExpress.getAuth(req))
    })
    app.get('/v1/config', forExpress.requirePublishableKey(gate), (req, res) => {
      res.json(forExpress.getAuth(req))
    })
    app.get('/v1/me', forExpress.requireSession(gate), (req, res) => {
      res.json(forExpress.getAuth(req))
    })
    return { handler: app, signIn: people.signIn, auditLog }
  }
  const app = new Koa<forKoa.PortcullisState>()
  const router = new Router<forKoa.PortcullisState>()
  // @koa/router's own mount: router.use(path, middleware).
  router.use(
    MOUNT,
    forKoa.apiKeysPage(gate, {
      authorize: (ctx) => people.grantOf(ctx.request.headers.cookie),
      onEvent,
    }),
  )
  router.get(EMBEDDED_PATH, (ctx) => {
    ctx.set(EMBEDDED_HEADERS)
    ctx.body = EMBEDDED_HTML
  })
  router.get('/v1/account', forKoa.requireSecretKey(gate), (ctx) => {
    ctx.body = ctx.state.auth
  })
  router.get('/v1/config', forKoa.requirePublishableKey(gate), (ctx) => {
    ctx.body = ctx.state.auth
  })
  router.get('/v1/me', forKoa.requireSession(gate), (ctx) => {
    ctx.body = ctx.state.auth
  })
  app.use(router.routes())
  return { handler: app.callback(), signIn: people.signIn, auditLog }
}
