import type { AuthContext } from './auth-context.js'
import type { ClientRestrictions } from './client-restrictions.js'
import type { AllowlistRanges, IpAddress } from './ip.js'
import type { Origin } from './origins.js'
import type { Failure } from './refusal.js'
import type { Referenced } from './second-chance-cache.js'
import type { StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'
import type { UsageMark } from './usage-recorder.js'

// The bits of `KeyEntry.bits` (the lowest is the key cache's `USED`).
export const REFRESHING = 2
const PENDING = 4
const ALLOWED = 8
export const HAS_RECORD = 16
const CHECKS_ADDRESS = 32
const EXPIRES = 64
const RESTRICTS_CLIENT = 128
const LIVE = 256
const TYPE_SHIFT = 9
/** `bits` with `bit` set or cleared. */
const withBit = (bits: number, bit: number, on: boolean): number => (on ? bits | bit : bits & ~bit)

const TYPES: readonly (KeyType | undefined)[] = [
  undefined,
  'secret',
  'publishable',
  'client',
  'restricted',
]

/**
 * What of a cached key only a first use, a refusal, a renewal or a key with expiry or client
 * restrictions reads: kept apart from the entry, so that a warm decision does not bring it into
 * the processor's cache.
 */
export class KeyDetail {
  /**
   * The record as last read. A renewal in place swaps in the newer, equal read (see
   * {@link AuthCache.rememberKey}), so that the cache does not keep an older copy alive beside
   * the one a store replaced when it wrote `lastUsedAt`.
   */
  record: StoredKey | null
  /** The record's client restrictions (origins, apps), if any. */
  readonly clientRestrictions: ClientRestrictions | null
  /** A publishable key's compiled origin patterns, and its last answer by header text. */
  originMatcher: ((origin: Origin) => boolean) | undefined = undefined
  lastOriginHeader: string | undefined = undefined
  lastOriginRefusal: Failure | null = null
  /**
   * The record's `expiresAt` (null: the key does not expire). Null rather than +Infinity: a
   * field that only ever holds numbers gets a boxed number of its own in every entry.
   */
  readonly expiresAt: number | null
  readonly id: string
  /** The record's compiled allowlist. */
  ranges: AllowlistRanges | undefined = undefined
  /** The last client address checked against `ranges` (parsed addresses are shared). */
  lastAddress: IpAddress | null | undefined = undefined

  constructor(record: StoredKey | null) {
    this.record = record
    this.clientRestrictions = record?.clientRestrictions ?? null
    this.expiresAt = record?.expiresAt ?? null
    this.id = record?.id ?? ''
  }
}

/**
 * A key record as this instance last read it, and what was derived from it on the first
 * request it admitted, so that later requests with the same key repeat none of that work.
 *
 * With thousands of keys in use, each entry a warm decision reads is likely a cache miss, one
 * per 64-byte line it spans. So what every decision reads is held in as few fields as can hold
 * it, and nothing else: the flags (whether a record exists, its type and mode, whether an
 * allowlist, an expiry or client restrictions apply, the last allowlist answer, the eviction,
 * refresh and usage flags) packed into one small integer, the ttl, the usage mark's time, the
 * allowlist's last socket address and the acceptance; everything else is in {@link detail},
 * read only when a flag says it is needed. The entry is its own {@link UsageMark}.
 */
export class KeyEntry implements UsageMark, Referenced {
  /** The flags, as bits (see the constants above): a small integer, kept in the object. */
  bits: number
  /**
   * Trusted until then, in milliseconds after the cache's epoch (see {@link AuthCache.validUntil}
   * for the time itself): a small integer, kept in the object, where a timestamp would be a
   * separate number box and one more memory read per request. A store answer showing the
   * record unchanged moves it on.
   */
  validUntil: number
  /** {@link UsageMark}: its newest use, as an offset from the usage recorder's epoch. */
  at = 0
  /**
   * The socket address the last allowlist answer came from when no proxy is trusted (the
   * answer is a bit of `bits`).
   */
  lastPeer: string | undefined = undefined
  /** The frozen auth handed to every request this entry admits (its acceptance). */
  auth: AuthContext | undefined = undefined
  readonly detail: KeyDetail

  constructor(record: StoredKey | null, validUntil: number) {
    let bits = 0
    if (record !== null) {
      bits = HAS_RECORD | (TYPES.indexOf(record.type) << TYPE_SHIFT)
      if (record.mode === 'live') bits |= LIVE
      if (record.allowedIps.length > 0) bits |= CHECKS_ADDRESS
      if (record.expiresAt !== null) bits |= EXPIRES
      if (record.clientRestrictions !== null) bits |= RESTRICTS_CLIENT
    }
    this.bits = bits
    this.validUntil = validUntil
    this.detail = new KeyDetail(record)
  }

  /** Whether the entry holds a record (else it stands for "no such key"). */
  get hasRecord(): boolean {
    return (this.bits & HAS_RECORD) !== 0
  }

  /** The record as last read (see {@link KeyDetail.record}). */
  get record(): StoredKey | null {
    return this.detail.record
  }

  /** The record's type (none for "no such key"). */
  get type(): KeyType | undefined {
    return TYPES[this.bits >> TYPE_SHIFT]
  }

  get mode(): Mode | undefined {
    return (this.bits & HAS_RECORD) === 0 ? undefined : (this.bits & LIVE) !== 0 ? 'live' : 'test'
  }

  /** Whether the record has an IP allowlist to check. */
  get checksAddress(): boolean {
    return (this.bits & CHECKS_ADDRESS) !== 0
  }

  /** Whether the record has an expiry (then in `detail.expiresAt`). */
  get expires(): boolean {
    return (this.bits & EXPIRES) !== 0
  }

  /** Whether the record limits the clients it serves (then in `detail.clientRestrictions`). */
  get restrictsClient(): boolean {
    return (this.bits & RESTRICTS_CLIENT) !== 0
  }

  /**
   * Set when a request started re-reading the record ahead of `validUntil` (see
   * {@link AuthCache.refreshAheadMs}); cleared when a store answer renews the entry. One attempt
   * per ttl: a failed one is not retried, and the entry lapses at `validUntil` as usual.
   */
  get refreshing(): boolean {
    return (this.bits & REFRESHING) !== 0
  }

  set refreshing(refreshing: boolean) {
    this.bits = withBit(this.bits, REFRESHING, refreshing)
  }

  /** {@link UsageMark}: whether the usage recorder holds this entry for its next batch. */
  get pending(): boolean {
    return (this.bits & PENDING) !== 0
  }

  set pending(pending: boolean) {
    this.bits = withBit(this.bits, PENDING, pending)
  }

  /** The last allowlist answer, for `lastPeer` (or for `detail.lastAddress`). */
  get lastAllowed(): boolean {
    return (this.bits & ALLOWED) !== 0
  }

  set lastAllowed(allowed: boolean) {
    this.bits = withBit(this.bits, ALLOWED, allowed)
  }

  /** {@link UsageMark}: the key's id. */
  get id(): string {
    return this.detail.id
  }
}
