import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { requireSecretKey } from '../src/express/index.js'
import {
  type AuthContext,
  createPortcullis,
  type PortcullisOptions,
  type PortcullisStore,
} from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import { bearer, faultyStore, HOUR_MS, makeGate, overriding, refused, spyOn } from './helpers.js'

const TTL_MS = 5000

/** Two app instances sharing one store, on one manual clock. */
function twoInstances({
  watch,
  ...options
}: { watch?: boolean } & Partial<PortcullisOptions> = {}) {
  const clock = createManualClock()
  const shared = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
  // Without watch() an instance only learns of other instances' changes when its entries age out.
  const store = watch === false ? overriding(shared, { watch: undefined }) : shared
  const sessionSecret = randomBytes(32)
  const make = () =>
    createPortcullis({
      store,
      sessionSecret,
      clock: clock.now,
      cache: { ttlMs: TTL_MS },
      ...options,
    })
  return { a: make(), b: make(), clock, shared }
}

/**
 * A gate on a manual clock over a MemoryStore (optionally wrapped), counting the store's
 * `findKeyByHash` calls: how often a key was read from the store rather than the cache.
 */
function countingGate(
  options: Partial<PortcullisOptions> = {},
  wrap: (store: PortcullisStore) => PortcullisStore = (store) => store,
) {
  const clock = createManualClock()
  const spied = spyOn(wrap(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })))
  const gate = createPortcullis({
    store: spied.store,
    sessionSecret: randomBytes(32),
    clock: clock.now,
    ...options,
  })
  const lookups = () => spied.calls.filter((call) => call === 'findKeyByHash').length
  return { gate, clock, lookups }
}

async function ok(
  gate: ReturnType<typeof createPortcullis>,
  credential: string,
  kind: 'secret' | 'session',
) {
  return gate.authenticate(bearer(credential), { credential: kind })
}

async function code(
  gate: ReturnType<typeof createPortcullis>,
  credential: string,
  kind: 'secret' | 'session',
) {
  const result = await ok(gate, credential, kind)
  return result.ok ? 'ok' : result.error.code
}

describe('the in-process cache across instances, with watch()', () => {
  it('stops serving a rolled, deleted or re-allowlisted key the moment another instance changes it', async () => {
    const { a, b } = twoInstances()
    const { test } = await a.projects.provision('proj_a')
    const extra = await a.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'live' })
    const fenced = await a.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'live' })
    for (const key of [test.secretKey.key, extra.key, fenced.key])
      expect(await code(b, key, 'secret')).toBe('ok')

    await a.keys.roll(test.secretKey.record.id)
    await a.keys.delete(extra.record.id)
    await a.keys.setAllowedIps(fenced.record.id, ['198.51.100.0/24'])
    expect(await code(b, test.secretKey.key, 'secret')).toBe('api_key_expired')
    expect(await code(b, extra.key, 'secret')).toBe('api_key_invalid')
    expect(await code(b, fenced.key, 'secret')).toBe('ip_not_allowed')
  })

  it('stops serving a revoked session or client the moment another instance revokes it', async () => {
    const { a, b } = twoInstances()
    const { live } = await a.projects.provision('proj_a')
    const auth = await a.authenticate(bearer(live.secretKey.key), { credential: 'secret' })
    if (!auth.ok) throw auth.error
    const one = await a.sessions.create(auth.auth, { clientId: 'u1' })
    const two = await a.sessions.create(auth.auth, { clientId: 'u2' })
    expect(await code(b, one.token, 'session')).toBe('ok')
    expect(await code(b, two.token, 'session')).toBe('ok')
    await a.sessions.revoke(one.session.id)
    await a.sessions.revokeClient(auth.auth, 'u2')
    expect(await code(b, one.token, 'session')).toBe('session_revoked')
    expect(await code(b, two.token, 'session')).toBe('session_revoked')
  })
})

