// A small platform API on Express 5, guarded by portcullis.
import express, { type NextFunction, type Request, type Response } from 'express'
import { createOpenApiDocument, type Portcullis } from 'portcullis'
import {
  apiKeysPage,
  clientSessionRoutes,
  getAuth,
  ipAllowlist,
  keyManagementRoutes,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from 'portcullis/express'
import {
  createDashboard,
  DASHBOARD_PATH,
  type DashboardAnswer,
  readForm,
  SIGN_IN_PATH,
} from '../shared/dashboard.js'
import { DEMO_PROJECT, isOperator, isOperatorToken, logEvent } from '../shared/demo.js'

function send(res: Response, answer: DashboardAnswer): void {
  res.status(answer.status).set(answer.headers).send(answer.body)
}

export function createApp(gate: Portcullis) {
  const app = express()
  // No express.json(): the portcullis routers read their own bodies, and answer a malformed one
  // with a 400 in the API's error envelope.

  // Server to server: who am I?
  app.get('/v1/account', requireSecretKey(gate), (req, res) => {
    res.json(getAuth(req))
  })

  // Your customers' backends create, refresh and revoke Client Session Tokens for their users.
  app.use('/v1', clientSessionRoutes(gate, { onEvent: logEvent }))

  // The user's device calls with its token; each call slides the 24 h idle expiry.
  app.get('/v1/me', requireSession(gate), (req, res) => {
    const { clientId, mode, livemode } = getAuth(req)
    res.json({ clientId, mode, livemode })
  })

  // A web page identifies the project with its publishable key.
  app.get('/v1/config', requirePublishableKey(gate), (req, res) => {
    const { projectId, mode, livemode } = getAuth(req)
    res.json({ projectId, mode, livemode })
  })

  // Your dashboard's backend manages keys; who may is your decision (here: an admin token,
  // checked fail-closed). A customer-facing dashboard would compare target.projectId with the
  // signed-in customer's project in authorize(request, target).
  app.use(
    '/v1/admin',
    keyManagementRoutes(gate, { authorize: (req) => isOperator(req.headers), onEvent: logEvent }),
  )
  // The API keys page your customers would use, here for the demo project, behind the same
  // admin token: signed in once through a form, then an HttpOnly, SameSite=Strict cookie.
  const dashboard = createDashboard({ projectId: DEMO_PROJECT, isOperatorToken })
  app.get(SIGN_IN_PATH, (_req, res) => send(res, dashboard.signInForm()))
  app.post(SIGN_IN_PATH, async (req, res) => {
    send(res, dashboard.signIn(req.headers, await readForm(req), req.secure))
  })
  app.get(DASHBOARD_PATH, (req, res, next) => {
    const away = dashboard.signedOut(req.headers.cookie)
    if (away === null) next()
    else send(res, away)
  })
  app.use(
    DASHBOARD_PATH,
    apiKeysPage(gate, {
      authorize: (req) => dashboard.grantOf(req.headers.cookie),
      onEvent: logEvent,
    }),
  )

  app.get('/v1/openapi.json', (_req, res) => {
    res.json(createOpenApiDocument(gate))
  })

  // Operators only, from this machine.
  app.get('/v1/internal/stats', ipAllowlist(gate, ['127.0.0.1', '::1']), (_req, res) => {
    res.json({ ok: true, uptimeSeconds: Math.round(process.uptime()) })
  })

  // Last: anything unexpected gets the envelope without details (Express's default handler
  // would send an HTML stack trace, with pieces of the request in it, outside production).
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    console.error('unexpected error:', error instanceof Error ? error.name : typeof error)
    res.status(500).json({ error: { type: 'api_error', message: 'Internal error.' } })
  })
  return app
}
