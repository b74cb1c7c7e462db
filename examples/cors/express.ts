import cors from 'cors'
import express from 'express'
import type { Portcullis } from 'portcullis'
import { getAuth, requirePublishableKey, requireSecretKey } from 'portcullis/express'

// Any web page may call /v1: which origins may use a publishable key is decided per key, by
// its allowedOrigins, once the key is read (a preflight carries no key). The CORS headers go
// on every answer, refusals included, so a page can read why it was refused. The key travels
// in Authorization and no cookie is involved, so the `*` exposes nothing: never add
// `credentials: true` to it.
export function createApp(gate: Portcullis) {
  const app = express()
  app.use(
    '/v1',
    cors({
      origin: '*',
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      exposedHeaders: ['WWW-Authenticate'],
      maxAge: 600,
    }),
  )
  // For web pages and apps: a publishable key, limited to the origins its owner listed.
  app.get('/v1/config', requirePublishableKey(gate), (req, res) => {
    const { projectId, livemode } = getAuth(req)
    res.json({ projectId, livemode })
  })
  // For servers: a secret key that a browser sent is refused (401 secret_key_from_browser).
  app.get('/v1/charges', requireSecretKey(gate), (req, res) => {
    res.json({ object: 'list', data: [], livemode: getAuth(req).livemode })
  })
  return app
}
