import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type AuthenticateRequest,
  createPortcullis,
  type Portcullis,
  type StoreChange,
  StoreUnavailableError,
  toHttpError,
} from '../../src/index.js'
import { randomProjectId } from '../../src/testing/index.js'
import { serviceAvailable } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import { DRIVERS, randomPrefix } from './test-support/drivers.js'
import {
  findFreePort,
  RedisServerProcess,
  redisBinariesAvailable,
} from './test-support/redis-server.js'

const available = (await serviceAvailable('redis')) && redisBinariesAvailable()

/** RedisStore's own deadline in these tests; the gate's storeTimeoutMs stays at its default. */
const COMMAND_TIMEOUT_MS = 500
/** How long a refusal may take while Redis is down or frozen: the deadline plus slack. */
const REFUSED_WITHIN_MS = COMMAND_TIMEOUT_MS + 500

const bearer = (credential: string): AuthenticateRequest => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress: '203.0.113.7',
})

/** Retries `check` until it holds (a reconnect is a real-time event, unlike expiry). */
async function eventually(what: string, check: () => Promise<boolean>, withinMs = 10_000) {
  const started = performance.now()
  while (!(await check())) {
    if (performance.now() - started > withinMs) throw new Error(`${what} within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return performance.now() - started
}

/** Authenticates while Redis is unwell; expects a 503 within `withinMs`. */
async function expectRefused(
  gate: Portcullis,
  request: AuthenticateRequest,
  withinMs = REFUSED_WITHIN_MS,
): Promise<void> {
  const started = performance.now()
  const result = await gate.authenticate(request, { credential: 'secret' })
  const took = performance.now() - started
  expect(result.ok).toBe(false)
  if (result.ok) return
  expect(result.error.code).toBe('store_unavailable')
  expect(toHttpError(result.error).status).toBe(503)
  expect(took).toBeLessThan(withinMs)
}

describe.skipIf(!available)('RedisStore when Redis goes down, freezes and comes back', () => {
  let server: RedisServerProcess
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled)
    server = new RedisServerProcess(await findFreePort(), { persistent: true })
    await server.start()
  })
  afterAll(async () => {
    await server?.dispose()
    process.off('unhandledRejection', onUnhandled)
  })
  beforeEach(() => {
    unhandled.length = 0
  })
  afterEach(() => {
    expect(unhandled, 'unhandled rejections').toEqual([])
  })

  for (const driver of DRIVERS) {
    it(`${driver.name}: 503 within ${REFUSED_WITHIN_MS} ms during the outage, service resumes with the same app and clients`, async () => {
      const { client, subscriber, close } = await driver.connect(server.url)
      const store = new RedisStore({
        client,
        subscriber,
        prefix: randomPrefix(),
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
      })
      // No in-process cache: every request must reach Redis, so each one shows the outage.
      const gate = createPortcullis({ store, sessionSecret: randomBytes(32), cache: false })
      const heard: StoreChange[] = []
      const unwatch = await store.watch((change) => heard.push(change))
      try {
        const { test } = await gate.projects.provision(randomProjectId())
        const request = bearer(test.secretKey.key)
        expect((await gate.authenticate(request, { credential: 'secret' })).ok).toBe(true)

        // Frozen: the server accepts connections but never answers (a stalled or overloaded Redis).
        server.pause(true)
        try {
          await expectRefused(gate, request)
          await expect(store.getKey(test.secretKey.record.id)).rejects.toBeInstanceOf(
            StoreUnavailableError,
          )
        } finally {
          server.pause(false)
        }
        await eventually('thawed Redis answers again', async () => {
          return (await gate.authenticate(request, { credential: 'secret' })).ok
        })

        // Down: the process is killed. Once the client has seen the connection drop, it refuses
        // at once (no offline queue) instead of holding requests until the deadline.
        await server.stop()
        await expectRefused(gate, request)
        for (let attempt = 0; attempt < 4; attempt++) {
          await expectRefused(gate, request, COMMAND_TIMEOUT_MS / 2)
        }
        await expect(gate.keys.list(test.secretKey.record.projectId)).rejects.toMatchObject({
          code: 'store_unavailable',
        })

        // Back on the same port: the same gate and clients serve again, the data intact.
        await server.start()
        const recoveredMs = await eventually('service resumes after the restart', async () => {
          return (await gate.authenticate(request, { credential: 'secret' })).ok
        })
        console.log(`${driver.name}: serving again ${Math.round(recoveredMs)} ms after restart`)

        // The subscriber resubscribed by itself: a change made now reaches the watcher.
        await eventually('the watcher hears changes again', async () => {
          await gate.keys.setAllowedIps(test.secretKey.record.id, ['203.0.113.0/24'])
          return heard.some((change) => change.type === 'key')
        })
      } finally {
        await unwatch()
        await gate.close()
        await close()
      }
    })
  }
})
