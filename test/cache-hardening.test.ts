import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { createKeyFormat } from '../src/core/key-format.js'
import { createPortcullis, type PortcullisStore, type StoredKey } from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import { bearer, makeGate, overriding } from './helpers.js'

const codeOf = (result: { ok: boolean; error?: { code: string } }) =>
  result.ok ? 'ok' : result.error?.code

describe('the key cache under a flood of junk keys', () => {
  it('never evicts a verified key for a miss: after 10 × maxEntries junk keys, warm traffic makes no store lookup', async () => {
    const maxEntries = 200
    const { gate, calls } = makeGate({ cache: { maxEntries, ttlMs: 60_000 } })
    const keys: string[] = []
    for (let i = 0; i < 20; i++) {
      const created = await gate.keys.create({
        projectId: `proj_${i}`,
        type: 'secret',
        mode: 'test',
      })
      keys.push(created.key)
    }
    for (const key of keys) {
      expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    }
    // Checksum-valid keys that match nothing: each costs a lookup and is remembered as a miss.
    const format = createKeyFormat()
    for (let i = 0; i < 10 * maxEntries; i++) {
      const junk = format.generate('secret', 'test')
      const result = await gate.authenticate(bearer(junk), { credential: 'secret' })
      expect(codeOf(result)).toBe('api_key_invalid')
    }
    calls.length = 0
    for (const key of keys) {
      expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    }
    expect(calls.filter((call) => call === 'findKeyByHash')).toEqual([])
  })

  it('still remembers misses, in a bounded cache of their own', async () => {
    const { gate, calls } = makeGate({ cache: { maxEntries: 1000, maxMisses: 2 } })
    const format = createKeyFormat()
    const junk = [0, 1, 2].map(() => format.generate('secret', 'live'))
    for (const key of junk) await gate.authenticate(bearer(key), { credential: 'secret' })
    calls.length = 0
    // The two most recent misses are remembered; the oldest was evicted from the miss cache.
    await gate.authenticate(bearer(junk[2] as string), { credential: 'secret' })
    await gate.authenticate(bearer(junk[1] as string), { credential: 'secret' })
    expect(calls).toEqual([])
    await gate.authenticate(bearer(junk[0] as string), { credential: 'secret' })
    expect(calls).toEqual(['findKeyByHash'])
  })

  it('refuses a maxMisses that is not a positive integer', () => {
    expect(() => makeGate({ cache: { maxMisses: 0 } })).toThrow(/maxMisses/)
  })
})

describe('the cached path admits only what the full path admits', () => {
  /** A store that answers a key's lookup with the record of another type or mode. */
  function lyingStore(lie: (key: StoredKey) => StoredKey): PortcullisStore {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    return overriding(store, {
      findKeyByHash: async (hash) => {
        const found = await store.findKeyByHash(hash)
        return found === null ? null : lie(found)
      },
    })
  }

  for (const [what, lie] of [
    ['a record of the other mode', (key: StoredKey) => ({ ...key, mode: 'live' as const })],
    ['a record of another type', (key: StoredKey) => ({ ...key, type: 'publishable' as const })],
  ] as const) {
    it(`refuses a test key whose stored record is ${what}, every time`, async () => {
      const gate = createPortcullis({ store: lyingStore(lie), sessionSecret: randomBytes(32) })
      const { key } = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
      for (const credential of ['secret', 'publishable'] as const) {
        for (let i = 0; i < 3; i++) {
          const result = await gate.authenticate(bearer(key), { credential })
          expect(result.ok, `${credential} attempt ${i}`).toBe(false)
        }
      }
      await gate.close()
    })
  }
})

describe('a roll forgets the old key on the rolling instance', () => {
  it('refuses the old key on the very next request when rolled without a grace period, even with no change feed', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    // No watch(): only the roll itself can tell this instance's cache.
    const deaf = overriding(store, { watch: undefined })
    const gate = createPortcullis({
      store: deaf,
      sessionSecret: randomBytes(32),
      clock: clock.now,
      cache: { ttlMs: 60_000 },
    })
    const { test } = await gate.projects.provision('proj_a')
    const old = test.secretKey.key
    expect((await gate.authenticate(bearer(old), { credential: 'secret' })).ok).toBe(true)
    const rolled = await gate.keys.roll(test.secretKey.record.id)
    expect(codeOf(await gate.authenticate(bearer(old), { credential: 'secret' }))).toBe(
      'api_key_expired',
    )
    expect((await gate.authenticate(bearer(rolled.key), { credential: 'secret' })).ok).toBe(true)
    await gate.close()
  })
})

describe('the change feed starting after keys were cached', () => {
  it('forgets what it cached before the feed was live: a change made meanwhile is not missed', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let subscribed: Promise<unknown> = Promise.resolve()
    // watch() resolves only once released, and hears nothing before that.
    const slowFeed = overriding(store, {
      watch: (listener) => {
        const opened = released.then(() => store.watch(listener))
        subscribed = opened
        return opened
      },
    })
    const gate = createPortcullis({
      store: slowFeed,
      sessionSecret: randomBytes(32),
      clock: clock.now,
    })
    const { test } = await gate.projects.provision('proj_a')
    const key = test.secretKey.key
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    // Deleted behind this gate's back (another instance), before its feed is live.
    await store.deleteKey(test.secretKey.record.id)
    release()
    await subscribed
    await new Promise((resolve) => setImmediate(resolve))
    const after = await gate.authenticate(bearer(key), { credential: 'secret' })
    expect(codeOf(after)).toBe('api_key_invalid')
    await gate.close()
  })
})