describe('the in-process cache without watch(): bounded by ttlMs', () => {
  it('serves another instance’s deleted key for less than ttlMs, never at ttlMs', async () => {
    const { a, b, clock } = twoInstances({ watch: false })
    const { test } = await a.projects.provision('proj_a')
    expect(await code(b, test.secretKey.key, 'secret')).toBe('ok')
    await a.keys.delete(test.secretKey.record.id)
    clock.advance(TTL_MS - 1)
    expect(await code(b, test.secretKey.key, 'secret')).toBe('ok')
    clock.advance(1)
    expect(await code(b, test.secretKey.key, 'secret')).toBe('api_key_invalid')
  })

  it('serves another instance’s revoked session for less than ttlMs, never at ttlMs', async () => {
    const { a, b, clock } = twoInstances({ watch: false })
    const { test } = await a.projects.provision('proj_a')
    const auth = await a.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    if (!auth.ok) throw auth.error
    const { token, session } = await a.sessions.create(auth.auth, { clientId: 'u1' })
    expect(await code(b, token, 'session')).toBe('ok')
    await a.sessions.revoke(session.id)
    clock.advance(TTL_MS - 1)
    expect(await code(b, token, 'session')).toBe('ok')
    clock.advance(1)
    expect(await code(b, token, 'session')).toBe('session_revoked')
    // The instance that revoked it never served it again.
    expect(await code(a, token, 'session')).toBe('session_revoked')
  })
})

