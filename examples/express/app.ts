// A small platform API on Express 5, guarded by portcullis.
import express, { type NextFunction, type Request, type Response } from 'express'
import { isPortcullisError, type Portcullis } from 'portcullis'
import {
  getAuth,
  ipAllowlist,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from 'portcullis/express'
import { clientIdOf } from '../shared/demo.js'

export function createApp(gate: Portcullis) {
  const app = express()
  app.use(express.json())

  // Server to server: who am I?
  app.get('/v1/account', requireSecretKey(gate), (req, res) => {
    res.json(getAuth(req))
  })

  // Your backend creates a Client Session Token for one of its users...
  app.post('/v1/client-sessions', requireSecretKey(gate), async (req, res) => {
    const { token, session } = await gate.sessions.create(getAuth(req), {
      clientId: clientIdOf(req.body) ?? '',
    })
    res.status(201).json({
      clientId: session.clientId,
      clientSessionToken: token,
      expiresAt: session.expiresAt,
      maxExpiresAt: session.maxExpiresAt,
    })
  })

  // ...or a new one for a user who already has one.
  app.post('/v1/client-sessions/refresh', requireSecretKey(gate), async (req, res) => {
    const { token, session } = await gate.sessions.refresh(getAuth(req), {
      clientId: clientIdOf(req.body) ?? '',
    })
    res.json({
      clientId: session.clientId,
      clientSessionToken: token,
      expiresAt: session.expiresAt,
      maxExpiresAt: session.maxExpiresAt,
    })
  })

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

  // Operators only, from this machine.
  app.get('/v1/internal/stats', ipAllowlist(gate, ['127.0.0.1', '::1']), (_req, res) => {
    res.json({ ok: true, uptimeSeconds: Math.round(process.uptime()) })
  })

  // Errors thrown by gate.sessions.* (a missing clientId, an unknown client) in the envelope.
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!isPortcullisError(error)) return next(error)
    res.status(error.status).json(error.toJSON())
  })
  return app
}
