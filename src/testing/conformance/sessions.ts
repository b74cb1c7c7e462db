import assert from 'node:assert/strict'
import type { PortcullisStore, StoredSession } from '../../core/store.js'
import { makeSession, randomProjectId } from '../fixtures.js'
import { assertConflict } from './assertions.js'
import { createConformanceHarness, DAY_MS, HOUR_MS, shuffle } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `sessions` group of the storage conformance suite: a touch slides the idle
 * expiry but never past the cap, never revives, creates or shortens a session; revocation is
 * final; test and live clients stay apart.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeSessionConformance } from 'portcullis/testing'
 *
 * // Working on the session methods: run their group on its own.
 * describe('MyStore', () => {
 *   describeSessionConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *   })
 * })
 * ```
 */
export function describeSessionConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe, it } = options
  const parallel = options.concurrentTouches ?? 100
  const { withStore } = createConformanceHarness(options)
  describe('sessions', () => {
    it(
      'stores a session and refuses a duplicate id',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        assert.deepEqual(await store.getSession(session.id), session)
        await assert.rejects(
          store.insertSession(makeSession(clock.now(), { id: session.id })),
          assertConflict,
        )
        assert.deepEqual(await store.getSession(session.id), session)
        assert.equal(await store.getSession('cs_missing'), null)
      }),
    )

    it(
      'touch slides the idle expiry to now + idle timeout',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        clock.advance(3 * HOUR_MS)
        const touched = await store.touchSession(session.id, clock.now())
        assert.equal(touched?.expiresAt, clock.now() + session.idleTimeoutMs)
        assert.equal(
          (await store.getSession(session.id))?.expiresAt,
          clock.now() + session.idleTimeoutMs,
        )
      }),
    )

    it(
      'touch never moves the expiry past the absolute cap',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now(), { maxExpiresAt: clock.now() + 30 * HOUR_MS })
        await store.insertSession(session)
        clock.advance(20 * HOUR_MS)
        const touched = await store.touchSession(session.id, clock.now())
        assert.equal(touched?.expiresAt, session.maxExpiresAt)
        clock.advance(9 * HOUR_MS)
        assert.equal(
          (await store.touchSession(session.id, clock.now()))?.expiresAt,
          session.maxExpiresAt,
        )
      }),
    )

    it(
      'touch never revives an expired session',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        clock.advance(session.idleTimeoutMs)
        const touched = await store.touchSession(session.id, clock.now())
        assert.equal(touched?.expiresAt, session.expiresAt)
        assert.equal(
          (await store.getSession(session.id))?.expiresAt ?? session.expiresAt,
          session.expiresAt,
        )
      }),
    )

    it(
      'touch never revives a revoked session',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        clock.advance(HOUR_MS)
        const revoked = await store.revokeSession(session.id, clock.now())
        assert.equal(revoked?.revokedAt, clock.now())
        clock.advance(HOUR_MS)
        const touched = await store.touchSession(session.id, clock.now())
        assert.equal(touched?.revokedAt, revoked?.revokedAt)
        assert.equal(touched?.expiresAt, session.expiresAt, 'a revoked session is not slid')
      }),
    )

    it(
      'touch never creates a session',
      withStore(async (store, clock) => {
        assert.equal(await store.touchSession('cs_missing', clock.now()), null)
        assert.equal(await store.getSession('cs_missing'), null)
      }),
    )

    it(
      'touch never shortens a session (an out-of-order touch loses)',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        const early = clock.now() + HOUR_MS
        const late = clock.now() + 2 * HOUR_MS
        await store.touchSession(session.id, late)
        const touched = await store.touchSession(session.id, early)
        assert.equal(touched?.expiresAt, late + session.idleTimeoutMs)
      }),
    )

    it(
      `${parallel} concurrent touches converge on the latest and never pass the cap`,
      withStore(async (store, clock) => {
        // The cap falls halfway through the touches, so half of them would pass it if allowed.
        const start = clock.now()
        const session = makeSession(start, {
          maxExpiresAt: start + DAY_MS + (parallel / 2) * 60_000,
        })
        await store.insertSession(session)
        const instants = shuffle(
          Array.from({ length: parallel }, (_, i) => start + (i + 1) * 60_000),
        )
        const results = await Promise.all(
          instants.map((now) => store.touchSession(session.id, now)),
        )
        for (const result of results) {
          assert.ok(result !== null)
          assert.ok(result.expiresAt <= session.maxExpiresAt, 'a touch passed the cap')
        }
        const latest = Math.max(...instants)
        const expected = Math.min(latest + session.idleTimeoutMs, session.maxExpiresAt)
        assert.equal((await store.getSession(session.id))?.expiresAt, expected)
      }),
    )

    it(
      'a revoke racing touches always wins',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        const now = clock.now()
        const touches = Array.from(
          { length: 20 },
          (_, i) => () => store.touchSession(session.id, now + i + 1),
        )
        await Promise.all([
          ...touches.slice(0, 10).map((touch) => touch()),
          store.revokeSession(session.id, now),
          ...touches.slice(10).map((touch) => touch()),
        ])
        const after = await store.getSession(session.id)
        assert.equal(after?.revokedAt, now)
        const again = await store.touchSession(session.id, now + HOUR_MS)
        assert.equal(again?.expiresAt, after?.expiresAt)
        assert.equal(again?.revokedAt, now)
      }),
    )

    it(
      'revocation is final: a second revoke keeps the first instant',
      withStore(async (store, clock) => {
        const session = makeSession(clock.now())
        await store.insertSession(session)
        const first = clock.now()
        await store.revokeSession(session.id, first)
        clock.advance(1000)
        assert.equal((await store.revokeSession(session.id, clock.now()))?.revokedAt, first)
        assert.equal(await store.revokeSession('cs_missing', clock.now()), null)
      }),
    )

    it(
      'keeps test and live apart: the same clientId in both modes is two clients',
      withStore(async (store, clock) => {
        const projectId = randomProjectId()
        const clientId = 'user_42'
        const test = [
          makeSession(clock.now(), { projectId, clientId }),
          makeSession(clock.now(), { projectId, clientId }),
        ]
        const live = makeSession(clock.now(), { projectId, clientId, mode: 'live' })
        const otherProject = makeSession(clock.now(), { clientId })
        const otherClient = makeSession(clock.now(), { projectId, clientId: 'user_43' })
        for (const session of [...test, live, otherProject, otherClient])
          await store.insertSession(session)

        const testScope = { projectId, mode: 'test' as const, clientId }
        const liveScope = { projectId, mode: 'live' as const, clientId }
        const ids = (sessions: StoredSession[]) => sessions.map((session) => session.id).sort()
        assert.deepEqual(ids(await store.listClientSessions(testScope)), ids(test))
        assert.deepEqual(ids(await store.listClientSessions(liveScope)), [live.id])

        assert.equal(await store.revokeClientSessions(testScope, clock.now()), 2)
        assert.equal(await store.revokeClientSessions(testScope, clock.now()), 0, 'already revoked')
        for (const session of test)
          assert.notEqual((await store.getSession(session.id))?.revokedAt, null)
        for (const session of [live, otherProject, otherClient]) {
          assert.equal(
            (await store.getSession(session.id))?.revokedAt,
            null,
            'revoked outside its scope',
          )
        }
        assert.deepEqual(
          await store.listClientSessions({ projectId, mode: 'live', clientId: 'nobody' }),
          [],
        )
      }),
    )
  })
}
