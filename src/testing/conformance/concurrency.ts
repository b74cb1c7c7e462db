import type { PortcullisStore } from '../../core/store.js'
import { registerKeyRaces } from './concurrency-keys.js'
import { registerSessionRaces } from './concurrency-sessions.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `concurrency` group of the storage conformance suite: `raceOperations`
 * touches and authentications (cache off) racing each other, a revoke, a client revoke or a
 * roll; parallel rolls of one key. A store that is correct one call at a time can still fail
 * here, so run it against the real backend, not a mock.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeConcurrencyConformance } from 'portcullis/testing'
 *
 * // Hunting a race in MyStore: run only the races, fewer per test for a fast loop.
 * describe('MyStore', () => {
 *   describeConcurrencyConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     raceOperations: 200,
 *   })
 * })
 * ```
 */
export function describeConcurrencyConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe } = options
  describe('concurrency', () => {
    registerSessionRaces(options)
    registerKeyRaces(options)
  })
}
