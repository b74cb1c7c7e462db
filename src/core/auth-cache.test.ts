import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { makeKey, makeSession } from '../testing/fixtures.js'
import { AuthCache, type SessionEntry } from './auth-cache.js'
import { MISSING } from './key-table.js'

describe('applying a revocation to the session cache', () => {
  function filledCache(count: number) {
    const cache = new AuthCache({ maxEntries: count + 10 })
    const now = Date.now()
    const entries: { tokenKey: string; entry: SessionEntry }[] = []
    for (let i = 0; i < count; i++) {
      const session = makeSession(now, {
        projectId: `proj_${i % 7}`,
        mode: i % 2 === 0 ? 'test' : 'live',
        clientId: `user_${i % 1000}`,
      })
      const claims = {
        sid: session.id,
        pid: session.projectId,
        mode: session.mode,
        sub: session.clientId,
      }
      const entry: SessionEntry = { claims, session, checkedAt: now, touchedAt: now }
      const tokenKey = randomBytes(16).toString('base64url')
      cache.rememberSession(tokenKey, entry)
      entries.push({ tokenKey, entry })
    }
    return { cache, entries }
  }

  /** Records which cached entries a change reads or drops; any iteration over the cache fails. */
  function watchAccess(cache: AuthCache) {
    const deleted: string[] = []
    const sessions = cache.sessions as unknown as Record<string, unknown>
    for (const method of [
      'entries',
      'keys',
      'values',
      'forEach',
      'rentries',
      'rkeys',
      'rvalues',
      'dump',
      'find',
    ]) {
      sessions[method] = () => {
        throw new Error(`the cache was scanned (${method})`)
      }
    }
    const remove = cache.sessions.delete.bind(cache.sessions)
    sessions.delete = (tokenKey: string) => {
      deleted.push(tokenKey)
      return remove(tokenKey)
    }
    return deleted
  }

  it('with 10,000 cached sessions, a client revocation drops exactly that client’s entries, without a scan', () => {
    const { cache, entries } = filledCache(10_000)
    const target = entries[42]?.entry.session
    if (target === undefined) throw new Error('no target')
    const mine = entries
      .filter(
        ({ entry: { session } }) =>
          session.projectId === target.projectId &&
          session.mode === target.mode &&
          session.clientId === target.clientId,
      )
      .map(({ tokenKey }) => tokenKey)
    expect(mine.length).toBeGreaterThan(0)
    const deleted = watchAccess(cache)
    cache.apply({
      type: 'client',
      projectId: target.projectId,
      mode: target.mode,
      clientId: target.clientId,
    })
    expect(deleted.sort()).toEqual([...mine].sort())
    for (const tokenKey of mine) expect(cache.session(tokenKey)).toBeUndefined()
    expect(cache.sessions.size).toBe(10_000 - mine.length)
  })

  it('a session revocation drops exactly that session’s entry, without a scan', () => {
    const { cache, entries } = filledCache(10_000)
    const target = entries[4321] as (typeof entries)[number]
    const deleted = watchAccess(cache)
    cache.apply({ type: 'session', sessionId: target.entry.session.id })
    expect(deleted).toEqual([target.tokenKey])
    expect(cache.sessions.size).toBe(9_999)
  })

  it('keeps its index right when entries are evicted, replaced or cleared', () => {
    const cache = new AuthCache({ maxEntries: 2 })
    const now = Date.now()
    const make = (clientId: string) => {
      const session = makeSession(now, { projectId: 'proj_a', clientId })
      return {
        claims: { sid: session.id, pid: 'proj_a', mode: session.mode, sub: clientId },
        session,
        checkedAt: now,
        touchedAt: now,
      }
    }
    cache.rememberSession('t1', make('u1'))
    cache.rememberSession('t2', make('u2'))
    cache.rememberSession('t3', make('u1')) // evicts t1
    const deleted = watchAccess(cache)
    cache.apply({ type: 'client', projectId: 'proj_a', mode: 'test', clientId: 'u1' })
    expect(deleted).toEqual(['t3'])
    expect(cache.session('t2')).toBeDefined()
  })
})

describe('renewing a cached key', () => {
  it('renews an equal read in place, holding the newer record; a changed one starts afresh', () => {
    const cache = new AuthCache({ maxEntries: 10, ttlMs: 1000 })
    const { keys } = cache
    const now = 1_000_000
    const first = Object.freeze(makeKey(now, { allowedIps: ['203.0.113.0/24'] }))
    const slot = cache.rememberKey(first.hash, first, now)
    const ranges = [2, 0xcb007100, 0xffffff00]
    keys.ranges[slot] = ranges
    // The store wrote lastUsedAt: a new record object, equal in everything else.
    const used = Object.freeze({ ...first, allowedIps: [...first.allowedIps], lastUsedAt: now + 5 })
    expect(cache.rememberKey(used.hash, used, now + 800)).toBe(slot)
    expect(keys.record(slot)).toBe(used) // the older read is no longer held
    expect(keys.ranges[slot]).toBe(ranges)
    expect(cache.validUntil(slot)).toBe(now + 1800)
    expect(cache.key(first.hash, now + 1799)).toBe(slot)
    // Any other change: the same slot, afresh, nothing derived carried over.
    const narrowed = Object.freeze({ ...used, allowedIps: ['203.0.113.7'] })
    expect(cache.rememberKey(narrowed.hash, narrowed, now + 900)).toBe(slot)
    expect(keys.record(slot)).toBe(narrowed)
    expect(keys.ranges[slot]).toBeUndefined()
    // "No such key" now: the slot is freed, and the miss remembered.
    expect(cache.rememberKey(narrowed.hash, null, now + 950)).toBe(MISSING)
    expect(keys.peek(narrowed.hash)).toBeUndefined()
    expect(cache.key(narrowed.hash, now + 951)).toBe(MISSING)
  })
})

describe("a key's ttl", () => {
  it("is kept exactly, on the gate's clock, whatever the clock reads", () => {
    const day = 86_400_000
    const cache = new AuthCache({ maxEntries: 10, ttlMs: 30_000 })
    const start = Date.UTC(2026, 0, 1) + 0.25
    const first = Object.freeze(makeKey(start))
    const early = cache.rememberKey(first.hash, first, start)
    expect(cache.validUntil(early)).toBe(start + 30_000)
    // A year on, another key is read: both lapse exactly when their ttl says.
    const later = start + 365 * day
    const second = Object.freeze(makeKey(later))
    const recent = cache.rememberKey(second.hash, second, later)
    expect(cache.validUntil(early)).toBe(start + 30_000)
    expect(cache.validUntil(recent)).toBe(later + 30_000)
    expect(cache.key(first.hash, later)).toBeUndefined()
    expect(cache.key(second.hash, later + 29_999)).toBe(recent)
    expect(cache.key(second.hash, later + 30_000)).toBeUndefined()
    // A re-read starts in the last quarter of the ttl.
    expect(cache.refreshDue(recent, later + 22_499)).toBe(false)
    expect(cache.refreshDue(recent, later + 22_500)).toBe(true)
  })
})
