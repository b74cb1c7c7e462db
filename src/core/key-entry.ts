import type { AuthContext } from './auth-context.js'
import type { ClientRestrictions } from './client-restrictions.js'
import type { AllowlistRanges, IpAddress } from './ip.js'
import type { Origin } from './origins.js'
import type { Failure } from './refusal.js'
import type { StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'
import type { UsageMark } from './usage-recorder.js'

/**
 * A key record as this instance last read it, and what was derived from it on the first
 * request it admitted, so that later requests with the same key repeat none of that work.
 *
 * The fields every warm decision reads are copied here from the record (type, mode, expiry,
 * whether an allowlist applies, the client restrictions), and the entry is its own
 * {@link UsageMark}: a cache hit then touches this one object, not the record, its allowlist
 * array and a separate mark, each of which is a likely cache miss with thousands of keys in
 * use.
 */
export class KeyEntry implements UsageMark {
  // The fields a warm decision reads come first, in the order it reads them, so that they
  // share the object's first cache lines; what only a first use or a refusal needs follows.

  /** Whether the entry was used since the key cache's eviction hand last passed it. */
  used = false
  /**
   * Trusted until then, in milliseconds after the cache's epoch (see {@link AuthCache.validUntil}
   * for the time itself): a small integer, kept in the object, where a timestamp would be a
   * separate number box and one more memory read per request. A store answer showing the
   * record unchanged moves it on.
   */
  validUntil = 0
  /**
   * The record as last read. A renewal in place swaps in the newer, equal read (see
   * {@link AuthCache.rememberKey}), so that the cache does not keep an older copy alive beside
   * the one a store replaced when it wrote `lastUsedAt`.
   */
  record: StoredKey | null
  /**
   * Set when a request started re-reading the record ahead of `validUntil` (see
   * {@link AuthCache.refreshAheadMs}); cleared when a store answer renews the entry. One attempt
   * per ttl: a failed one is not retried, and the entry lapses at `validUntil` as usual.
   */
  refreshing = false
  /** Copied from the record (none for "no such key"): read by every decision. */
  readonly type: KeyType | undefined
  /** Whether the record has an IP allowlist to check. */
  readonly checksAddress: boolean
  /**
   * The socket address the last allowlist answer came from when no proxy is trusted, and the
   * answer.
   */
  lastPeer: string | undefined = undefined
  lastAllowed = false
  /**
   * The record's `expiresAt` (null: the key does not expire). Null rather than +Infinity: a
   * field that only ever holds numbers gets a boxed number of its own in every entry.
   */
  readonly expiresAt: number | null
  readonly mode: Mode | undefined
  /** The record's client restrictions (origins, apps), if any. */
  readonly clientRestrictions: ClientRestrictions | null
  /** {@link UsageMark}: its newest use noted here, whether a batch holds it, the key's id. */
  at = 0
  pending = false
  /** The frozen auth handed to every request this entry admits (its acceptance). */
  auth: AuthContext | undefined = undefined
  readonly id: string
  /** The record's compiled allowlist. */
  ranges: AllowlistRanges | undefined = undefined
  /** The last client address checked against `ranges` (parsed addresses are shared). */
  lastAddress: IpAddress | null | undefined = undefined
  /** A publishable key's compiled origin patterns, and its last answer by header text. */
  originMatcher: ((origin: Origin) => boolean) | undefined = undefined
  lastOriginHeader: string | undefined = undefined
  lastOriginRefusal: Failure | null = null

  constructor(record: StoredKey | null, validUntil: number) {
    this.validUntil = validUntil
    this.record = record
    this.type = record?.type
    this.checksAddress = record !== null && record.allowedIps.length > 0
    this.expiresAt = record?.expiresAt ?? null
    this.mode = record?.mode
    this.clientRestrictions = record?.clientRestrictions ?? null
    this.id = record?.id ?? ''
  }
}
