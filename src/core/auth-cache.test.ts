import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { makeSession } from '../testing/fixtures.js'
import { AuthCache, type SessionEntry } from './auth-cache.js'

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