describe('renewing cached keys', () => {
  /** Express's calling convention, without Express: whether the decision was synchronous. */
  function expressCall(middleware: ReturnType<typeof requireSecretKey>, key: string) {
    const req = {
      headers: { authorization: `Bearer ${key}` },
      socket: { remoteAddress: '127.0.0.1' },
    } as Parameters<typeof middleware>[0] & { auth?: AuthContext }
    let status = 200
    const res = {
      status: (code: number) => {
        status = code
      },
      setHeader: () => {},
      json: () => {},
    }
    let passed = false
    const returned = middleware(req, res, () => {
      passed = true
    })
    const outcome = async () => {
      await returned
      return { passed, status, auth: req.auth }
    }
    return { returned, outcome }
  }

  it('re-reads a key in steady use in the background, in the last quarter of its ttl: no request waits', async () => {
    const { gate, clock, lookups } = countingGate({ cache: { ttlMs: 4000 } })
    const guard = requireSecretKey(gate)
    const { test } = await gate.projects.provision('proj_a')
    const start = clock.now()
    const first = expressCall(guard, test.secretKey.key)
    expect(first.returned).toBeInstanceOf(Promise) // the first request reads the store
    expect((await first.outcome()).passed).toBe(true)
    expect(lookups()).toBe(1)
    for (const at of [1000, 2999]) {
      clock.set(start + at)
      expect(expressCall(guard, test.secretKey.key).returned).toBeUndefined()
    }
    expect(lookups()).toBe(1)
    // From 3/4 of the ttl: decided from the cache at once, with one re-read started behind it.
    for (const at of [3000, 3100, 3999]) {
      clock.set(start + at)
      const call = expressCall(guard, test.secretKey.key)
      expect(call.returned).toBeUndefined()
      expect((await call.outcome()).passed).toBe(true)
    }
    expect(lookups()).toBe(2)
    // Renewed from the read at 3000: trusted until 7000, re-read again from 6000.
    for (const at of [4000, 5999]) {
      clock.set(start + at)
      expect(expressCall(guard, test.secretKey.key).returned).toBeUndefined()
    }
    expect(lookups()).toBe(2)
    clock.set(start + 6000)
    expect(expressCall(guard, test.secretKey.key).returned).toBeUndefined()
    await Promise.resolve()
    expect(lookups()).toBe(3)
    await gate.close()
  })

  it('re-reads ahead the same way when the header takes the full path (scheme spelled "bearer")', async () => {
    const { gate, clock, lookups } = countingGate({ cache: { ttlMs: 4000 } })
    const { test } = await gate.projects.provision('proj_a')
    const unusual = { headers: { authorization: `bearer ${test.secretKey.key}` } }
    const start = clock.now()
    const decide = async (at: number) => {
      clock.set(start + at)
      const result = await gate.authenticate(unusual, { credential: 'secret' })
      expect(result.ok).toBe(true)
    }
    await decide(0)
    await decide(2999)
    expect(lookups()).toBe(1)
    await decide(3000) // decided from the cache; the re-read starts behind it
    await decide(3999)
    expect(lookups()).toBe(2)
    await decide(5999) // renewed from the read at 3000: trusted until 7000
    expect(lookups()).toBe(2)
    await gate.close()
  })

  it('renews an unchanged key in place, even after its lastUsedAt was written: the same auth', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    const gate = createPortcullis({
      store,
      sessionSecret: randomBytes(32),
      clock: clock.now,
      cache: { ttlMs: TTL_MS },
      usageFlushIntervalMs: 1000,
    })
    const { test } = await gate.projects.provision('proj_a')
    const id = test.secretKey.record.id
    const first = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    if (!first.ok) throw first.error
    const stored = await store.getKey(id)
    clock.advance(1500) // past the flush interval: this use starts a batch write
    await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    await gate.flush()
    const written = await store.getKey(id)
    expect(written?.lastUsedAt).toBe(clock.now())
    expect(written).not.toBe(stored)
    clock.advance(TTL_MS) // unused meanwhile: lapsed, read again on the next request
    const later = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    if (!later.ok) throw later.error
    expect(later.auth).toBe(first.auth)
    await gate.close()
  })

  it('picks up another instance’s change at the background re-read, before the ttl', async () => {
    const { a, b, clock } = twoInstances({ watch: false })
    const { test } = await a.projects.provision('proj_a')
    const { key, record } = test.secretKey
    expect(await code(b, key, 'secret')).toBe('ok')
    await a.keys.update(record.id, { allowedIps: ['198.51.100.1'] }) // not this test's address
    clock.advance(TTL_MS * 0.8)
    expect(await code(b, key, 'secret')).toBe('ok') // served from B's entry; the re-read starts
    await new Promise((resolve) => setImmediate(resolve))
    expect(await code(b, key, 'secret')).toBe('ip_not_allowed')
    await a.keys.delete(record.id)
    clock.advance(TTL_MS * 0.8)
    expect(await code(b, key, 'secret')).toBe('ip_not_allowed')
    await new Promise((resolve) => setImmediate(resolve))
    expect(await code(b, key, 'secret')).toBe('api_key_invalid')
  })

  it('reports a failed background re-read once, does not retry it, and lapses at the ttl with 503', async () => {
    let down = false
    const clock = createManualClock()
    const spied = spyOn(faultyStore(refused, () => down))
    const errors: unknown[] = []
    const gate = createPortcullis({
      store: spied.store,
      sessionSecret: randomBytes(32),
      clock: clock.now,
      cache: { ttlMs: TTL_MS },
      onError: (error) => errors.push(error),
    })
    const { test } = await gate.projects.provision('proj_a')
    const lookups = () => spied.calls.filter((call) => call === 'findKeyByHash').length
    const start = clock.now()
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('ok')
    down = true
    for (const at of [TTL_MS * 0.8, TTL_MS * 0.9, TTL_MS - 1]) {
      clock.set(start + at)
      expect(await code(gate, test.secretKey.key, 'secret')).toBe('ok')
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(lookups()).toBe(2)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'store_unavailable' })
    clock.set(start + TTL_MS)
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('store_unavailable')
    down = false
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('ok')
    await gate.close()
  })

  it('decides a read that a change overtook on its own answer, caches none of it, and keeps its use', async () => {
    let held: (() => void) | undefined
    const { gate, clock, lookups } = countingGate({ cache: { ttlMs: TTL_MS } }, (store) => {
      const find = store.findKeyByHash.bind(store)
      return overriding(store, {
        // Each read waits until the test lets it answer.
        findKeyByHash: async (hash) => {
          await new Promise<void>((resolve) => {
            held = resolve
          })
          return find(hash)
        },
      })
    })
    const { test } = await gate.projects.provision('proj_race')
    const { key, record } = test.secretKey
    const pending = code(gate, key, 'secret')
    await new Promise((resolve) => setImmediate(resolve))
    expect(held).toBeDefined()
    // Another key of the project changes while the read is in flight.
    await gate.keys.update(test.publishableKey.record.id, { name: 'renamed' })
    held?.()
    expect(await pending).toBe('ok')
    expect(lookups()).toBe(1)
    // Nothing was cached: the next request reads the store again.
    const again = code(gate, key, 'secret')
    await new Promise((resolve) => setImmediate(resolve))
    held?.()
    expect(await again).toBe('ok')
    expect(lookups()).toBe(2)
    // Both uses count, the first made on a slot of its own that is gone by now.
    expect((await gate.keys.get(record.id))?.lastUsedAt).toBe(clock.now())
    await gate.close()
  })

  it('hands gate.authenticate() callers a plain { ok, auth }, and a binding the same auth', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_plain')
    const key = test.secretKey.key
    const first = await gate.authenticate(bearer(key), { credential: 'secret' })
    const second = await gate.authenticate(bearer(key), { credential: 'secret' })
    for (const result of [first, second]) {
      expect(Object.getPrototypeOf(result)).toBe(Object.prototype)
      expect(Object.keys(result)).toEqual(['ok', 'auth'])
    }
    if (!first.ok || !second.ok) throw new Error('refused')
    expect(second.auth).toBe(first.auth)
    const { passed, auth } = await expressCall(requireSecretKey(gate), key).outcome()
    expect(passed).toBe(true)
    expect(auth).toBe(first.auth)
  })
})

