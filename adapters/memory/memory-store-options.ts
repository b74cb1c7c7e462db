import { optionalCount, optionalMilliseconds } from '../../src/core/option-checks.js'

const DAY_MS = 24 * 60 * 60 * 1000

export interface MemoryStoreOptions {
  /** Most keys kept; inserting past it (after pruning) throws `StoreCapacityError`. Default 100,000. */
  maxKeys?: number
  /**
   * Most sessions kept. At the limit, an insert first drops already-expired sessions (a bounded
   * number, from the least recently touched end); if the store is still full, it evicts the
   * least recently touched session of the inserting session's own project and mode (that
   * holder gets `session_expired`), never one of another project or mode. If that project and
   * mode holds no session to evict, the insert is refused with `StoreCapacityError`
   * (`store_full`) and nothing is written. Default 1,000,000.
   */
  maxSessions?: number
  /** Time source for sweeping, epoch ms. Default `Date.now`. Give it the gate's clock. */
  clock?: () => number
  /** How often expired records are swept, in real time. Default 60 s; 0 turns the timer off. */
  sweepIntervalMs?: number
  /**
   * How long an expired or rolled key is kept so that it answers `api_key_expired` rather
   * than `api_key_invalid`. Default 30 days.
   */
  expiredKeyRetentionMs?: number
}

/** {@link MemoryStoreOptions} checked, with every default filled in. */
export interface ResolvedMemoryStoreOptions {
  readonly maxKeys: number
  readonly maxSessions: number
  readonly clock: () => number
  readonly expiredKeyRetentionMs: number
  readonly sweepIntervalMs: number
}

/** Checks the options (throwing `TypeError` for a bad one) and fills in the defaults. */
export function resolveMemoryStoreOptions(options: MemoryStoreOptions): ResolvedMemoryStoreOptions {
  return {
    maxKeys: optionalCount(options.maxKeys, 100_000, 'MemoryStore: maxKeys'),
    maxSessions: optionalCount(options.maxSessions, 1_000_000, 'MemoryStore: maxSessions'),
    clock: options.clock ?? Date.now,
    expiredKeyRetentionMs: optionalMilliseconds(
      options.expiredKeyRetentionMs,
      30 * DAY_MS,
      'MemoryStore: expiredKeyRetentionMs',
    ),
    sweepIntervalMs: optionalMilliseconds(
      options.sweepIntervalMs,
      60_000,
      'MemoryStore: sweepIntervalMs',
    ),
  }
}
