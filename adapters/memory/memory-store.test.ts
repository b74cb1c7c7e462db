import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  type AuthContext,
  createPortcullis,
  type Mode,
  StoreCapacityError,
  type StoredSession,
} from '../../src/index.js'
import {
  createManualClock,
  describeStoreConformance,
  makeKey,
  makeSession,
} from '../../src/testing/index.js'
import { bearer } from '../../test/helpers.js'
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

/** Frozen, and an object at all (`Object.isFrozen` says true of undefined and primitives). */
const frozenObject = (value: unknown) =>
  typeof value === 'object' && value !== null && Object.isFrozen(value)

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
    // One project and mode: eviction never reaches across tenants (see the tests below).
    const projectId = 'proj_lru'
    const [a, b, c, d] = [0, 1, 2, 3].map(() => makeSession(clock.now(), { projectId })) as [
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

  it('flooding one project and mode leaves the live sessions of every other tenant in place', async () => {
    const clock = createManualClock()
    const maxSessions = 50
    const store = new MemoryStore({ clock: clock.now, maxSessions, sweepIntervalMs: 0 })
    const flooder = { projectId: 'proj_flood', mode: 'test' as Mode }
    const victims: StoredSession[] = []
    const scopes = [
      { projectId: 'proj_a', mode: 'test' as Mode },
      { projectId: 'proj_a', mode: 'live' as Mode },
      { projectId: 'proj_b', mode: 'live' as Mode },
      // The flooder's own project, in the other mode.
      { projectId: 'proj_flood', mode: 'live' as Mode },
    ]
    for (const scope of scopes) {
      for (let i = 0; i < 5; i++) {
        const session = makeSession(clock.now(), { ...scope, clientId: `victim_${i}` })
        await store.insertSession(session)
        victims.push(session)
      }
    }
    for (let i = 0; i < 10 * maxSessions; i++) {
      clock.advance(1)
      await store.insertSession(makeSession(clock.now(), { ...flooder, clientId: `flood_${i}` }))
    }
    expect(store.size.sessions).toBe(maxSessions)
    for (const victim of victims) {
      const touched = await store.touchSession(victim.id, clock.now())
      expect(touched?.id).toBe(victim.id)
      expect(touched?.revokedAt).toBeNull()
      expect(touched?.expiresAt).toBeGreaterThan(clock.now())
    }
  })

  it('through a gate, a flood of CSTs from one key leaves the tokens of other tenants authenticating', async () => {
    const clock = createManualClock()
    const maxSessions = 50
    const store = new MemoryStore({ clock: clock.now, maxSessions, sweepIntervalMs: 0 })
    const gate = createPortcullis({ store, sessionSecret: randomBytes(32), clock: clock.now })
    const authOf = async (key: string): Promise<AuthContext> => {
      const result = await gate.authenticate(bearer(key), { credential: 'secret' })
      if (!result.ok) throw new Error(`secret key refused: ${result.error.code}`)
      return result.auth
    }
    const a = await gate.projects.provision('proj_a')
    const b = await gate.projects.provision('proj_b')
    const flood = await gate.projects.provision('proj_flood')
    const victimAuths = [
      await authOf(a.test.secretKey.key),
      await authOf(a.live.secretKey.key),
      await authOf(b.test.secretKey.key),
      // The flooding project in the other mode.
      await authOf(flood.live.secretKey.key),
    ]
    const tokens: string[] = []
    for (const auth of victimAuths) {
      for (let i = 0; i < 3; i++) {
        tokens.push((await gate.sessions.create(auth, { clientId: `user_${i}` })).token)
      }
    }
    const flooding = await authOf(flood.test.secretKey.key)
    for (let i = 0; i < 10 * maxSessions; i++) {
      clock.advance(1)
      await gate.sessions.create(flooding, { clientId: `bot_${i}` })
    }
    expect(store.size.sessions).toBe(maxSessions)
    for (const token of tokens) {
      const result = await gate.authenticate(bearer(token), { credential: 'session' })
      expect(result.ok ? 'ok' : result.error.code).toBe('ok')
    }
    await gate.close()
  })

  it('within the flooding project and mode, its least recently touched sessions go first', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxSessions: 5, sweepIntervalMs: 0 })
    const others = [makeSession(clock.now()), makeSession(clock.now(), { mode: 'live' })]
    for (const session of others) await store.insertSession(session)
    const own = (n: number) =>
      makeSession(clock.now(), { projectId: 'proj_flood', clientId: `bot_${n}` })
    const [f1, f2, f3, f4, f5] = [1, 2, 3, 4, 5].map(own) as [
      StoredSession,
      StoredSession,
      StoredSession,
      StoredSession,
      StoredSession,
    ]
    await store.insertSession(f1)
    await store.insertSession(f2)
    await store.insertSession(f3)
    clock.advance(1000)
    await store.touchSession(f1.id, clock.now())
    await store.insertSession(f4)
    await store.insertSession(f5)
    const held = store
      .entries()
      .sessions.map((session) => session.id)
      .sort()
    expect(held).toEqual([...others, f1, f4, f5].map((session) => session.id).sort())
  })

  it('at maxSessions drops an expired session of another tenant before evicting a live own one', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxSessions: 3, sweepIntervalMs: 0 })
    const expiring = makeSession(clock.now(), { idleTimeoutMs: HOUR_MS })
    const other = makeSession(clock.now())
    const own = makeSession(clock.now(), { projectId: 'proj_own' })
    for (const session of [expiring, other, own]) await store.insertSession(session)
    clock.advance(HOUR_MS)
    const next = makeSession(clock.now(), { projectId: 'proj_own' })
    await store.insertSession(next)
    expect(await store.getSession(expiring.id)).toBeNull()
    for (const kept of [other, own, next]) expect(await store.getSession(kept.id)).not.toBeNull()
  })

  it('refuses a project and mode with nothing to evict while the store is full of live sessions', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxSessions: 3, sweepIntervalMs: 0 })
    const others = [0, 1, 2].map(() => makeSession(clock.now(), { idleTimeoutMs: HOUR_MS }))
    for (const session of others) await store.insertSession(session)
    // The same project as a held session, but the other mode: still nothing of its own.
    const newcomer = makeSession(clock.now(), {
      projectId: (others[0] as StoredSession).projectId,
      mode: 'live',
    })
    const refusal = store.insertSession(newcomer)
    await expect(refusal).rejects.toBeInstanceOf(StoreCapacityError)
    await expect(refusal).rejects.toMatchObject({
      code: 'store_full',
      status: 507,
      message: expect.stringContaining('maximum of 3 sessions'),
    })
    expect(await store.getSession(newcomer.id)).toBeNull()
    expect(await store.listClientSessions(newcomer)).toEqual([])
    expect(store.size.sessions).toBe(3)
    for (const kept of others) expect(await store.getSession(kept.id)).not.toBeNull()

    clock.advance(HOUR_MS)
    await store.insertSession(newcomer)
    expect((await store.getSession(newcomer.id))?.id).toBe(newcomer.id)
    expect(store.size.sessions).toBe(1)
  })

  it('keeps the per-project order consistent through sweep and revoke', async () => {
    const clock = createManualClock()
    const store = new MemoryStore({ clock: clock.now, maxSessions: 3, sweepIntervalMs: 0 })
    const projectId = 'proj_order'
    const short = makeSession(clock.now(), { projectId, idleTimeoutMs: HOUR_MS })
    const long = makeSession(clock.now(), { projectId })
    await store.insertSession(short)
    await store.insertSession(long)
    clock.advance(HOUR_MS)
    expect(await store.sweep()).toBe(1)
    await store.revokeSession(long.id, clock.now())
    const third = makeSession(clock.now(), { projectId })
    const fourth = makeSession(clock.now(), { projectId })
    await store.insertSession(third)
    await store.insertSession(makeSession(clock.now()))
    // Full: the project's least recently touched session is the revoked one.
    await store.insertSession(fourth)
    expect(await store.getSession(long.id)).toBeNull()
    expect(store.size.sessions).toBe(3)
  })

  it('returns frozen snapshots', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const key = makeKey(Date.now(), { allowedIps: ['10.0.0.0/8'] })
    await store.insertKey(key)
    const found = await store.getKey(key.id)
    expect(Object.isFrozen(found)).toBe(true)
    expect(Object.isFrozen(found?.allowedIps)).toBe(true)
  })

  it('keeps deep-frozen copies of permissions and metadata, never the caller’s objects', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const permissions: Record<string, 'read' | 'write'> = { charges: 'read' }
    const metadata = { team: 'billing', tags: ['a', { deep: true }] }
    const key = makeKey(Date.now(), { type: 'restricted', permissions, metadata })
    await store.insertKey(key)
    permissions.charges = 'write'
    metadata.tags.push('mutated')
    const found = await store.getKey(key.id)
    expect(found?.permissions).toEqual({ charges: 'read' })
    expect(found?.metadata).toEqual({ team: 'billing', tags: ['a', { deep: true }] })
    expect(Object.isFrozen(found?.permissions)).toBe(true)
    expect(Object.isFrozen(found?.metadata)).toBe(true)
    const tags = found?.metadata?.tags as unknown[] | undefined
    expect(Object.isFrozen(tags?.[1])).toBe(true)

    const change = { metadata: { nested: { n: 1 } } }
    const updated = await store.updateKey(key.id, change)
    change.metadata.nested.n = 2
    expect((await store.getKey(key.id))?.metadata).toEqual({ nested: { n: 1 } })
    expect(Object.isFrozen(updated?.metadata?.nested)).toBe(true)
    expect(updated?.permissions).toEqual({ charges: 'read' })
  })

  it('keeps deep-frozen copies of client restrictions, never the caller’s objects', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const origins = ['https://app.example.com']
    const key = makeKey(Date.now(), {
      type: 'publishable',
      prefix: 'pk_test',
      clientRestrictions: { kind: 'origins', origins },
    })
    await store.insertKey(key)
    origins.push('https://evil.example')
    const found = await store.getKey(key.id)
    expect(found?.clientRestrictions).toEqual({
      kind: 'origins',
      origins: ['https://app.example.com'],
    })
    expect(found?.clientRestrictions).toSatisfy(frozenObject)
    expect(
      found?.clientRestrictions?.kind === 'origins' && found.clientRestrictions.origins,
    ).toSatisfy(frozenObject)

    const app = { packageName: 'com.example.shop', sha256CertFingerprint: 'AB:CD' }
    const updated = await store.updateKey(key.id, {
      clientRestrictions: { kind: 'android', apps: [app] },
    })
    app.packageName = 'com.evil.shop'
    const stored = (await store.getKey(key.id))?.clientRestrictions
    expect(stored).toEqual({
      kind: 'android',
      apps: [{ packageName: 'com.example.shop', sha256CertFingerprint: 'AB:CD' }],
    })
    expect(stored?.kind === 'android' && stored.apps[0]).toSatisfy(frozenObject)
    expect(updated?.clientRestrictions).toBe(stored)
    expect((await store.updateKey(key.id, { clientRestrictions: null }))?.clientRestrictions).toBe(
      null,
    )
  })

  it('refuses nonsensical options', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(TypeError)
    expect(() => new MemoryStore({ maxSessions: -1 })).toThrow(TypeError)
    expect(() => new MemoryStore({ sweepIntervalMs: 1.5 })).toThrow(TypeError)
  })
})

