import assert from 'node:assert/strict'
import type { PortcullisStore, StoreChange, StoredKey } from '../../core/store.js'
import { makeKey, makeSession, randomProjectId } from '../fixtures.js'
import { createConformanceHarness } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `change notifications` group of the storage conformance suite: `watch()`
 * announces key and session changes to every instance on the backend (see `createPeerStore`),
 * a client revocation once, and each `watch()` is its own registration. Reported as skipped unless `capabilities.watch` is set.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeChangeNotificationConformance } from 'portcullis/testing'
 *
 * // Writing watch(): run its group on its own.
 * describe('MyStore', () => {
 *   describeChangeNotificationConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     capabilities: { watch: true },
 *   })
 * })
 * ```
 */
export function describeChangeNotificationConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe } = options
  const canWatch = options.capabilities?.watch === true
  const { itIf, withStore } = createConformanceHarness(options)
  describe('change notifications', () => {
    itIf(
      canWatch,
      'announces key and session changes to every instance on the backend',
      withStore(async (store, clock) => {
        assert.equal(
          typeof store.watch,
          'function',
          'capabilities.watch is set but watch() is missing',
        )
        const peer = options.createPeerStore
          ? await options.createPeerStore(store, { clock })
          : store
        const within = options.watchWithinMs ?? 2000
        const seen: StoreChange[] = []
        const waiters: { match: (change: StoreChange) => boolean; resolve: () => void }[] = []
        const unwatch = await (peer.watch as NonNullable<PortcullisStore['watch']>).call(
          peer,
          (change) => {
            seen.push(change)
            for (const waiter of [...waiters]) {
              if (waiter.match(change)) {
                waiters.splice(waiters.indexOf(waiter), 1)
                waiter.resolve()
              }
            }
          },
        )
        const expectChange = async (
          what: string,
          match: (change: StoreChange) => boolean,
          write: () => Promise<unknown>,
        ) => {
          let timer: NodeJS.Timeout | undefined
          const arrived = new Promise<void>((resolve, reject) => {
            waiters.push({ match, resolve })
            timer = setTimeout(
              () =>
                reject(
                  new Error(`no ${what} change within ${within} ms; saw ${JSON.stringify(seen)}`),
                ),
              within,
            )
          })
          try {
            await write()
            await arrived
          } finally {
            clearTimeout(timer)
          }
        }
        try {
          const key = makeKey(clock.now())
          const other = makeKey(clock.now())
          await store.insertKey(key)
          await store.insertKey(other)
          const isKey = (target: StoredKey) => (change: StoreChange) =>
            change.type === 'key' && change.keyId === target.id && change.hash === target.hash
          await expectChange('allowlist', isKey(key), () =>
            store.updateKey(key.id, { allowedIps: ['10.0.0.0/8'] }),
          )
          await expectChange('roll', isKey(key), () =>
            store.rollKey({
              id: key.id,
              replacement: makeKey(clock.now()),
              oldExpiresAt: clock.now(),
            }),
          )
          await expectChange('delete', isKey(other), () => store.deleteKey(other.id))
          const session = makeSession(clock.now())
          await store.insertSession(session)
          await expectChange(
            'session revoke',
            (change) => change.type === 'session' && change.sessionId === session.id,
            () => store.revokeSession(session.id, clock.now()),
          )
          const client = makeSession(clock.now(), { mode: 'live', clientId: 'user_7' })
          await store.insertSession(client)
          await expectChange(
            'client revoke',
            (change) =>
              change.type === 'client' &&
              change.projectId === client.projectId &&
              change.mode === 'live' &&
              change.clientId === 'user_7',
            () => store.revokeClientSessions(client, clock.now()),
          )
        } finally {
          await unwatch()
          if (peer !== store) await options.destroyStore?.(peer)
        }
      }),
    )
    itIf(
      canWatch,
      'announces a client revocation once, however many sessions it revoked',
      withStore(async (store, clock) => {
        const peer = options.createPeerStore
          ? await options.createPeerStore(store, { clock })
          : store
        const within = options.watchWithinMs ?? 2000
        const seen: StoreChange[] = []
        const marker = makeSession(clock.now())
        let markerSeen: () => void = () => {}
        const markerArrived = new Promise<void>((resolve) => {
          markerSeen = resolve
        })
        const unwatch = await (peer.watch as NonNullable<PortcullisStore['watch']>).call(
          peer,
          (change) => {
            seen.push(change)
            if (change.type === 'session' && change.sessionId === marker.id) markerSeen()
          },
        )
        try {
          const projectId = randomProjectId()
          const scope = { projectId, mode: 'live' as const, clientId: 'user_many' }
          for (let i = 0; i < 5; i++) await store.insertSession(makeSession(clock.now(), scope))
          await store.insertSession(marker)
          assert.equal(await store.revokeClientSessions(scope, clock.now()), 5)
          // Changes arrive in order on one feed: once the marker is here, so is the client's.
          await store.revokeSession(marker.id, clock.now())
          let timer: NodeJS.Timeout | undefined
          await Promise.race([
            markerArrived,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('the marker change never came')), within)
            }),
          ]).finally(() => clearTimeout(timer))
          // Cluster nodes may deliver out of order: give stragglers a moment.
          await new Promise((resolve) => setTimeout(resolve, 100))
          const announced = seen.filter(
            (change) => change.type === 'client' && change.projectId === projectId,
          )
          assert.equal(announced.length, 1, `announced ${JSON.stringify(announced)}`)
        } finally {
          await unwatch()
          if (peer !== store) await options.destroyStore?.(peer)
        }
      }),
    )

    itIf(
      canWatch,
      'watching one function twice is two registrations, each ended by its own unwatch',
      withStore(async (store, clock) => {
        const watch = (store.watch as NonNullable<PortcullisStore['watch']>).bind(store)
        const within = options.watchWithinMs ?? 2000
        const heard: string[] = []
        const listener = (change: StoreChange) => {
          if (change.type === 'session') heard.push(change.sessionId)
        }
        const first = await watch(listener)
        const second = await watch(listener)
        const arrivals = async (sessionId: string, count: number) => {
          const until = Date.now() + within
          while (heard.filter((id) => id === sessionId).length < count && Date.now() < until) {
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
          // Give a wrong extra delivery the chance to arrive before counting.
          await new Promise((resolve) => setTimeout(resolve, 50))
          return heard.filter((id) => id === sessionId).length
        }
        try {
          const a = makeSession(clock.now())
          await store.insertSession(a)
          await store.revokeSession(a.id, clock.now())
          assert.equal(
            await arrivals(a.id, 2),
            2,
            'the same function watched twice hears a change twice',
          )
          await first()
          await first()
          const b = makeSession(clock.now())
          await store.insertSession(b)
          await store.revokeSession(b.id, clock.now())
          assert.equal(
            await arrivals(b.id, 1),
            1,
            'one unwatch (called twice) ends one registration',
          )
        } finally {
          await first()
          await second()
        }
      }),
    )
  })
}
