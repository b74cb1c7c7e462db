import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../../adapters/memory/index.js'
import {
  type ClientScope,
  ConflictError,
  type KeyRoll,
  type KeyRollResult,
  type PortcullisStore,
  type StoredKey,
  type StoredSession,
} from '../../index.js'
import {
  type ConformanceGroupOptions,
  describeAcrossInstancesConformance,
  describeChangeNotificationConformance,
  describeConcurrencyConformance,
  describeKeyConformance,
  describeOutageConformance,
  describePruningConformance,
  describeSessionConformance,
  describeStoreConformance,
  describeThroughPortcullisConformance,
  type StoreConformanceOptions,
} from '../index.js'

type Outcome = { name: string; status: 'passed' | 'failed' | 'skipped' }

/** Registers the suite with a collecting runner, then runs every test and reports outcomes. */
async function runSuite(
  options: Omit<StoreConformanceOptions<PortcullisStore>, 'describe' | 'it'>,
) {
  const tests: { name: string; body: (() => Promise<void>) | null }[] = []
  const path: string[] = []
  const it = Object.assign(
    (name: string, body: () => Promise<void>) =>
      tests.push({ name: [...path, name].join(' > '), body }),
    { skip: (name: string) => tests.push({ name: [...path, name].join(' > '), body: null }) },
  )
  const describe = (name: string, body: () => void) => {
    path.push(name)
    body()
    path.pop()
  }
  describeStoreConformance({ ...options, describe, it })
  const outcomes: Outcome[] = []
  for (const test of tests) {
    if (test.body === null) {
      outcomes.push({ name: test.name, status: 'skipped' })
      continue
    }
    try {
      await test.body()
      outcomes.push({ name: test.name, status: 'passed' })
    } catch {
      outcomes.push({ name: test.name, status: 'failed' })
    }
  }
  return outcomes
}

/** The full name of every test `register` registers, skipped ones included, in order. */
function registeredNames(
  register: (runner: Pick<ConformanceGroupOptions<PortcullisStore>, 'describe' | 'it'>) => void,
) {
  const names: string[] = []
  const path: string[] = []
  const record = (name: string) => names.push([...path, name].join(' > '))
  const describe = (name: string, body: () => void) => {
    path.push(name)
    body()
    path.pop()
  }
  register({ describe, it: Object.assign(record, { skip: record }) })
  return names
}

const failed = (outcomes: Outcome[]) =>
  outcomes.filter((outcome) => outcome.status === 'failed').map((outcome) => outcome.name)

/** A MemoryStore with one method replaced by a broken version. */
function breakStore(patch: (store: MemoryStore) => Partial<PortcullisStore>) {
  return ({ clock }: { clock: { now: () => number } }) => {
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    return Object.assign(store, patch(store))
  }
}

describe('the conformance suite itself', () => {
  it('passes a correct store, and reports missing capabilities as skipped', async () => {
    const outcomes = await runSuite({
      name: 'memory',
      createStore: ({ clock }) => new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }),
    })
    expect(failed(outcomes)).toEqual([])
    const skipped = outcomes
      .filter((outcome) => outcome.status === 'skipped')
      .map((outcome) => outcome.name)
    expect(skipped.length).toBe(9)
    expect(skipped.join('\n')).toMatch(/prune/)
    expect(skipped.join('\n')).toMatch(/announces/)
    expect(skipped.join('\n')).toMatch(/client revocation once/)
    expect(skipped.join('\n')).toMatch(/two registrations/)
    expect(skipped.join('\n')).toMatch(/permissions changed on one instance/)
    expect(skipped.join('\n')).toMatch(/rolled on one instance is refused by the other/)
    expect(skipped.join('\n')).toMatch(/plaintext/)
    expect(skipped.join('\n')).toMatch(/unavailable error/)
  })

  it('exports each group on its own, registering exactly its block of the whole suite', () => {
    const createStore = () => new MemoryStore({ sweepIntervalMs: 0 })
    const whole = registeredNames((runner) =>
      describeStoreConformance({ ...runner, name: 'memory', createStore }),
    )
    const groups = [
      describeKeyConformance,
      describeSessionConformance,
      describeConcurrencyConformance,
      describePruningConformance,
      describeChangeNotificationConformance,
      describeAcrossInstancesConformance,
      describeThroughPortcullisConformance,
      describeOutageConformance,
    ].flatMap((describeGroup) =>
      registeredNames((runner) => describeGroup({ ...runner, createStore })).map(
        (name) => `memory: storage conformance > ${name}`,
      ),
    )
    expect(groups).toEqual(whole)
  })

  it('fails a touch that ignores the absolute cap', async () => {
    const outcomes = await runSuite({
      name: 'uncapped',
      createStore: sessionsInMap((session, now) =>
        session.revokedAt !== null || session.expiresAt <= now
          ? session
          : { ...session, expiresAt: Math.max(session.expiresAt, now + session.idleTimeoutMs) },
      ),
    })
    expect(failed(outcomes).join('\n')).toMatch(/never moves the expiry past the absolute cap/)
    expect(failed(outcomes).join('\n')).toMatch(/concurrent touches converge/)
  })

  it('fails a touch written as get-then-set that revives revoked sessions', async () => {
    const outcomes = await runSuite({
      name: 'reviving',
      createStore: sessionsInMap((session, now) => ({
        ...session,
        revokedAt: null,
        expiresAt: Math.min(now + session.idleTimeoutMs, session.maxExpiresAt),
      })),
    })
    const names = failed(outcomes).join('\n')
    expect(names).toMatch(/never revives a revoked session/)
    expect(names).toMatch(/never revives an expired session/)
    expect(names).toMatch(/never shortens a session/)
    expect(names).toMatch(/revoke racing touches always wins/)
  })

  it('fails a client revoke written as list-then-write, which undoes touches that race it', async () => {
    const outcomes = await runSuite({ name: 'stale-client-revoke', createStore: staleClientRevoke })
    const names = failed(outcomes)
    expect(names.join('\n')).toMatch(/concurrency > a client revoke racing \d+ touches/)
    // Only the races see it: every earlier test, the sequential client revokes included, passes.
    expect(names.filter((name) => !name.includes(' > concurrency > '))).toEqual([])
  })

  it('fails a case-insensitive hash lookup', async () => {
    const outcomes = await runSuite({
      name: 'case-folding',
      createStore: breakStore((store) => {
        const byLower = new Map<string, StoredKey>()
        return {
          insertKey: async (key: StoredKey) => {
            if (byLower.has(key.hash.toLowerCase())) throw new Error('duplicate')
            byLower.set(key.hash.toLowerCase(), key)
            await MemoryStore.prototype.insertKey.call(store, key)
          },
          findKeyByHash: async (hash: string) => byLower.get(hash.toLowerCase()) ?? null,
        }
      }),
    })
    expect(failed(outcomes).join('\n')).toMatch(/case-sensitively/)
  })

  it('fails a roll that lets two concurrent rolls both win', async () => {
    const outcomes = await runSuite({
      name: 'racy-roll',
      createStore: breakStore((store) => ({
        async rollKey(roll: KeyRoll): Promise<KeyRollResult> {
          const old = await store.getKey(roll.id)
          if (old === null) return { outcome: 'not_found' }
          await new Promise((resolve) => setImmediate(resolve))
          await store.insertKey(roll.replacement)
          return {
            outcome: 'rolled',
            previous: { ...old, rolledToId: roll.replacement.id },
            replacement: roll.replacement,
          }
        },
      })),
    })
    expect(failed(outcomes).join('\n')).toMatch(/rolls a key at most once/)
  })

  it('fails a store that claims watch() but never delivers a change', async () => {
    const outcomes = await runSuite({
      name: 'deaf',
      capabilities: { watch: true },
      watchWithinMs: 100,
      createStore: breakStore(() => ({ watch: async () => async () => {} })),
    })
    expect(failed(outcomes).join('\n')).toMatch(/announces key and session changes/)
  })

  it('fails a store that answers "not found" while it is down', async () => {
    const outcomes = await runSuite({
      name: 'silent-outage',
      createStore: ({ clock }) => new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }),
      createUnavailableStore: () => new MemoryStore({ sweepIntervalMs: 0 }),
    })
    expect(failed(outcomes)).toEqual([
      'silent-outage: storage conformance > when the backend is down > every operation fails with the typed unavailable error, never "not found"',
    ])
  })
})

