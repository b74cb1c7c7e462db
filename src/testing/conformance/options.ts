import type { PortcullisStore } from '../../core/store.js'
import type { ManualClock } from '../manual-clock.js'

/** A test's body as the suite registers it. */
export type TestBody = () => Promise<void>

/** The test runner's registration functions: vitest, jest, mocha and node:test all fit. */
export interface ConformanceRunner {
  describe(name: string, body: () => void): unknown
  it: {
    (name: string, body: TestBody): unknown
    /** Registers a test reported as skipped (used for capabilities a store lacks). */
    skip(name: string, body: TestBody): unknown
  }
}

/** Handed to `createStore`: use `clock.now` wherever your store reads the time. */
export interface ConformanceContext {
  readonly clock: ManualClock
}

/**
 * What one group of the suite (`describeKeyConformance` and its siblings) needs: everything
 * `describeStoreConformance` takes except the title, which only the whole suite shows.
 */
export interface ConformanceGroupOptions<S extends PortcullisStore> extends ConformanceRunner {
  /** A ready store. Called once per test; records are namespaced by random ids, so a shared server needs no cleanup. */
  createStore(context: ConformanceContext): S | Promise<S>
  /** Releases what `createStore` made (connections, timers). */
  destroyStore?(store: S): void | Promise<void>
  /**
   * A store whose backend is down or unreachable (a client aimed at a closed port, a stopped
   * server). Omit it for stores that cannot be down, such as an in-process store: the
   * outage tests are then reported as skipped.
   */
  createUnavailableStore?(): PortcullisStore | Promise<PortcullisStore>
  destroyUnavailableStore?(store: PortcullisStore): void | Promise<void>
  /**
   * Everything the store holds, as text (a dump of tables, keys and values), so the suite can
   * check that no plaintext key or token was stored. Omit it and that test is skipped.
   */
  dumpContents?(store: S): string | Promise<string>
  /** What the store supports beyond the required methods; the suite checks the claim. */
  readonly capabilities?: {
    /** The store implements `prune()`. Default false: the pruning tests are skipped. */
    readonly prune?: boolean
    /** The store implements `watch()`. Default false: the change-notification tests are skipped. */
    readonly watch?: boolean
  }
  /**
   * A second store instance on the same backend as `store` (another app instance), used to
   * check that changes reach other instances. Default: `store` itself.
   */
  createPeerStore?(store: S, context: ConformanceContext): S | Promise<S>
  /** How long a change may take to reach a watcher. Default 2000 ms. */
  readonly watchWithinMs?: number
  /** How long an unavailable store may take to fail. Default 5000 ms. */
  readonly unavailableWithinMs?: number
  /** Parallel touches in the convergence test. Default 100. */
  readonly concurrentTouches?: number
  /**
   * Parallel operations in each race of the concurrency tests (touches and authentications
   * racing each other, a revoke or a roll). Default 1000; lower it if your runner's test
   * timeout is short for your backend.
   */
  readonly raceOperations?: number
}

export interface StoreConformanceOptions<S extends PortcullisStore>
  extends ConformanceGroupOptions<S> {
  /** Shown in the suite's title. */
  readonly name: string
}
