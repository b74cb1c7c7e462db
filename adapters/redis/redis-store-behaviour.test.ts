import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StoreChange } from '../../src/index.js'
import {
  createManualClock,
  type ManualClock,
  makeKey,
  makeSession,
  randomHash,
  randomProjectId,
} from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import { READ_HASH, TOUCH_SESSION } from './lua-scripts.js'
import {
  type AdminClient,
  type Connections,
  connectAdmin,
  DRIVERS,
  deleteUnder,
  ioRedis5,
  keysUnder,
  randomPrefix,
} from './test-support/drivers.js'

const available = await serviceAvailable('redis')
const url = serviceUrls.redis

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS
const KEY_RETENTION_MS = 30 * DAY_MS
const SESSION_RETENTION_MS = DAY_MS

describe.skipIf(!available)('RedisStore in Redis', () => {
  const runPrefix = randomPrefix('portcullis-behaviour-test')
  let admin: AdminClient
  const opened: Connections[] = []
  let stores = 0

  beforeAll(async () => {
    admin = await connectAdmin(url)
  })
  afterAll(async () => {
    await Promise.all(opened.map((connections) => connections.close()))
    await deleteUnder(admin, runPrefix)
    await admin.close()
  })

  /** The server-side id of a connection, asked on it (before it enters pub/sub mode). */
  async function connectionId(connection: object): Promise<number> {
    const asNodeRedis = connection as { sendCommand?: (args: string[]) => Promise<unknown> }
    const asIoRedis = connection as { call?: (...args: string[]) => Promise<unknown> }
    // ioredis has a sendCommand of its own (taking a Command object): prefer its `call`.
    const id =
      typeof asIoRedis.call === 'function'
        ? await asIoRedis.call('CLIENT', 'ID')
        : await asNodeRedis.sendCommand?.(['CLIENT', 'ID'])
    return Number(id)
  }

  async function openStore(
    clock: ManualClock,
    options: { prefix?: string; driver?: (typeof DRIVERS)[number] } = {},
  ): Promise<RedisStore> {
    const connections = await (options.driver ?? DRIVERS[0])?.connect(url)
    if (connections === undefined) throw new Error('no driver')
    opened.push(connections)
    return new RedisStore({
      client: connections.client,
      subscriber: connections.subscriber,
      prefix: options.prefix ?? `${runPrefix}${++stores}:`,
      clock: clock.now,
    })
  }

  /** Remaining TTL in ms; -1 for a key without one, -2 for a missing key. */
  const ttlOf = (key: string) => admin.pTTL(key)

  describe('Lua scripts', () => {
    for (const driver of DRIVERS) {
      it(`${driver.name}: runs again after SCRIPT FLUSH (EVALSHA falls back to EVAL)`, async () => {
        const clock = createManualClock()
        const store = await openStore(clock, { driver })
        const session = makeSession(clock.now())
        await store.insertSession(session)
        await admin.scriptFlush()
        expect(await admin.scriptExists([TOUCH_SESSION.sha1, READ_HASH.sha1])).toEqual([0, 0])
        clock.advance(HOUR_MS)
        const touched = await store.touchSession(session.id, clock.now())
        expect(touched?.expiresAt).toBe(clock.now() + session.idleTimeoutMs)
        expect(await admin.scriptExists([TOUCH_SESSION.sha1])).toEqual([1])
      })
    }
  })

  describe('garbage-collection TTLs', () => {
    it('gives keys without an expiry no TTL, and others their expiry plus the retention', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const eternal = makeKey(clock.now())
      const expiring = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
      await store.insertKey(eternal)
      await store.insertKey(expiring)
      const prefix = store.prefix
      expect(await ttlOf(`${prefix}{keys}:key:${eternal.id}`)).toBe(-1)
      expect(await ttlOf(`${prefix}{keys}:hash:${eternal.hash}`)).toBe(-1)
      for (const key of [
        `${prefix}{keys}:key:${expiring.id}`,
        `${prefix}{keys}:hash:${expiring.hash}`,
      ]) {
        const ttl = await ttlOf(key)
        expect(ttl).toBeLessThanOrEqual(HOUR_MS + KEY_RETENTION_MS)
        expect(ttl).toBeGreaterThan(HOUR_MS + KEY_RETENTION_MS - 60_000)
      }
    })

    it('lowers a rolled key TTL to its grace period plus the retention', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const old = makeKey(clock.now())
      await store.insertKey(old)
      const replacement = makeKey(clock.now(), { projectId: old.projectId })
      await store.rollKey({ id: old.id, replacement, oldExpiresAt: clock.now() + HOUR_MS })
      const ttl = await ttlOf(`${store.prefix}{keys}:key:${old.id}`)
      expect(ttl).toBeGreaterThan(HOUR_MS + KEY_RETENTION_MS - 60_000)
      expect(ttl).toBeLessThanOrEqual(HOUR_MS + KEY_RETENTION_MS)
      // Set by the same script as the record's, read a moment later.
      const indexTtl = await ttlOf(`${store.prefix}{keys}:hash:${old.hash}`)
      expect(indexTtl).toBeLessThanOrEqual(ttl)
      expect(indexTtl).toBeGreaterThan(ttl - 1000)
      expect(await ttlOf(`${store.prefix}{keys}:key:${replacement.id}`)).toBe(-1)
    })

    it('keeps a session until its expiry plus the retention, and a touch moves that along', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const session = makeSession(clock.now())
      await store.insertSession(session)
      const key = `${store.prefix}session:{${session.id}}`
      const before = await ttlOf(key)
      expect(before).toBeGreaterThan(DAY_MS + SESSION_RETENTION_MS - 60_000)
      expect(before).toBeLessThanOrEqual(DAY_MS + SESSION_RETENTION_MS)
      // Five hours later by the clock: the TTL counts from the touch, so it is 24 h + retention again.
      clock.advance(5 * HOUR_MS)
      await store.touchSession(session.id, clock.now())
      const after = await ttlOf(key)
      expect(after).toBeGreaterThan(DAY_MS + SESSION_RETENTION_MS - 60_000)
      // The client index outlives the session's cap.
      const index = await ttlOf(
        `${store.prefix}client:{${session.projectId}:${session.mode}:${session.clientId}}`,
      )
      expect(index).toBeGreaterThan(7 * DAY_MS + SESSION_RETENTION_MS - 60_000)
    })

    it('never collects a record early when the clock runs ahead of the records', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const key = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
      const session = makeSession(clock.now())
      clock.advance(30 * DAY_MS)
      await store.insertKey(key)
      await store.insertSession(session)
      // Already expired by the clock: kept for the retention, so they answer "expired".
      expect(await ttlOf(`${store.prefix}{keys}:key:${key.id}`)).toBeGreaterThan(
        KEY_RETENTION_MS - 60_000,
      )
      expect(await ttlOf(`${store.prefix}session:{${session.id}}`)).toBeGreaterThan(
        SESSION_RETENTION_MS - 60_000,
      )
      expect((await store.getKey(key.id))?.id).toBe(key.id)
    })

    it('forgets collected sessions in client listings and revocations', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const kept = makeSession(clock.now())
      const collected = makeSession(clock.now(), { projectId: kept.projectId })
      await store.insertSession(kept)
      await store.insertSession(collected)
      // What the TTL would do once the retention is over.
      await admin.del(`${store.prefix}session:{${collected.id}}`)
      expect((await store.listClientSessions(kept)).map((session) => session.id)).toEqual([kept.id])
      expect(await store.revokeClientSessions(kept, clock.now())).toBe(1)
    })

    it('forgets collected keys in project listings', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const projectId = randomProjectId()
      const kept = makeKey(clock.now(), { projectId })
      const collected = makeKey(clock.now(), { projectId })
      await store.insertKey(kept)
      await store.insertKey(collected)
      await admin.del([
        `${store.prefix}{keys}:key:${collected.id}`,
        `${store.prefix}{keys}:hash:${collected.hash}`,
      ])
      expect((await store.listKeys(projectId)).map((key) => key.id)).toEqual([kept.id])
      expect(await admin.zRange(`${store.prefix}{keys}:project:${projectId}`, 0, -1)).toEqual([
        kept.id,
      ])
    })
  })

  describe('key prefix', () => {
    it('keeps every Redis key under the prefix, and stores with other prefixes apart', async () => {
      const clock = createManualClock()
      const a = await openStore(clock)
      const b = await openStore(clock)
      // Every id carries a marker, so a scan for it finds every Redis key the store wrote.
      const marker = randomBytes(8).toString('hex')
      const projectId = `proj_${marker}`
      const key = makeKey(clock.now(), {
        id: `key_${marker}`,
        projectId,
        hash: `${marker}${randomHash()}`,
      })
      const session = makeSession(clock.now(), {
        id: `cs_${marker}`,
        projectId,
        clientId: `user_${marker}`,
      })
      await a.insertKey(key)
      await a.insertSession(session)

      expect(await b.getKey(key.id)).toBeNull()
      expect(await b.findKeyByHash(key.hash)).toBeNull()
      expect(await b.listKeys(projectId)).toEqual([])
      expect(await b.getSession(session.id)).toBeNull()
      expect(await b.listClientSessions(session)).toEqual([])
      expect(await b.revokeClientSessions(session, clock.now())).toBe(0)
      // The same ids may exist under both prefixes without conflict.
      await b.insertKey(key)
      await b.insertSession(session)

      const written = await keysUnder(admin, `*${marker}`)
      // Per store: key record, hash index, project list, session, client index.
      expect(written).toHaveLength(10)
      for (const name of written) {
        expect([a.prefix, b.prefix].some((prefix) => name.startsWith(prefix))).toBe(true)
      }
    })

    it('announces changes only to stores with the same prefix', async () => {
      const clock = createManualClock()
      const a = await openStore(clock)
      const b = await openStore(clock)
      const heardByB: StoreChange[] = []
      let heardOwn: () => void = () => {}
      const bHeardItsOwn = new Promise<void>((resolve) => (heardOwn = resolve))
      const unwatch = await b.watch((change) => {
        heardByB.push(change)
        if (change.type === 'session') heardOwn()
      })
      const keyOfA = makeKey(clock.now())
      await a.insertKey(keyOfA)
      await a.deleteKey(keyOfA.id)
      // One subscriber connection receives messages in publish order: had B been told about
      // A's delete, it would have heard it before its own revocation.
      const sessionOfB = makeSession(clock.now())
      await b.insertSession(sessionOfB)
      await b.revokeSession(sessionOfB.id, clock.now())
      await bHeardItsOwn
      await unwatch()
      expect(heardByB).toEqual([{ type: 'session', sessionId: sessionOfB.id }])
    })
  })

  describe('watch()', () => {
    it('delivers to every listener, survives a throwing one, ignores foreign messages, and stops on unwatch', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const first: StoreChange[] = []
      const second: StoreChange[] = []
      let heard: () => void = () => {}
      const unwatchThrowing = await store.watch(() => {
        throw new Error('a broken listener')
      })
      const unwatchFirst = await store.watch((change) => first.push(change))
      const unwatchSecond = await store.watch((change) => {
        second.push(change)
        heard()
      })
      const next = () => new Promise<void>((resolve) => (heard = resolve))

      const channel = `${store.prefix}changes`
      await admin.publish(channel, 'not json')
      await admin.publish(channel, JSON.stringify({ type: 'key', keyId: 42 }))
      const session = makeSession(clock.now())
      await store.insertSession(session)
      let arrived = next()
      await store.revokeSession(session.id, clock.now())
      await arrived
      expect(first).toEqual([{ type: 'session', sessionId: session.id }])
      expect(second).toEqual(first)

      await unwatchFirst()
      await unwatchThrowing()
      const other = makeSession(clock.now())
      await store.insertSession(other)
      arrived = next()
      await store.revokeSession(other.id, clock.now())
      await arrived
      expect(first).toHaveLength(1)
      expect(second).toHaveLength(2)
      await unwatchSecond()
      await unwatchSecond()
    })

    it('lets stores share one ioredis subscriber: one unwatching leaves the other listening', async () => {
      const clock = createManualClock()
      const connections = await ioRedis5.connect(url)
      opened.push(connections)
      const prefix = `${runPrefix}${++stores}:`
      const open = () =>
        new RedisStore({ client: connections.client, subscriber: connections.subscriber, prefix })
      const [first, second] = [open(), open()]
      const heard: StoreChange[] = []
      let arrived: () => void = () => {}
      const unwatchFirst = await first.watch(() => {})
      const unwatchSecond = await second.watch((change) => {
        heard.push(change)
        arrived()
      })
      await unwatchFirst()
      const session = makeSession(clock.now())
      await first.insertSession(session)
      const heardIt = new Promise<void>((resolve) => (arrived = resolve))
      await first.revokeSession(session.id, clock.now())
      await heardIt
      expect(heard).toEqual([{ type: 'session', sessionId: session.id }])
      await unwatchSecond()
    })

    for (const driver of DRIVERS) {
      it(`announces a reset when the ${driver.name} subscriber reconnects, then changes again`, async () => {
        const clock = createManualClock()
        const connections = await driver.connect(url)
        opened.push(connections)
        const store = new RedisStore({
          client: connections.client,
          subscriber: connections.subscriber,
          prefix: `${runPrefix}${++stores}:`,
          clock: clock.now,
        })
        const subscriberId = await connectionId(connections.subscriber)
        const heard: StoreChange[] = []
        let wake: () => void = () => {}
        const unwatch = await store.watch((change) => {
          heard.push(change)
          wake()
        })
        const until = (done: () => boolean) =>
          new Promise<void>((resolve) => {
            wake = () => done() && resolve()
            wake()
          })
        // Drop exactly this store's subscriber connection.
        await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(subscriberId)])
        await until(() => heard.some((change) => change.type === 'reset'))
        // Resubscribed: a change made after the reset is heard.
        // The reconnected client may still be resubscribing: revoke one session after another
        // until one is heard.
        for (let attempt = 0; attempt < 50; attempt++) {
          const other = makeSession(clock.now())
          await store.insertSession(other)
          await store.revokeSession(other.id, clock.now())
          await new Promise((resolve) => setTimeout(resolve, 20))
          if (heard.some((change) => change.type === 'session')) break
        }
        expect(heard.some((change) => change.type === 'session')).toBe(true)
        expect(heard.filter((change) => change.type === 'reset')).toHaveLength(1)
        await unwatch()
      })
    }

    it('announces nothing for a write that changed nothing', async () => {
      const clock = createManualClock()
      const store = await openStore(clock)
      const heard: StoreChange[] = []
      let marker: () => void = () => {}
      const unwatch = await store.watch((change) => {
        heard.push(change)
        if (change.type === 'session') marker()
      })
      const session = makeSession(clock.now())
      await store.insertSession(session)
      await store.revokeSession(session.id, clock.now())
      const revoked = makeSession(clock.now(), { revokedAt: clock.now() })
      await store.insertSession(revoked)
      // None of these writes anything, so none is announced...
      await store.revokeSession(session.id, clock.now())
      await store.revokeSession('cs_missing', clock.now())
      expect(await store.revokeClientSessions(revoked, clock.now())).toBe(0)
      await store.updateKey('key_missing', { allowedIps: [] })
      await store.deleteKey('key_missing')
      // ...and a last real change, heard after them, closes the window.
      const last = makeSession(clock.now())
      await store.insertSession(last)
      const arrived = new Promise<void>((resolve) => {
        marker = () => heard.length >= 2 && resolve()
      })
      await store.revokeSession(last.id, clock.now())
      await arrived
      await unwatch()
      expect(heard).toEqual([
        { type: 'session', sessionId: session.id },
        { type: 'session', sessionId: last.id },
      ])
    })
  })
})
