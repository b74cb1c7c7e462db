// A small platform API on Express 5, guarded by portcullis.
import express from 'express'
import { createOpenApiDocument, type Portcullis } from 'portcullis'
import {
  clientSessionRoutes,
  getAuth,
  ipAllowlist,
  keyManagementRoutes,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from 'portcullis/express'
import { isOperator, logEvent } from '../shared/demo.js'

export function createApp(gate: Portcullis) {
  const app = express()
  app.use(express.json())

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

  // Your dashboard's backend manages keys; who may is your decision (here: an admin token).
  app.use(
    '/v1/admin',
    keyManagementRoutes(gate, { authorize: (req) => isOperator(req.headers), onEvent: logEvent }),
  )
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(createOpenApiDocument(gate))
  })

  // Operators only, from this machine.
  app.get('/v1/internal/stats', ipAllowlist(gate, ['127.0.0.1', '::1']), (_req, res) => {
    res.json({ ok: true, uptimeSeconds: Math.round(process.uptime()) })
  })
  return app
}