describe('MemoryStore usage writes', () => {
  it('replaces a used record with a frozen one that shares its frozen parts', async () => {
    const store = new MemoryStore()
    const key = makeKey(Date.now(), {
      allowedIps: ['203.0.113.0/24'],
      metadata: { team: 'payments' },
      clientRestrictions: { kind: 'origins', origins: ['https://app.example.com'] },
    })
    await store.insertKey(key)
    const before = await store.findKeyByHash(key.hash)
    await store.recordKeyUsage([{ id: key.id, lastUsedAt: key.createdAt + 5 }])
    const after = await store.findKeyByHash(key.hash)
    expect(after).not.toBe(before)
    expect(after).toEqual({ ...before, lastUsedAt: key.createdAt + 5 })
    expect(frozenObject(after)).toBe(true)
    expect(after?.allowedIps).toBe(before?.allowedIps)
    expect(after?.metadata).toBe(before?.metadata)
    expect(after?.clientRestrictions).toBe(before?.clientRestrictions)
    // An older use changes nothing.
    await store.recordKeyUsage([{ id: key.id, lastUsedAt: key.createdAt + 1 }])
    expect(await store.findKeyByHash(key.hash)).toBe(after)
    await store.close()
  })
})

describe('MemoryStore texts shared among records', () => {
  it("keeps each tenant's records its own when they share a prefix and allowlist entries", async () => {
    const store = new MemoryStore()
    const now = Date.now()
    const shared = ['203.0.113.0/24', '127.0.0.1']
    const a = makeKey(now, { projectId: 'proj_a', allowedIps: [...shared] })
    const b = makeKey(now, { projectId: 'proj_b', allowedIps: [...shared] })
    await store.insertKey(a)
    await store.insertKey(b)

    // One tenant changes its allowlist: the other's record, holding the same texts, does not move.
    await store.updateKey(a.id, { allowedIps: ['198.51.100.0/24'] })
    expect((await store.getKey(a.id))?.allowedIps).toEqual(['198.51.100.0/24'])
    expect((await store.getKey(b.id))?.allowedIps).toEqual(shared)
    expect((await store.getKey(b.id))?.prefix).toBe('sk_test')

    // Each project lists its own key only.
    expect((await store.listKeys('proj_a')).map((key) => key.id)).toEqual([a.id])
    expect((await store.listKeys('proj_b')).map((key) => key.id)).toEqual([b.id])
    expect(Object.isFrozen((await store.getKey(b.id))?.allowedIps)).toBe(true)
  })
})
