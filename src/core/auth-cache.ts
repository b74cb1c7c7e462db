import { LRUCache } from 'lru-cache'
import type { AuthContext } from './auth-context.js'
import { KeyTable, MISSING, REFRESHING } from './key-table.js'
import { optionalCount, optionalMilliseconds } from './option-checks.js'
import type { SessionClaims } from './session-token.js'
import type { StoreChange, StoredKey, StoredSession } from './store.js'

/** Options of the in-process cache of verified credentials. */
export interface CacheOptions {
  /** Most entries per kind (keys, sessions). Default 10,000. */
  maxEntries?: number
  /**
   * Longest an entry is trusted without asking the store again: the staleness bound when a
   * change notification is missed. Default: 30 s while the store's `watch()` feed is
   * subscribed (changes reach the cache through it; the ttl only backs it up), 5 s otherwise.
   * A key in use is re-read in the background from three quarters of it on, so that requests
   * do not wait for the store.
   */
  ttlMs?: number
  /** How long "no such key" is remembered. Default 1000 ms. */
  negativeTtlMs?: number
  /**
   * Most "no such key" answers remembered. They live in their own LRU, apart from verified
   * keys, so a flood of well-formed junk keys can never evict a verified one. Default: a
   * tenth of `maxEntries`, at least 100.
   */
  maxMisses?: number
}

export interface SessionEntry {
  readonly claims: SessionClaims
  /** The session as the store last returned it. */
  session: StoredSession
  /** When the store last answered for it (touch or read). */
  checkedAt: number
  /** When this instance last wrote a touch for it. */
  touchedAt: number
  /** The auth `session` earned (its acceptance), kept until `session` is replaced. */
  auth?: AuthContext | undefined
}

