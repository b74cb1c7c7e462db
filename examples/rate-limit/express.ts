import express from 'express'
import { rateLimit } from 'express-rate-limit'
import type { Portcullis } from 'portcullis'
import { getAuth, requireSecretKey } from 'portcullis/express'

// One budget per API key, counted after the key was verified, and lower in test mode than
// in live mode (as Stripe's are). Test and live keys never share a counter.
export function createApp(gate: Portcullis) {
  const perKey = rateLimit({
    windowMs: 60_000,
    limit: (req) => (getAuth(req).livemode ? 100 : 25),
    keyGenerator: (req) => `${getAuth(req).mode}:${getAuth(req).keyId}`,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
  })
  const app = express()
  app.use('/v1', requireSecretKey(gate), perKey)
  app.get('/v1/charges', (req, res) => res.json({ livemode: getAuth(req).livemode }))
  return app
}