describe('the in-process cache and the store', () => {
  it('finds a key once per ttlMs and an unknown key once per negativeTtlMs', async () => {
    const { gate, clock, lookups } = countingGate({ cache: { ttlMs: TTL_MS, negativeTtlMs: 1000 } })
    const { test } = await gate.projects.provision('proj_a')
    const stranger = createPortcullis({
      store: new MemoryStore({ sweepIntervalMs: 0 }),
      sessionSecret: randomBytes(32),
    })
    const unknown = (await stranger.projects.provision('proj_z')).test.secretKey.key
    for (let i = 0; i < 20; i++) {
      await ok(gate, test.secretKey.key, 'secret')
      await ok(gate, unknown, 'secret')
    }
    expect(lookups()).toBe(2)
    clock.advance(1000)
    await ok(gate, unknown, 'secret')
    await ok(gate, test.secretKey.key, 'secret')
    expect(lookups()).toBe(3)
    clock.advance(TTL_MS - 1000)
    await ok(gate, test.secretKey.key, 'secret')
    expect(lookups()).toBe(4)
  })

  it('re-reads a key in steady use after 3/4 of its ttl: 30 s with a subscribed change feed, 5 s without', async () => {
    /** When a key used every 500 ms is first read again, over `wrap(store)`. */
    const rereadAfter = async (wrap: (store: PortcullisStore) => PortcullisStore) => {
      const { gate, clock, lookups } = countingGate({}, wrap)
      const { test } = await gate.projects.provision('proj_ttl')
      await ok(gate, test.secretKey.key, 'secret')
      const first = lookups()
      let waited = 0
      while (lookups() === first && waited < 120_000) {
        clock.advance(500)
        waited += 500
        await ok(gate, test.secretKey.key, 'secret')
      }
      await gate.close()
      return waited
    }
    // 3/4 of 30 s; 3/4 of 5 s is 3,750 ms, first reached at the 500 ms step of 4,000.
    expect(await rereadAfter((store) => store)).toBe(22_500)
    expect(await rereadAfter((store) => overriding(store, { watch: undefined }))).toBe(4000)
    // A store whose watch() fails keeps the short bound.
    const failing = () => Promise.reject(new Error('no subscription'))
    expect(await rereadAfter((store) => overriding(store, { watch: failing }))).toBe(4000)
  })

  it('writes a session touch at most once per touchIntervalMs and keeps the idle expiry within it', async () => {
    const clock = createManualClock()
    const spied = spyOn(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }))
    const gate = createPortcullis({
      store: spied.store,
      sessionSecret: randomBytes(32),
      clock: clock.now,
      idleTimeoutMs: HOUR_MS,
      touchIntervalMs: 60_000,
      cache: { ttlMs: TTL_MS },
    })
    const { test } = await gate.projects.provision('proj_a')
    const auth = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    if (!auth.ok) throw auth.error
    const { token } = await gate.sessions.create(auth.auth, { clientId: 'u1' })
    const count = (name: string) => spied.calls.filter((call) => call === name).length
    // 100 requests over 50 s: one touch, and one re-read per ttlMs in between.
    for (let i = 0; i < 100; i++) {
      expect(await code(gate, token, 'session')).toBe('ok')
      clock.advance(500)
    }
    expect(count('touchSession')).toBe(1)
    expect(count('getSession')).toBe(Math.floor((100 * 500 - 1) / TTL_MS))
    clock.advance(10_000)
    expect(await code(gate, token, 'session')).toBe('ok')
    expect(count('touchSession')).toBe(2)
    // Last use now; the stored idle expiry is at most touchIntervalMs behind it.
    const lastUse = clock.now()
    clock.advance(HOUR_MS - 1)
    expect(await code(gate, token, 'session')).toBe('ok')
    clock.set(lastUse + 2 * HOUR_MS)
    expect(await code(gate, token, 'session')).toBe('session_expired')
  })

  it('never caches store_unavailable: the first request after the store returns succeeds', async () => {
    let down = false
    const clock = createManualClock()
    const store = faultyStore(refused, () => down)
    const gate = createPortcullis({ store, sessionSecret: randomBytes(32), clock: clock.now })
    const { test } = await gate.projects.provision('proj_a')
    const auth = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    if (!auth.ok) throw auth.error
    const { token } = await gate.sessions.create(auth.auth, { clientId: 'u1' })
    const fresh = (await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'live' }))
      .key
    expect(await code(gate, token, 'session')).toBe('ok')
    down = true
    expect(await code(gate, fresh, 'secret')).toBe('store_unavailable')
    expect(await code(gate, token, 'session')).toBe('ok') // verified and touched just now: cached
    down = false
    expect(await code(gate, fresh, 'secret')).toBe('ok')
  })

  it('keeps a cached credential through an outage for less than ttlMs, then answers 503', async () => {
    let down = false
    const clock = createManualClock()
    const gate = createPortcullis({
      store: faultyStore(refused, () => down),
      sessionSecret: randomBytes(32),
      clock: clock.now,
      cache: { ttlMs: TTL_MS },
    })
    const { test } = await gate.projects.provision('proj_a')
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('ok')
    down = true
    clock.advance(TTL_MS - 1)
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('ok')
    clock.advance(1)
    expect(await code(gate, test.secretKey.key, 'secret')).toBe('store_unavailable')
  })

  it('with cache: false, asks the store on every request', async () => {
    const spied = spyOn(new MemoryStore({ sweepIntervalMs: 0 }))
    const gate = createPortcullis({
      store: spied.store,
      sessionSecret: randomBytes(32),
      cache: false,
    })
    const { test } = await gate.projects.provision('proj_a')
    for (let i = 0; i < 5; i++) await ok(gate, test.secretKey.key, 'secret')
    expect(spied.calls.filter((call) => call === 'findKeyByHash')).toHaveLength(5)
    expect(spied.calls).not.toContain('watch')
  })
})