const CACHE_OPTION_NAMES = {
  maxEntries: true,
  ttlMs: true,
  negativeTtlMs: true,
  maxMisses: true,
} as const satisfies Record<keyof CacheOptions, true>

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
  /** @internal Verified keys only, by slot: a hit costs one `Map.get` and array reads. */
  readonly keys: KeyTable
  /** @internal Hashes that matched no usable key, and until when that answer holds. */
  readonly misses: LRUCache<string, number>
  /** @internal Verified tokens' sessions, by a digest of the token. */
  readonly sessions: LRUCache<string, SessionEntry>
  /**
   * The cached tokens of each session and of each client (project, mode, client id), so that
   * a revocation drops exactly its entries without scanning the cache.
   */
  readonly #tokensBySession = new Map<string, Set<string>>()
  readonly #tokensByClient = new Map<string, Set<string>>()
  /** The ttl in force: the configured one, else the default for the feed's state. */
  ttlMs: number
  /**
   * The store's change feed has started: changes reach the cache through it, and the ttl only
   * backs it up. Until then the ttl is the only bound on another instance's change.
   */
  watched = false
  readonly negativeTtlMs: number
  readonly #configuredTtlMs: number | undefined
  /**
   * Counts applied changes. A store read that started before a change must not be cached
   * after it: callers note the generation before reading and cache only if it is unchanged.
   */
  generation = 0

  constructor(options: CacheOptions) {
    for (const name of Object.keys(options)) {
      if (!Object.hasOwn(CACHE_OPTION_NAMES, name)) {
        throw new TypeError(
          `cache: unknown option "${name}" (known options: ${Object.keys(CACHE_OPTION_NAMES).join(', ')})`,
        )
      }
    }
    const max = optionalCount(options.maxEntries, 10_000, 'cache.maxEntries')
    this.#configuredTtlMs = optionalMilliseconds(options.ttlMs, undefined, 'cache.ttlMs')
    this.ttlMs = this.#configuredTtlMs ?? UNWATCHED_TTL_MS
    this.negativeTtlMs = optionalMilliseconds(options.negativeTtlMs, 1000, 'cache.negativeTtlMs')
    const maxMisses = optionalCount(
      options.maxMisses,
      Math.max(100, Math.ceil(max / 10)),
      'cache.maxMisses',
    )
    this.keys = new KeyTable(max)
    this.misses = new LRUCache({ max: maxMisses })
    this.sessions = new LRUCache({
      max,
      // Called for every way an entry leaves (evicted, deleted, replaced, cleared).
      dispose: (entry, tokenKey) => {
        unindex(this.#tokensBySession, entry.session.id, tokenKey)
        unindex(this.#tokensByClient, clientKeyOf(entry.session), tokenKey)
      },
    })
  }

  /**
   * The cached answer for a hash: a verified key's slot in {@link keys}, {@link MISSING} when
   * the hash is known to match no usable key, or undefined when unknown or too old. An entry
   * past its ttl stays in the table (undefined is returned for it all the same) until the
   * store's next answer for its hash renews, replaces or drops it.
   */
  key(hash: string, now: number): number | undefined {
    const slot = this.keys.get(hash)
    if (slot !== undefined) return now < (this.keys.validUntil[slot] as number) ? slot : undefined
    const missUntil = this.misses.get(hash, HOT_GET)
    if (missUntil === undefined) return undefined
    if (now < missUntil) return MISSING
    this.misses.delete(hash)
    return undefined
  }

  /**
   * How long before a slot's `validUntil` a request that uses it also starts re-reading its
   * record in the background: a quarter of the ttl. A key in steady use is then renewed before
   * it lapses, and no request waits for the store.
   */
  get refreshAheadMs(): number {
    return this.ttlMs / 4
  }

  /** Whether a request at `now` that uses the key in `slot` should start re-reading its record. */
  refreshDue(slot: number, now: number): boolean {
    return now >= (this.keys.validUntil[slot] as number) - this.refreshAheadMs
  }

  /** When the key in `slot` lapses, on the gate's clock. */
  validUntil(slot: number): number {
    return this.keys.validUntil[slot] as number
  }

  /**
   * Caches a store answer read at `now`: a verified record, or null for "no usable key", and
   * returns its slot. When the slot held for the hash has a record equal to this one in
   * everything but `lastUsedAt`, it is renewed in place (holding the newer read): what was
   * derived from it (the compiled allowlist, the acceptance, its pending use) stays valid, and
   * nothing is allocated.
   */
  rememberKey(hash: string, record: StoredKey | null, now: number): number {
    const { keys } = this
    if (record === null) {
      keys.delete(hash)
      this.misses.set(hash, now + this.negativeTtlMs)
      return MISSING
    }
    const until = now + this.ttlMs
    const held = keys.peek(record.hash)
    const heldRecord = held === undefined ? null : keys.record(held)
    if (held !== undefined && heldRecord !== null && sameKeyRecord(heldRecord, record)) {
      keys.records[held] = record
      keys.validUntil[held] = Math.max(keys.validUntil[held] as number, until)
      keys.flag(held, REFRESHING, false)
      return held
    }
    // Keyed by the record's own copy of the hash (the caller checked they are equal): the
    // request's copy is then young garbage, not one more long-lived string per cached key.
    return keys.set(record.hash, record, until)
  }

  /** The cached state of a verified token, by the token's digest. */
  session(tokenKey: string): SessionEntry | undefined {
    return this.sessions.get(tokenKey, HOT_GET)
  }

  /** Caches the state of a token that was verified and found in the store. */
  rememberSession(tokenKey: string, entry: SessionEntry): void {
    this.sessions.set(tokenKey, entry)
    index(this.#tokensBySession, entry.session.id, tokenKey)
    index(this.#tokensByClient, clientKeyOf(entry.session), tokenKey)
  }

  /** The store's change feed is subscribed: entries may live longer (unless ttlMs was set). */
  feedOpened(): void {
    this.watched = true
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
      this.misses.delete(change.hash)
      return
    }
    const tokens =
      change.type === 'session'
        ? this.#tokensBySession.get(change.sessionId)
        : this.#tokensByClient.get(clientKeyOf(change))
    // A copy: each delete shrinks the set through `dispose`.
    if (tokens !== undefined) for (const tokenKey of [...tokens]) this.sessions.delete(tokenKey)
  }

  clear(): void {
    this.keys.clear()
    this.misses.clear()
    this.sessions.clear()
  }
}

const clientKeyOf = (scope: { projectId: string; mode: string; clientId: string }) =>
  `${scope.projectId}\u0000${scope.mode}\u0000${scope.clientId}`

function index(map: Map<string, Set<string>>, key: string, tokenKey: string): void {
  let tokens = map.get(key)
  if (tokens === undefined) {
    tokens = new Set()
    map.set(key, tokens)
  }
  tokens.add(tokenKey)
}

function unindex(map: Map<string, Set<string>>, key: string, tokenKey: string): void {
  const tokens = map.get(key)
  if (tokens === undefined) return
  tokens.delete(tokenKey)
  if (tokens.size === 0) map.delete(key)
}

/**
 * Whether two reads of a key record agree in every field but `lastUsedAt` (which the batched
 * usage writes change): the fields are plain data, so a structural comparison decides it.
 */
export function sameKeyRecord(a: StoredKey, b: StoredKey): boolean {
  if (a === b) return true
  for (const name of Object.keys(a) as (keyof StoredKey)[]) {
    if (name !== 'lastUsedAt' && !samePlainData(a[name], b[name])) return false
  }
  return Object.keys(b).length === Object.keys(a).length
}

function samePlainData(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const names = Object.keys(a)
  if (names.length !== Object.keys(b).length) return false
  for (const name of names) {
    if (!Object.hasOwn(b, name)) return false
    const left = (a as Record<string, unknown>)[name]
    const right = (b as Record<string, unknown>)[name]
    if (!samePlainData(left, right)) return false
  }
  return true
}
