// The core API in one file: provision a project, authenticate its secret key, issue a Client
// Session Token, use it, and watch it expire under an injected clock.
import { randomBytes } from 'node:crypto'
import { createPortcullis } from 'portcullis'
import { MemoryStore } from 'portcullis/adapters/memory'
import { createManualClock } from 'portcullis/testing'

const HOUR_MS = 60 * 60 * 1000

const clock = createManualClock() // pass nothing in production: Date.now is the default
const gate = createPortcullis({
  store: new MemoryStore({ clock: clock.now }),
  sessionSecret: randomBytes(32), // in production: a stable secret from your configuration
  clock: clock.now,
})

// 1. A project gets four keys: secret and publishable, in test and live mode.
const { test } = await gate.projects.provision('proj_demo')
console.log('test secret key:     ', test.secretKey.key)
console.log('test publishable key:', test.publishableKey.key)

// 2. A server request authenticates with the secret key.
const server = await gate.authenticate(
  { headers: { authorization: `Bearer ${test.secretKey.key}` }, remoteAddress: '127.0.0.1' },
  { credential: 'secret' },
)
if (!server.ok) throw server.error
console.log('secret key ->', server.auth)

// 3. The backend creates a Client Session Token for one of its users...
const { token, session } = await gate.sessions.create(server.auth, { clientId: 'user_42' })
console.log('CST for user_42, idle expiry', new Date(session.expiresAt).toISOString())

// 4. ...which the user's device sends on its own requests.
const asUser = { headers: { authorization: `Bearer ${token}` } }
const first = await gate.authenticate(asUser, { credential: 'session' })
console.log('session ->', first.ok ? first.auth : first.error.code)

// 5. Every use slides the 24 h idle window; 25 idle hours end it.
clock.advance(23 * HOUR_MS)
const later = await gate.authenticate(asUser, { credential: 'session' })
console.log('after 23 h idle ->', later.ok ? 'ok, expiry slid forward' : later.error.code)
clock.advance(25 * HOUR_MS)
const expired = await gate.authenticate(asUser, { credential: 'session' })
console.log('after 25 more idle hours ->', expired.ok ? 'ok' : expired.error.code)

await gate.close()