describe('the cached hot path', () => {
  it('admits a cached key only for exactly that key: near misses take the full path', async () => {
    const { gate, calls } = makeGate()
    const { test } = await gate.projects.provision('proj_hot')
    const key = test.secretKey.key
    expect(await code(gate, key, 'secret')).toBe('ok')
    calls.length = 0
    // Other spellings of the same header are still read by the full parser, then cached.
    for (const header of [`bearer ${key}`, `Bearer   ${key}`, ` Bearer ${key} `]) {
      const result = await gate.authenticate(
        { headers: { authorization: header }, remoteAddress: '203.0.113.7' },
        { credential: 'secret' },
      )
      expect(result.ok).toBe(true)
    }
    const near = [
      `${key}x`,
      key.slice(0, -1),
      `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`,
    ]
    for (const wrong of near) expect(await code(gate, wrong, 'secret')).toBe('api_key_invalid')
    expect(await code(gate, test.publishableKey.key, 'secret')).toBe('wrong_key_type')
    // The other spellings found the cached entry; every near miss was refused by its shape or
    // checksum: nothing reached the store.
    expect(calls).toEqual([])
  })

  it('checks a cached key’s allowlist against each request’s own address', async () => {
    const { gate } = makeGate()
    const { key } = await gate.keys.create({
      projectId: 'proj_hot',
      type: 'secret',
      mode: 'test',
      allowedIps: ['10.0.0.0/8'],
    })
    const from = async (remoteAddress: string | undefined) => {
      const result = await gate.authenticate(
        { headers: { authorization: `Bearer ${key}` }, remoteAddress },
        { credential: 'secret' },
      )
      return result.ok ? 'ok' : result.error.code
    }
    for (let round = 0; round < 3; round++) {
      expect(await from('10.1.2.3')).toBe('ok')
      expect(await from('192.0.2.1')).toBe('ip_not_allowed')
      expect(await from('::ffff:10.9.9.9')).toBe('ok')
      expect(await from(undefined)).toBe('ip_not_allowed')
      expect(await from('10.1.2.3')).toBe('ok')
    }
  })

  it('follows X-Forwarded-For on every request when proxies are trusted, never from memory', async () => {
    const { gate } = makeGate({ trustedProxies: ['loopback'] })
    const { key } = await gate.keys.create({
      projectId: 'proj_hot',
      type: 'secret',
      mode: 'test',
      allowedIps: ['10.0.0.0/8'],
    })
    const via = async (forwardedFor: string) => {
      const result = await gate.authenticate(
        {
          headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': forwardedFor },
          remoteAddress: '127.0.0.1',
        },
        { credential: 'secret' },
      )
      return result.ok ? 'ok' : result.error.code
    }
    for (let round = 0; round < 3; round++) {
      expect(await via('10.1.2.3')).toBe('ok')
      expect(await via('192.0.2.1')).toBe('ip_not_allowed')
      expect(await via('192.0.2.1, 10.1.2.3')).toBe('ok')
      expect(await via('10.1.2.3, 192.0.2.1')).toBe('ip_not_allowed')
    }
  })

  it('records the newest use of a cached key in each flush', async () => {
    const { gate, clock } = makeGate({ usageFlushIntervalMs: 60_000 })
    const { test } = await gate.projects.provision('proj_hot')
    const key = test.secretKey.key
    const id = test.secretKey.record.id
    const lastUsed = async () => (await gate.keys.get(id))?.lastUsedAt
    const start = clock.now()
    expect(await code(gate, key, 'secret')).toBe('ok')
    clock.advance(1000)
    expect(await code(gate, key, 'secret')).toBe('ok')
    // Pending uses are shown at once, before they are written.
    expect(await lastUsed()).toBe(start + 1000)
    await gate.flush()
    expect(await lastUsed()).toBe(start + 1000)
    clock.advance(1000)
    expect(await code(gate, key, 'secret')).toBe('ok')
    await gate.flush()
    expect(await lastUsed()).toBe(start + 2000)
  })

  it('keeps lastUsedAt exact over two weeks of uptime, through every lapse and re-read', async () => {
    const { gate, clock } = makeGate({ usageFlushIntervalMs: 60_000 })
    const { test } = await gate.projects.provision('proj_uptime')
    const key = test.secretKey.key
    const id = test.secretKey.record.id
    const start = clock.now()
    expect(await code(gate, key, 'secret')).toBe('ok')
    // One request every 10 minutes for 15 days: each finds its entry lapsed and reads the key
    // again, while its use goes on being noted on the cached entry.
    for (let step = 0; step < 15 * 24 * 6; step++) {
      clock.advance(10 * 60_000)
      expect(await code(gate, key, 'secret')).toBe('ok')
    }
    clock.advance(3)
    expect(await code(gate, key, 'secret')).toBe('ok')
    await gate.flush()
    expect((await gate.keys.get(id))?.lastUsedAt).toBe(start + 15 * 24 * 3_600_000 + 3)
  })
})
