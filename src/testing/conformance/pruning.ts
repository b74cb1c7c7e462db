import assert from 'node:assert/strict'
import type { PortcullisStore } from '../../core/store.js'
import { makeKey, makeSession } from '../fixtures.js'
import { createConformanceHarness, DAY_MS, HOUR_MS } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `pruning` group of the storage conformance suite: `prune()` deletes what
 * expired, keeps what is live, and a pruned session stays gone. Reported as skipped unless
 * `capabilities.prune` is set.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describePruningConformance } from 'portcullis/testing'
 *
 * // Writing prune(): run its group on its own.
 * describe('MyStore', () => {
 *   describePruningConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     capabilities: { prune: true },
 *   })
 * })
 * ```
 */
export function describePruningConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe } = options
  const canPrune = options.capabilities?.prune === true
  const { itIf, withStore } = createConformanceHarness(options)
  describe('pruning', () => {
    itIf(
      canPrune,
      'prune deletes what expired and keeps what is live',
      withStore(async (store, clock) => {
        assert.equal(
          typeof store.prune,
          'function',
          'capabilities.prune is set but prune() is missing',
        )
        const prune = (store.prune as NonNullable<PortcullisStore['prune']>).bind(store)
        const expiredSession = makeSession(clock.now(), { idleTimeoutMs: HOUR_MS })
        const liveSession = makeSession(clock.now())
        const expiredKey = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
        const liveKey = makeKey(clock.now(), { expiresAt: clock.now() + DAY_MS })
        const eternalKey = makeKey(clock.now())
        for (const session of [expiredSession, liveSession]) await store.insertSession(session)
        for (const key of [expiredKey, liveKey, eternalKey]) await store.insertKey(key)
        clock.advance(2 * HOUR_MS)
        const removed = await prune({
          sessionsExpiredBefore: clock.now(),
          keysExpiredBefore: clock.now(),
        })
        assert.ok(removed >= 2, `prune reported ${removed} removals`)
        assert.equal(await store.getSession(expiredSession.id), null)
        assert.equal(await store.getKey(expiredKey.id), null)
        assert.equal(await store.findKeyByHash(expiredKey.hash), null)
        assert.notEqual(await store.getSession(liveSession.id), null)
        assert.notEqual(await store.getKey(liveKey.id), null)
        assert.notEqual(await store.getKey(eternalKey.id), null)
      }),
    )

    itIf(
      canPrune,
      'touch never revives a pruned session',
      withStore(async (store, clock) => {
        const prune = (store.prune as NonNullable<PortcullisStore['prune']>).bind(store)
        const session = makeSession(clock.now())
        await store.insertSession(session)
        clock.advance(session.idleTimeoutMs + 1)
        await prune({ sessionsExpiredBefore: clock.now(), keysExpiredBefore: 0 })
        assert.equal(await store.touchSession(session.id, clock.now()), null)
        assert.equal(await store.getSession(session.id), null)
      }),
    )
  })
}