/** A MemoryStore whose sessions live in a plain map and are touched by `touch` (a broken rule). */
function sessionsInMap(touch: (session: StoredSession, now: number) => StoredSession) {
  return breakStore(() => {
    const sessions = new Map<string, StoredSession>()
    return {
      insertSession: async (session: StoredSession) => {
        if (sessions.has(session.id)) throw new ConflictError('conflict')
        sessions.set(session.id, session)
      },
      getSession: async (id: string) => sessions.get(id) ?? null,
      revokeSession: async (id: string, now: number) => {
        const session = sessions.get(id)
        if (session === undefined) return null
        const revoked = { ...session, revokedAt: session.revokedAt ?? now }
        sessions.set(id, revoked)
        return revoked
      },
      touchSession: async (id: string, now: number) => {
        const session = sessions.get(id)
        if (session === undefined) return null
        const touched = touch(session, now)
        sessions.set(id, touched)
        return touched
      },
    }
  })
}

/**
 * A store correct in every single operation, whose client revoke reads the client's sessions,
 * waits (a round trip), then writes each one back revoked from what it read: a touch that lands
 * in between is undone, lowering a session's expiry below what that touch reported.
 */
function staleClientRevoke({ clock }: { clock: { now: () => number } }): PortcullisStore {
  const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
  const sessions = new Map<string, StoredSession>()
  const inScope = (session: StoredSession, scope: ClientScope) =>
    session.projectId === scope.projectId &&
    session.mode === scope.mode &&
    session.clientId === scope.clientId
  return Object.assign(store, {
    insertSession: async (session: StoredSession) => {
      if (sessions.has(session.id)) throw new ConflictError('conflict')
      sessions.set(session.id, session)
    },
    getSession: async (id: string) => sessions.get(id) ?? null,
    touchSession: async (id: string, now: number) => {
      const session = sessions.get(id)
      if (session === undefined) return null
      if (session.revokedAt !== null || session.expiresAt <= now) return session
      const slid = Math.min(now + session.idleTimeoutMs, session.maxExpiresAt)
      const touched = { ...session, expiresAt: Math.max(session.expiresAt, slid) }
      sessions.set(id, touched)
      return touched
    },
    revokeSession: async (id: string, now: number) => {
      const session = sessions.get(id)
      if (session === undefined) return null
      const revoked = { ...session, revokedAt: session.revokedAt ?? now }
      sessions.set(id, revoked)
      return revoked
    },
    listClientSessions: async (scope: ClientScope) =>
      [...sessions.values()].filter((session) => inScope(session, scope)),
    revokeClientSessions: async (scope: ClientScope, now: number) => {
      const listed = [...sessions.values()].filter(
        (session) => inScope(session, scope) && session.revokedAt === null,
      )
      await new Promise((resolve) => setImmediate(resolve))
      for (const session of listed) sessions.set(session.id, { ...session, revokedAt: now })
      return listed.length
    },
  })
}
