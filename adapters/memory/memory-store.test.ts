import { describe, expect, it } from 'vitest'
import { StoreCapacityError } from '../../src/index.js'
import {
  createManualClock,
  describeStoreConformance,
  makeKey,
  makeSession,
} from '../../src/testing/index.js'
import { MemoryStore } from './memory-store.js'

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS

describeStoreConformance({
  name: 'MemoryStore',
  describe,
  it,
  createStore: ({ clock }) => new MemoryStore({ clock: clock.now }),
  destroyStore: (store) => store.close(),
  capabilities: { prune: true, watch: true },
  dumpContents: (store) => JSON.stringify(store.entries()),
})

describe('MemoryStore bounds and sweeping', () => {
  it('refuses a key past maxKeys with StoreCapacityError, and accepts it once room is swept', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxKeys: 2, expiredKeyRetentionMs: DAY_MS })
    const expiring = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
    await store.insertKey(expiring)
    await store.insertKey(makeKey(clock.now()))
    const third = makeKey(clock.now())
    await expect(store.insertKey(third)).rejects.toBeInstanceOf(StoreCapacityError)
    expect(await store.findKeyByHash(third.hash)).toBeNull()

    clock.advance(HOUR_MS + DAY_MS)
    await store.insertKey(third)
    expect(await store.getKey(expiring.id)).toBeNull()
    expect((await store.findKeyByHash(third.hash))?.id).toBe(third.id)
    store.close()
  })

  it('keeps expired keys for the retention period so they answer "expired", then sweeps them', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({
      clock: clock.now,
      expiredKeyRetentionMs: DAY_MS,
      sweepIntervalMs: 0,
    })
    const key = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
    await store.insertKey(key)
    clock.advance(2 * HOUR_MS)
    expect(await store.sweep()).toBe(0)
    expect(await store.getKey(key.id)).not.toBeNull()
    clock.advance(DAY_MS)
    expect(await store.sweep()).toBe(1)
    expect(await store.findKeyByHash(key.hash)).toBeNull()
  })

  it('sweeps expired sessions and their client index', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    const session = makeSession(clock.now(), { idleTimeoutMs: HOUR_MS })
    await store.insertSession(session)
    clock.advance(HOUR_MS)
    expect(await store.sweep()).toBe(1)
    expect(store.size).toEqual({ keys: 0, sessions: 0 })
    expect(await store.listClientSessions(session)).toEqual([])
  })

  it('at maxSessions evicts the least recently touched session, not the newest', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxSessions: 3, sweepIntervalMs: 0 })
    const [a, b, c, d] = [0, 1, 2, 3].map(() => makeSession(clock.now())) as [
      ReturnType<typeof makeSession>,
      ReturnType<typeof makeSession>,
      ReturnType<typeof makeSession>,
      ReturnType<typeof makeSession>,
    ]
    await store.insertSession(a)
    await store.insertSession(b)
    await store.insertSession(c)
    clock.advance(1000)
    await store.touchSession(a.id, clock.now())
    await store.insertSession(d)
    expect(store.size.sessions).toBe(3)
    expect(await store.getSession(b.id)).toBeNull()
    for (const kept of [a, c, d]) expect(await store.getSession(kept.id)).not.toBeNull()
  })

  it('returns frozen snapshots', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const key = makeKey(Date.now(), { allowedIps: ['10.0.0.0/8'] })
    await store.insertKey(key)
    const found = await store.getKey(key.id)
    expect(Object.isFrozen(found)).toBe(true)
    expect(Object.isFrozen(found?.allowedIps)).toBe(true)
  })

  it('refuses nonsensical options', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(TypeError)
    expect(() => new MemoryStore({ maxSessions: -1 })).toThrow(TypeError)
    expect(() => new MemoryStore({ sweepIntervalMs: 1.5 })).toThrow(TypeError)
  })
})
