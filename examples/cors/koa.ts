import cors from '@koa/cors'
import Router from '@koa/router'
import Koa from 'koa'
import type { Portcullis } from 'portcullis'
import { type PortcullisState, requirePublishableKey, requireSecretKey } from 'portcullis/koa'

// Any web page may call the API: which origins may use a publishable key is decided per key,
// by its allowedOrigins, once the key is read (a preflight carries no key). The CORS headers
// go on every answer, refusals included, so a page can read why it was refused. The key
// travels in Authorization and no cookie is involved, so the `*` exposes nothing: never add
// `credentials: true` to it.
export function createApp(gate: Portcullis) {
  const router = new Router<PortcullisState>({ prefix: '/v1' })
  // For web pages and apps: a publishable key, limited to the origins its owner listed.
  router.get('/config', requirePublishableKey(gate), (ctx) => {
    const { projectId, livemode } = ctx.state.auth
    ctx.body = { projectId, livemode }
  })
  // For servers: a secret key that a browser sent is refused (401 secret_key_from_browser).
  router.get('/charges', requireSecretKey(gate), (ctx) => {
    ctx.body = { object: 'list', data: [], livemode: ctx.state.auth.livemode }
  })
  return new Koa<PortcullisState>()
    .use(
      cors({
        origin: '*',
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['Authorization', 'Content-Type'],
        exposeHeaders: ['WWW-Authenticate'],
        maxAge: 600,
      }),
    )
    .use(router.routes())
}
