import { LRUCache } from 'lru-cache'
import type { AuthContext } from './auth-context.js'
import type { AddressMatcher, IpAddress } from './ip.js'
import type { SessionClaims } from './session-token.js'
import type { StoreChange, StoredKey, StoredSession } from './store.js'
import type { UsageMark } from './usage-recorder.js'

/** Options of the in-process cache of verified credentials. */
export interface CacheOptions {
  /** Most entries per kind (keys, sessions). Default 10,000. */
  maxEntries?: number
  /**
   * Longest an entry is trusted without asking the store again: the staleness bound when a
   * change notification is missed. Default: 30 s while the store's `watch()` feed is
   * subscribed (changes reach the cache through it; the ttl only backs it up), 5 s otherwise.
   */
  ttlMs?: number
  /** How long "no such key" is remembered. Default 1000 ms. */
  negativeTtlMs?: number
}

/**
 * A key record as this instance last read it, and what was derived from it on the first
 * request it admitted, so that later requests with the same key repeat none of that work.
 */
export class KeyEntry {
  /** The frozen acceptance handed to every request this entry admits. */
  accepted: { readonly ok: true; readonly auth: AuthContext } | undefined = undefined
  /** The record's compiled allowlist. */
  matcher: AddressMatcher | undefined = undefined
  /**
   * The last client address checked against `matcher` (parsed addresses are shared), the
   * socket address it came from when no proxy is trusted, and the answer.
   */
  lastAddress: IpAddress | null | undefined = undefined
  lastPeer: string | undefined = undefined
  lastAllowed = false
  /** Where this key's uses are noted for the batched `lastUsedAt`. */
  usage: UsageMark | undefined = undefined

  constructor(
    readonly record: StoredKey | null,
    readonly validUntil: number,
  ) {}
}

export interface SessionEntry {
  readonly claims: SessionClaims
  /** The session as the store last returned it. */
  session: StoredSession
  /** When the store last answered for it (touch or read). */
  checkedAt: number
  /** When this instance last wrote a touch for it. */
  touchedAt: number
  /** The acceptance `session` earned, kept until `session` is replaced. */
  accepted?: { readonly ok: true; readonly auth: AuthContext } | undefined
}

/** Default ttls: without a change feed it is the only staleness bound; with one, a backstop. */
export const UNWATCHED_TTL_MS = 5000
export const WATCHED_TTL_MS = 30_000

/**
 * One options object for every hot-path `get`: without it lru-cache allocates a fresh one per
 * call (it only ever writes `status: undefined` here while no diagnostics subscriber listens).
 */
const HOT_GET: LRUCache.GetOptions<string, never, unknown> = {}

/**
 * Verified keys (by stored hash) and verified Client Session Tokens (by a hash of the token):
 * bounded LRU maps whose entries also expire on the gate's own clock, so tests can drive them.
 * Store failures are never cached. `apply` drops what a {@link StoreChange} made stale.
 */
export class AuthCache {
  readonly keys: LRUCache<string, KeyEntry>
  readonly sessions: LRUCache<string, SessionEntry>
  /** The ttl in force: the configured one, else the default for the feed's state. */
  ttlMs: number
  readonly negativeTtlMs: number
  readonly #configuredTtlMs: number | undefined
  /**
   * Counts applied changes. A store read that started before a change must not be cached
   * after it: callers note the generation before reading and cache only if it is unchanged.
   */
  generation = 0

  constructor(options: CacheOptions) {
    const max = options.maxEntries ?? 10_000
    if (!Number.isSafeInteger(max) || max < 1)
      throw new TypeError('cache.maxEntries must be a positive integer')
    this.#configuredTtlMs = options.ttlMs
    this.ttlMs = options.ttlMs ?? UNWATCHED_TTL_MS
    this.negativeTtlMs = options.negativeTtlMs ?? 1000
    for (const [name, value] of [
      ['ttlMs', this.ttlMs],
      ['negativeTtlMs', this.negativeTtlMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0)
        throw new TypeError(`cache.${name} must be a non-negative integer`)
    }
    this.keys = new LRUCache({ max })
    this.sessions = new LRUCache({ max })
  }

  /** The cached key record for a hash, or undefined when unknown or too old. */
  key(hash: string, now: number): KeyEntry | undefined {
    const entry = this.keys.get(hash, HOT_GET)
    if (entry === undefined) return undefined
    if (now >= entry.validUntil) {
      this.keys.delete(hash)
      return undefined
    }
    return entry
  }

  rememberKey(hash: string, record: StoredKey | null, now: number): KeyEntry {
    const entry = new KeyEntry(record, now + (record === null ? this.negativeTtlMs : this.ttlMs))
    this.keys.set(hash, entry)
    return entry
  }

  /** The cached state of a verified token, by the token's digest. */
  session(tokenKey: string): SessionEntry | undefined {
    return this.sessions.get(tokenKey, HOT_GET)
  }

  /** The store's change feed is subscribed: entries may live longer (unless ttlMs was set). */
  feedOpened(): void {
    this.ttlMs = this.#configuredTtlMs ?? WATCHED_TTL_MS
  }

  /** Drops whatever a change made stale. Cheap: changes are rare next to requests. */
  apply(change: StoreChange): void {
    this.generation++
    if (change.type === 'reset') {
      this.clear()
      return
    }
    if (change.type === 'key') {
      this.keys.delete(change.hash)
      return
    }
    for (const [tokenHash, entry] of this.sessions.entries()) {
      const { session } = entry
      const stale =
        change.type === 'session'
          ? session.id === change.sessionId
          : session.projectId === change.projectId &&
            session.mode === change.mode &&
            session.clientId === change.clientId
      if (stale) this.sessions.delete(tokenHash)
    }
  }

  clear(): void {
    this.keys.clear()
    this.sessions.clear()
  }
}
