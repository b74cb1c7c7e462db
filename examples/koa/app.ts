// The same platform API on Koa 3, guarded by portcullis.
import Router from '@koa/router'
import Koa from 'koa'
import { isPortcullisError, type Portcullis } from 'portcullis'
import {
  ipAllowlist,
  type PortcullisState,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from 'portcullis/koa'
import { clientIdOf } from '../shared/demo.js'

/** Parses a JSON body (the example avoids a body-parser dependency). */
async function jsonBody(ctx: Koa.Context): Promise<unknown> {
  let text = ''
  for await (const chunk of ctx.req) text += chunk
  try {
    return text === '' ? undefined : JSON.parse(text)
  } catch {
    return undefined
  }
}

export function createApp(gate: Portcullis) {
  const app = new Koa<PortcullisState>()
  const router = new Router<PortcullisState>()

  // Errors thrown by gate.sessions.* (a missing clientId, an unknown client) in the envelope.
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (error) {
      if (!isPortcullisError(error)) throw error
      ctx.status = error.status
      ctx.body = error.toJSON()
    }
  })

  router.get('/v1/account', requireSecretKey(gate), (ctx) => {
    ctx.body = ctx.state.auth
  })

  router.post('/v1/client-sessions', requireSecretKey(gate), async (ctx) => {
    const clientId = clientIdOf(await jsonBody(ctx)) ?? ''
    const { token, session } = await gate.sessions.create(ctx.state.auth, { clientId })
    ctx.status = 201
    ctx.body = {
      clientId,
      clientSessionToken: token,
      expiresAt: session.expiresAt,
      maxExpiresAt: session.maxExpiresAt,
    }
  })

  router.post('/v1/client-sessions/refresh', requireSecretKey(gate), async (ctx) => {
    const clientId = clientIdOf(await jsonBody(ctx)) ?? ''
    const { token, session } = await gate.sessions.refresh(ctx.state.auth, { clientId })
    ctx.body = {
      clientId,
      clientSessionToken: token,
      expiresAt: session.expiresAt,
      maxExpiresAt: session.maxExpiresAt,
    }
  })

  router.get('/v1/me', requireSession(gate), (ctx) => {
    const { clientId, mode, livemode } = ctx.state.auth
    ctx.body = { clientId, mode, livemode }
  })

  router.get('/v1/config', requirePublishableKey(gate), (ctx) => {
    const { projectId, mode, livemode } = ctx.state.auth
    ctx.body = { projectId, mode, livemode }
  })

  router.get('/v1/internal/stats', ipAllowlist(gate, ['127.0.0.1', '::1']), (ctx) => {
    ctx.body = { ok: true, uptimeSeconds: Math.round(process.uptime()) }
  })

  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}
