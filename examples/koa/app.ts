// The same platform API on Koa 3, guarded by portcullis.
import Router from '@koa/router'
import Koa from 'koa'
import { createOpenApiDocument, type Portcullis } from 'portcullis'
import {
  apiKeysPage,
  clientSessionRoutes,
  ipAllowlist,
  keyManagementRoutes,
  type PortcullisState,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from 'portcullis/koa'
import {
  createDashboard,
  DASHBOARD_PATH,
  type DashboardAnswer,
  readForm,
  SIGN_IN_PATH,
} from '../shared/dashboard.js'
import { DEMO_PROJECT, isOperator, isOperatorToken, logEvent } from '../shared/demo.js'

function send(ctx: Koa.Context, answer: DashboardAnswer): void {
  ctx.status = answer.status
  ctx.set({ ...answer.headers })
  ctx.body = answer.body
}

export function createApp(gate: Portcullis) {
  const app = new Koa<PortcullisState>()
  const router = new Router<PortcullisState>()

  // Server to server: who am I?
  router.get('/v1/account', requireSecretKey(gate), (ctx) => {
    ctx.body = ctx.state.auth
  })

  // The user's device calls with its token; each call slides the 24 h idle expiry.
  router.get('/v1/me', requireSession(gate), (ctx) => {
    const { clientId, mode, livemode } = ctx.state.auth
    ctx.body = { clientId, mode, livemode }
  })

  // A web page identifies the project with its publishable key.
  router.get('/v1/config', requirePublishableKey(gate), (ctx) => {
    const { projectId, mode, livemode } = ctx.state.auth
    ctx.body = { projectId, mode, livemode }
  })

  // The API keys page your customers would use, here for the demo project, behind the same
  // admin token: signed in once through a form, then an HttpOnly, SameSite=Strict cookie.
  const dashboard = createDashboard({ projectId: DEMO_PROJECT, isOperatorToken })
  router.get(SIGN_IN_PATH, (ctx) => send(ctx, dashboard.signInForm()))
  router.post(SIGN_IN_PATH, async (ctx) => {
    send(ctx, dashboard.signIn(ctx.request.headers, await readForm(ctx.req), ctx.secure))
  })
  router.get(DASHBOARD_PATH, async (ctx, next) => {
    const away = dashboard.signedOut(ctx.request.headers.cookie)
    if (away === null) await next()
    else send(ctx, away)
  })
  router.use(
    DASHBOARD_PATH,
    apiKeysPage(gate, {
      authorize: (ctx) => dashboard.grantOf(ctx.request.headers.cookie),
      onEvent: logEvent,
    }),
  )

  router.get('/v1/openapi.json', (ctx) => {
    ctx.body = createOpenApiDocument(gate)
  })

  // Operators only, from this machine.
  router.get('/v1/internal/stats', ipAllowlist(gate, ['127.0.0.1', '::1']), (ctx) => {
    ctx.body = { ok: true, uptimeSeconds: Math.round(process.uptime()) }
  })

  // Your customers' backends create, refresh and revoke Client Session Tokens for their users.
  app.use(clientSessionRoutes(gate, { prefix: '/v1', onEvent: logEvent }))
  // Your dashboard's backend manages keys; who may is your decision (here: an admin token,
  // checked fail-closed). A customer-facing dashboard would compare target.projectId with the
  // signed-in customer's project in authorize(request, target).
  app.use(
    keyManagementRoutes(gate, {
      prefix: '/v1/admin',
      authorize: (ctx) => isOperator(ctx.request.headers),
      onEvent: logEvent,
    }),
  )
  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}
