/**
 * `new RedisStore({ client })` against a real Redis: the store opens its own subscriber with
 * `client.duplicate()`, hears other stores' changes through it, survives losing it, and closes
 * it with the gate, never the client.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPortcullis, isStoreUnavailableError, type StoreChange } from '../../src/index.js'
import { createManualClock, makeSession } from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import {
  type AdminClient,
  type ClientConnection,
  connectAdmin,
  DRIVERS,
  deleteUnder,
  randomPrefix,
} from './test-support/drivers.js'
import { findFreePort } from './test-support/redis-server.js'

const available = await serviceAvailable('redis')
const url = serviceUrls.redis

describe.skipIf(!available)('RedisStore opening its own subscriber', () => {
  const runPrefix = randomPrefix('portcullis-owned-test')
  let admin: AdminClient
  let stores = 0
  const opened: ClientConnection[] = []

  beforeAll(async () => {
    admin = await connectAdmin(url)
  })
  afterAll(async () => {
    await Promise.all(opened.map((connection) => connection.close()))
    await deleteUnder(admin, runPrefix)
    await admin.close()
  })

  /** Subscribers of a channel, as Redis counts them. */
  const subscribersOf = async (channel: string) => {
    const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number]
    return Number(reply[1])
  }

  /** Resolves with the first change `matches` accepts, or rejects after `withinMs`. */
  function nextChange(
    store: RedisStore,
    matches: (change: StoreChange) => boolean,
    withinMs = 2000,
  ): Promise<{ heard: Promise<StoreChange>; unwatch: () => Promise<void> }> {
    let resolve: (change: StoreChange) => void = () => {}
    const heard = new Promise<StoreChange>((done, fail) => {
      resolve = done
      setTimeout(() => fail(new Error(`no matching change within ${withinMs} ms`)), withinMs)
    })
    return store
      .watch((change) => {
        if (matches(change)) resolve(change)
      })
      .then((unwatch) => ({ heard, unwatch }))
  }

  for (const driver of DRIVERS) {
    it(`${driver.name}: hears another store's revocation, and the gate's close() closes only the connection the store opened`, async () => {
      const clock = createManualClock()
      const prefix = `${runPrefix}${++stores}:`
      const a = await driver.connectClient(url)
      const b = await driver.connectClient(url)
      opened.push(a, b)
      const storeA = new RedisStore({ client: a.client, prefix, clock: clock.now })
      const storeB = new RedisStore({ client: b.client, prefix, clock: clock.now })
      const channel = `${prefix}changes`
      expect(await subscribersOf(channel)).toBe(0)

      const warnings: unknown[] = []
      const gateB = createPortcullis({
        store: storeB,
        sessionSecret: randomBytes(32),
        onError: (error) => warnings.push(error),
      })
      const session = makeSession(clock.now())
      await storeA.insertSession(session)
      const { heard, unwatch } = await nextChange(
        storeB,
        (change) => change.type === 'session' && change.sessionId === session.id,
      )
      // One connection for the gate's watch and the test's: the store opens one per store.
      expect(await subscribersOf(channel)).toBe(1)
      await storeA.revokeSession(session.id, clock.now())
      expect(await heard).toEqual({ type: 'session', sessionId: session.id })
      await unwatch()
      expect(await subscribersOf(channel)).toBe(1)

      await gateB.close()
      expect(await subscribersOf(channel)).toBe(0)
      expect(warnings).toEqual([])
      // The client is the caller's: still open and working.
      expect(await storeB.getSession(session.id)).toMatchObject({ id: session.id })
    })

    it(`${driver.name}: announces a reset after its own subscriber was dropped, then delivers again`, async () => {
      const clock = createManualClock()
      const prefix = `${runPrefix}${++stores}:`
      const connectionName = `portcullis-owned-${randomBytes(6).toString('hex')}`
      const a = await driver.connectClient(url)
      const b = await driver.connectClient(url, { connectionName })
      opened.push(a, b)
      const storeA = new RedisStore({ client: a.client, prefix, clock: clock.now })
      const errors: unknown[] = []
      const storeB = new RedisStore({
        client: b.client,
        prefix,
        clock: clock.now,
        onError: (error) => errors.push(error),
      })
      const heard: StoreChange[] = []
      let wake = () => {}
      const unwatch = await storeB.watch((change) => {
        heard.push(change)
        wake()
      })
      const until = (done: () => boolean) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`not heard: ${JSON.stringify(heard)}`)),
            5000,
          )
          wake = () => {
            if (done()) {
              clearTimeout(timer)
              resolve()
            }
          }
          wake()
        })
      // The store's own connection inherited the client's name and is the one subscribed.
      const list = String(await admin.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']))
      const ids = list
        .split('\n')
        .filter((line) => line.includes(` name=${connectionName} `))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string)
      expect(ids).toHaveLength(1)
      await admin.sendCommand(['CLIENT', 'KILL', 'ID', ids[0] as string])
      await until(() => heard.some((change) => change.type === 'reset'))

      const session = makeSession(clock.now())
      await storeA.insertSession(session)
      await storeA.revokeSession(session.id, clock.now())
      await until(() => heard.some((change) => change.type === 'session'))
      await unwatch()
      await storeB.close()
    })
  }

  for (const driver of ['node-redis', 'ioredis']) {
    it(`${driver}: does not keep the process alive when the app forgets gate.close()`, async () => {
      const script = fileURLToPath(new URL('./test-support/forgotten-close.ts', import.meta.url))
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', script, driver, url, `${runPrefix}${++stores}:`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let output = ''
      child.stdout.on('data', (chunk) => {
        output += String(chunk)
      })
      child.stderr.on('data', (chunk) => {
        output += String(chunk)
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
      clearTimeout(timer)
      expect(output).toContain('subscribed')
      expect({ code, signal }, output).toEqual({ code: 0, signal: null })
    }, 20_000)
  }

  it('fails watch() promptly when Redis cannot be reached, and the gate warns once', async () => {
    const port = await findFreePort()
    for (const driver of DRIVERS) {
      const { client, close } = driver.unreachable(`redis://127.0.0.1:${port}`)
      try {
        const store = new RedisStore({ client, prefix: `${runPrefix}down:` })
        const started = performance.now()
        const failure = await store.watch(() => {}).catch((error: unknown) => error)
        expect(isStoreUnavailableError(failure), driver.name).toBe(true)
        expect(performance.now() - started, driver.name).toBeLessThan(2000)

        const warnings: unknown[] = []
        const gate = createPortcullis({
          store,
          sessionSecret: randomBytes(32),
          onError: (error) => warnings.push(error),
        })
        await new Promise((resolve) => setTimeout(resolve, 1500)) // one retry
        await gate.close()
        const codes = warnings.map((warning) => (warning as { code?: unknown }).code)
        expect(
          codes.filter((code) => code === 'PORTCULLIS_NO_CHANGE_FEED'),
          driver.name,
        ).toHaveLength(1)
        expect(codes[0], driver.name).toBe('PORTCULLIS_NO_CHANGE_FEED')
        // The gate tried again (and reported that failure too, but did not warn again).
        expect(warnings.length, driver.name).toBeGreaterThanOrEqual(2)
        await store.close()
      } finally {
        await close()
      }
    }
  }, 20_000)
})
