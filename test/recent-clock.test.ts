import { AsyncLocalStorage, createHook } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { RECENT_MS, RECENT_USES, recentNow } from '../src/core/recent-clock.js'
import { createPortcullis } from '../src/index.js'
import { bearer, overriding, spyOn } from './helpers.js'

/** Long enough for the recent clock's timer to have run: its next read is a fresh one. */
const lapse = () => sleep(3 * RECENT_MS)

afterEach(() => {
  vi.restoreAllMocks()
})

describe('recentNow', () => {
  it('reads the clock once, keeps it for the turn, and reads it again after RECENT_MS', async () => {
    await lapse()
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000)
    expect(recentNow()).toBe(1_000)
    now.mockReturnValue(2_000)
    // The same turn: the kept reading, without a call to Date.now.
    expect(recentNow()).toBe(1_000)
    expect(now).toHaveBeenCalledTimes(1)
    await lapse()
    expect(recentNow()).toBe(2_000)
    expect(now).toHaveBeenCalledTimes(2)
  })

  it('reads the clock again after RECENT_USES reads, though no timer could run', async () => {
    await lapse()
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000)
    expect(recentNow()).toBe(1_000)
    now.mockReturnValue(2_000)
    // A loop that settles in microtasks never lets the timer run: the count bounds it instead.
    for (let read = 1; read < RECENT_USES; read++) await Promise.resolve(recentNow())
    expect(recentNow()).toBe(2_000)
    expect(now).toHaveBeenCalledTimes(2)
  })

  it('makes its timer outside the request that first reads it', async () => {
    vi.resetModules()
    const storage = new AsyncLocalStorage<string>()
    const seen: (string | undefined)[] = []
    const real = globalThis.setTimeout
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
      seen.push(storage.getStore())
      return real(callback, ms)
    }) as typeof setTimeout)
    const fresh = await import('../src/core/recent-clock.js')
    storage.run('request 1', () => fresh.recentNow())
    expect(seen).toEqual([undefined])
  })

  it('re-arms its timer outside the request that reads it, after the timer has run', async () => {
    await lapse()
    recentNow()
    // The timer runs: the next read re-arms a Timeout that has run, which takes a new context.
    await lapse()
    const storage = new AsyncLocalStorage<string>()
    const seen: (string | undefined)[] = []
    let watching = false
    const hook = createHook({
      init(_id, type) {
        if (watching && type === 'Timeout') seen.push(storage.getStore())
      },
    }).enable()
    try {
      storage.run('request 2', () => {
        watching = true
        recentNow()
        watching = false
      })
    } finally {
      hook.disable()
    }
    expect(seen).toEqual([undefined])
  })

  it('makes a new timer when the count runs out first (a timer that never runs)', async () => {
    vi.resetModules()
    const made: { refresh: () => unknown; unref: () => unknown }[] = []
    vi.spyOn(globalThis, 'setTimeout').mockImplementation((() => {
      const timer = { refresh: () => timer, unref: () => timer }
      made.push(timer)
      return timer
    }) as unknown as typeof setTimeout)
    const cleared = vi.spyOn(globalThis, 'clearTimeout').mockImplementation(() => {})
    const fresh = await import('../src/core/recent-clock.js')
    const now = vi.spyOn(Date, 'now').mockReturnValue(1)
    expect(fresh.recentNow()).toBe(1)
    now.mockReturnValue(2)
    for (let read = 1; read < fresh.RECENT_USES; read++) expect(fresh.recentNow()).toBe(1)
    expect(fresh.recentNow()).toBe(2)
    expect(made).toHaveLength(2)
    expect(cleared).toHaveBeenCalledWith(made[0])
  })

  it('keeps nothing where timers cannot be re-armed in place', async () => {
    // A fresh copy of the module, whose first timer has no refresh() (not Node's Timeout).
    vi.resetModules()
    const made = { unref: () => made }
    vi.spyOn(globalThis, 'setTimeout').mockReturnValue(made as unknown as NodeJS.Timeout)
    const cleared = vi.spyOn(globalThis, 'clearTimeout').mockImplementation(() => {})
    const fresh = (await import(
      '../src/core/recent-clock.js'
    )) as typeof import('../src/core/recent-clock.js')
    const now = vi.spyOn(Date, 'now').mockReturnValue(5)
    expect(fresh.recentNow()).toBe(5)
    expect(cleared).toHaveBeenCalledWith(made)
    now.mockReturnValue(6)
    expect(fresh.recentNow()).toBe(6)
  })
})

describe('a gate on the default clock', () => {
  async function gateWithKey(expiresAt?: number) {
    const spied = spyOn(new MemoryStore({ sweepIntervalMs: 0 }))
    const gate = createPortcullis({
      store: spied.store,
      sessionSecret: randomBytes(32),
      cache: { ttlMs: 5_000 },
    })
    // The change feed starts (and empties the cache once) before the first request.
    await lapse()
    const { key, record } = await gate.keys.create({
      projectId: 'proj_clock',
      type: 'secret',
      mode: 'test',
      ...(expiresAt === undefined ? {} : { expiresAt }),
    })
    return { gate, key, record, calls: spied.calls }
  }

  it('refuses a key at its expiry to the millisecond, though the recent reading is older', async () => {
    const expiresAt = Date.now() + 60_000
    const { gate, key } = await gateWithKey(expiresAt)
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    // Still the same turn for the recent clock (no timer ran): only the gate's clock moved.
    vi.spyOn(Date, 'now').mockReturnValue(expiresAt)
    const result = await gate.authenticate(bearer(key), { credential: 'secret' })
    expect(result.ok).toBe(false)
    expect(!result.ok && result.error.code).toBe('api_key_expired')
    await gate.close()
  })

  it("trusts a cached key for the cache's ttl, then reads the store again", async () => {
    const { gate, key, calls } = await gateWithKey()
    const reads = () => calls.filter((call) => call === 'findKeyByHash').length
    const start = Date.now()
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect(reads()).toBe(1)
    const now = vi.spyOn(Date, 'now').mockReturnValue(start + 3_000)
    await lapse()
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect(reads()).toBe(1)
    now.mockReturnValue(start + 6_000)
    await lapse()
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect(reads()).toBe(2)
    await gate.close()
  })

  it('checks the ttl on the clock read then while the store has no change feed', async () => {
    // The store without watch(): the cache's ttl is then the only bound on others' changes.
    const spied = spyOn(overriding(new MemoryStore({ sweepIntervalMs: 0 }), { watch: undefined }))
    const gate = createPortcullis({
      store: spied.store,
      sessionSecret: randomBytes(32),
      cache: { ttlMs: 5_000 },
      onError: () => {},
    })
    const { key } = await gate.keys.create({
      projectId: 'proj_clock',
      type: 'secret',
      mode: 'test',
    })
    const reads = () => spied.calls.filter((call) => call === 'findKeyByHash').length
    const start = Date.now()
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect(reads()).toBe(1)
    // Within the kept reading's turn: only a fresh reading sees the ttl lapse.
    vi.spyOn(Date, 'now').mockReturnValue(start + 6_000)
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect(reads()).toBe(2)
    await gate.close()
  })

  it('records a use no later than the request, and at most a few milliseconds earlier', async () => {
    const { gate, key, record } = await gateWithKey()
    await lapse()
    const before = Date.now()
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    const after = Date.now()
    await gate.flush()
    const lastUsedAt = (await gate.keys.get(record.id))?.lastUsedAt as number
    expect(lastUsedAt).toBeGreaterThanOrEqual(before)
    expect(lastUsedAt).toBeLessThanOrEqual(after)
    await gate.close()
  })
})
