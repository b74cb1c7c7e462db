import type { PortcullisStore } from '../../core/store.js'
import { describeAcrossInstancesConformance } from './across-instances.js'
import { describeChangeNotificationConformance } from './change-notifications.js'
import { describeConcurrencyConformance } from './concurrency.js'
import { describeKeyConformance } from './keys.js'
import type { StoreConformanceOptions } from './options.js'
import { describeOutageConformance } from './outage.js'
import { describePruningConformance } from './pruning.js'
import { describeSessionConformance } from './sessions.js'
import { describeThroughPortcullisConformance } from './through-portcullis.js'

export { describeAcrossInstancesConformance } from './across-instances.js'
export { describeChangeNotificationConformance } from './change-notifications.js'
export { describeConcurrencyConformance } from './concurrency.js'
export { describeKeyConformance } from './keys.js'
export type {
  ConformanceContext,
  ConformanceGroupOptions,
  ConformanceRunner,
  StoreConformanceOptions,
} from './options.js'
export { describeOutageConformance } from './outage.js'
export { describePruningConformance } from './pruning.js'
export { describeSessionConformance } from './sessions.js'
export { describeThroughPortcullisConformance } from './through-portcullis.js'

/**
 * Registers the storage conformance suite: every rule of the `PortcullisStore` contract,
 * checked on your store directly and through a real `createPortcullis` instance. Runner-
 * agnostic (pass your runner's `describe` and `it`), driven by a manual clock (no sleeping).
 * Each group it registers is also exported on its own (`describeKeyConformance` and its
 * siblings), for a store that is still being written.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeStoreConformance } from 'portcullis/testing'
 *
 * describeStoreConformance({
 *   name: 'MyStore',
 *   describe,
 *   it,
 *   createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 * })
 * ```
 */
export function describeStoreConformance<S extends PortcullisStore>(
  options: StoreConformanceOptions<S>,
): void {
  const { describe } = options
  describe(`${options.name}: storage conformance`, () => {
    describeKeyConformance(options)
    describeSessionConformance(options)
    describeConcurrencyConformance(options)
    describePruningConformance(options)
    describeChangeNotificationConformance(options)
    describeAcrossInstancesConformance(options)
    describeThroughPortcullisConformance(options)
    describeOutageConformance(options)
  })
}
