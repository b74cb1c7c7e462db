import type { AuthContext } from './auth-context.js'
import type { AllowlistRanges, IpAddress } from './ip.js'
import type { Origin } from './origins.js'
import type { Failure } from './refusal.js'
import type { StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'

// The flags of a slot, in `KeyTable.bits`.
/** Set on every cache hit, cleared as the eviction hand passes (see {@link KeyTable}). */
export const USED = 1
/** A re-read of the record is under way (see `AuthCache.refreshAheadMs`). */
export const REFRESHING = 2
/** The usage recorder holds the slot's `at` for its next batch. */
export const PENDING = 4
/** The last allowlist answer (for `lastPeer`, or for `lastAddress`). */
export const ALLOWED = 8
/** The slot holds a record (slot {@link MISSING} holds none: "no such key"). */
export const HAS_RECORD = 16
/** The record has an IP allowlist to check. */
export const CHECKS_ADDRESS = 32
/** The record has an expiry (its `expiresAt`). */
export const EXPIRES = 64
/** The record limits the clients it serves (its `clientRestrictions`). */
export const RESTRICTS_CLIENT = 128
export const LIVE = 256
/** The slot is outside the cache: it serves one decision and is then released. */
const SCRATCH = 512
const TYPE_SHIFT = 10

const TYPES: readonly (KeyType | undefined)[] = [
  undefined,
  'secret',
  'publishable',
  'client',
  'restricted',
]

/** The key type that a slot's flags name (none for {@link MISSING}). */
export const typeOf = (bits: number): KeyType | undefined => TYPES[bits >> TYPE_SHIFT]

/** The mode that a slot's flags name, for a slot that holds a record. */
export const modeOf = (bits: number): Mode => ((bits & LIVE) !== 0 ? 'live' : 'test')

/**
 * `lastPeer` of a slot without an answer kept by socket address. A string, not undefined, and an
 * internalized one, as the socket addresses are (see `socket-address.ts`): a comparison V8 has
 * only seen made between internalized strings is compiled as a comparison of references, where
 * one that has seen undefined calls V8's generic `StrictEqual` on every request.
 */
export const NO_PEER = ''

/** The slot that answers for a hash known to match no usable key. Never freed. */
export const MISSING = 0

/** Slots allocated at first; the arrays double as needed, up to the cache's bound. */
const INITIAL_SLOTS = 64

/**
 * What a key limited to certain clients keeps of its last answer: the compiled origin patterns,
 * and the last `Origin` (or `Referer`) header's text with the answer it got. Made on the key's
 * first client check; the other keys hold none.
 */
export class ClientMemo {
  originMatcher: ((origin: Origin) => boolean) | undefined = undefined
  lastOriginHeader: string | undefined = undefined
  lastOriginRefusal: Failure | null = null
}

/** A record's flags, as a slot holds them. */
function bitsOf(record: StoredKey): number {
  let bits = HAS_RECORD | (TYPES.indexOf(record.type) << TYPE_SHIFT)
  if (record.mode === 'live') bits |= LIVE
  if (record.allowedIps.length > 0) bits |= CHECKS_ADDRESS
  if (record.expiresAt !== null) bits |= EXPIRES
  if (record.clientRestrictions !== null) bits |= RESTRICTS_CLIENT
  return bits
}

/**
 * The verified keys an instance holds, laid out by slot: a `Map` from each key's stored hash to
 * a small integer, and what a warm decision reads and writes in arrays indexed by it. Its flags
 * (`bits`: type, mode, whether an allowlist, an expiry or client restrictions apply, the last
 * allowlist answer, the eviction, refresh and usage flags), until when it is trusted
 * (`validUntil`), its newest use not yet written (`at`), the socket address of the last allowlist
 * answer (`lastPeer`) and the auth it hands every request it admits (`auth`); then what only a
 * flag sends a decision to: the record itself, its compiled allowlist and the last address
 * checked against it, and a client-limited key's {@link ClientMemo}. Arrays rather than an
 * object per key: a held key is then a few array elements, not one more object for the
 * collector to trace at every full collection.
 *
 * Why slots and not an object per key: with thousands of keys in use, each per-key object a
 * decision reads is likely a cache miss, and each it writes a dirtied line. Ten thousand keys'
 * flags and times fit in a few hundred kilobytes of typed arrays that stay in the processor's
 * cache; the same state in one object per key cost a Koa toy 5 % of its server CPU over HTTP
 * (`docs/performance.md`).
 *
 * Eviction is second-chance ("clock"): a hit sets {@link USED}; when the table is full, the
 * oldest entry goes unless it was used since the hand last passed it, and a used one moves to
 * the newest end with its flag cleared. Entries in use therefore stay, and one never used since
 * insertion is the first to go, as with an LRU, without a list to reorder on every hit.
 *
 * A slot number is only meaningful until the table next changes: it is read and decided on
 * synchronously, never held across an `await`. Slots outside the cache (`scratch`) serve one
 * decision that must not be cached and are released right after it.
 */
export class KeyTable {
  /** Most cached keys (scratch slots come on top). */
  readonly max: number
  /** The flags by slot (see the constants above). Replaced when the table grows. */
  bits = new Int32Array(INITIAL_SLOTS)
  /** Until when each slot's record is trusted, on the gate's clock. */
  validUntil = new Float64Array(INITIAL_SLOTS)
  /** Each slot's newest use, while {@link PENDING} (see `UsageRecorder`). */
  at = new Float64Array(INITIAL_SLOTS)
  /**
   * The socket address the last allowlist answer came from when no proxy is trusted (the answer
   * is {@link ALLOWED}); {@link NO_PEER} when none is kept.
   */
  readonly lastPeer: string[] = []
  /** The frozen auth handed to every request the slot admits, made on its first. */
  readonly auth: (AuthContext | undefined)[] = []
  /**
   * The record as last read (null for {@link MISSING} and free slots). A renewal in place swaps
   * in the newer, equal read (see `AuthCache.rememberKey`), so that the cache does not keep an
   * older copy alive beside the one a store replaced when it wrote `lastUsedAt`.
   */
  readonly records: (StoredKey | null)[] = []
  /** The record's compiled allowlist, made on its first check. */
  readonly ranges: (AllowlistRanges | undefined)[] = []
  /** The last client address checked against `ranges` (parsed addresses are shared). */
  readonly lastAddress: (IpAddress | null | undefined)[] = []
  /** A client-limited key's memo, made on its first client check. */
  readonly clientMemo: (ClientMemo | undefined)[] = []
  /** Called before a {@link PENDING} slot is freed, to keep its use (see `UsageRecorder`). */
  onReleasePending: ((slot: number) => void) | null = null
  readonly #slots = new Map<string, number>()
  readonly #free: number[] = []
  /**
   * The hand: an iterator kept between evictions. A Map keeps the slots of deleted entries
   * until it next rehashes, and every entry the hand passes is deleted (evicted, or moved to
   * the newest end), so a fresh iteration would first step over all of them, thousands per
   * eviction in a full table (`npm run bench:hot`: 7 µs per miss at 10,000 entries and 57 µs
   * at 100,000, against 0.3 and 0.8 µs with the hand kept). It is kept only while evictions
   * follow one another, so that an idle iterator never holds on to a table the Map replaced.
   */
  #hand: MapIterator<[string, number]> | undefined

  /** `max` 0: a table of scratch slots only, for a gate without a cache. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 0) {
      throw new TypeError(`KeyTable: max must be a whole number, not ${max}`)
    }
    this.max = max
    // Slot 0 is MISSING: no record, never freed.
    this.#allocate()
  }

  /** How many keys are cached. */
  get size(): number {
    return this.#slots.size
  }

  /** The slot cached for `hash`, marked as used; undefined when absent. */
  get(hash: string): number | undefined {
    const slot = this.#slots.get(hash)
    if (slot !== undefined) this.bits[slot] = (this.bits[slot] as number) | USED
    return slot
  }

  /** The slot cached for `hash` without marking it used; undefined when absent. */
  peek(hash: string): number | undefined {
    return this.#slots.get(hash)
  }

  /**
   * Caches `record` under `hash` as the newest entry, trusted until `validUntil`, and returns
   * its slot. A hash already held keeps its slot (and a use pending on it, if the record is of
   * the same key), with everything derived from the older record dropped; a new one takes a free
   * slot, evicting first when the table is full.
   */
  set(hash: string, record: StoredKey, validUntil: number): number {
    if (this.max === 0) throw new Error('KeyTable: a table of scratch slots caches nothing')
    // Read first: a malformed record throws before the table changes.
    const bits = bitsOf(record)
    const slots = this.#slots
    let slot = slots.get(hash)
    if (slot !== undefined) {
      slots.delete(hash)
      this.#hand = undefined
      // A use pending on the slot stays only for the same key.
      if (((this.bits[slot] as number) & PENDING) !== 0 && this.idOf(slot) !== record.id) {
        this.onReleasePending?.(slot)
      }
    } else {
      if (slots.size >= this.max) this.#evictOne()
      else this.#hand = undefined
      slot = this.#allocate()
    }
    this.#fill(slot, record, bits, validUntil)
    slots.set(hash, slot)
    return slot
  }

  /** A slot outside the cache for `record`, to be given back with {@link release}. */
  scratch(record: StoredKey): number {
    const bits = bitsOf(record) | SCRATCH
    const slot = this.#allocate()
    this.#fill(slot, record, bits, Number.NEGATIVE_INFINITY)
    return slot
  }

  /** Frees a {@link scratch} slot once its decision is made; a cached slot stays. */
  release(slot: number): void {
    if (((this.bits[slot] as number) & SCRATCH) !== 0) this.#release(slot)
  }

  delete(hash: string): boolean {
    const slot = this.#slots.get(hash)
    if (slot === undefined) return false
    this.#slots.delete(hash)
    this.#release(slot)
    return true
  }

  clear(): void {
    for (const slot of this.#slots.values()) this.#release(slot)
    this.#slots.clear()
    this.#hand = undefined
  }

  /** Sets or clears `flag` in a slot's bits. */
  flag(slot: number, flag: number, on: boolean): void {
    const bits = this.bits[slot] as number
    this.bits[slot] = on ? bits | flag : bits & ~flag
  }

  /** The record a slot holds (null for {@link MISSING}). */
  record(slot: number): StoredKey | null {
    return this.records[slot] as StoredKey | null
  }

  /** The {@link ClientMemo} of a client-limited key's slot, made on first use. */
  clientMemoOf(slot: number): ClientMemo {
    let memo = this.clientMemo[slot]
    if (memo === undefined) {
      memo = new ClientMemo()
      this.clientMemo[slot] = memo
    }
    return memo
  }

  /** The id of the key a slot holds ('' for {@link MISSING}). */
  idOf(slot: number): string {
    return this.records[slot]?.id ?? ''
  }

  /** Puts `record` in `slot`, with everything derived from an earlier record dropped. */
  #fill(slot: number, record: StoredKey, bits: number, validUntil: number): void {
    // A use pending for the same key stays (`set` has handed over one of another key).
    this.bits[slot] = bits | ((this.bits[slot] as number) & PENDING)
    this.validUntil[slot] = validUntil
    this.#reset(slot, record)
  }

  /** Drops everything a slot held or derived, and gives it `record`. */
  #reset(slot: number, record: StoredKey | null): void {
    this.lastPeer[slot] = NO_PEER
    this.auth[slot] = undefined
    this.records[slot] = record
    this.ranges[slot] = undefined
    this.lastAddress[slot] = undefined
    this.clientMemo[slot] = undefined
  }

  #allocate(): number {
    const slot = this.#free.pop()
    if (slot !== undefined) return slot
    const fresh = this.records.length
    if (fresh === this.bits.length) this.#grow(2 * fresh)
    this.lastPeer.push(NO_PEER)
    this.auth.push(undefined)
    this.records.push(null)
    this.ranges.push(undefined)
    this.lastAddress.push(undefined)
    this.clientMemo.push(undefined)
    return fresh
  }

  #grow(length: number): void {
    const bits = new Int32Array(length)
    bits.set(this.bits)
    this.bits = bits
    const validUntil = new Float64Array(length)
    validUntil.set(this.validUntil)
    this.validUntil = validUntil
    const at = new Float64Array(length)
    at.set(this.at)
    this.at = at
  }

  /** Frees a slot, handing a pending use to the recorder first. */
  #release(slot: number): void {
    if (((this.bits[slot] as number) & PENDING) !== 0) this.onReleasePending?.(slot)
    this.bits[slot] = 0
    this.#reset(slot, null)
    this.#free.push(slot)
  }

  /**
   * Frees the oldest entry not used since the hand last passed it. Used entries on the way
   * move to the newest end, unmarked; after at most one full turn an unmarked one is found.
   * Every live entry lies at or after the hand (it deletes whatever it passes), so resuming it
   * evicts exactly what a fresh iteration from the oldest entry would.
   */
  #evictOne(): void {
    const slots = this.#slots
    for (;;) {
      this.#hand ??= slots.entries()
      const step = this.#hand.next()
      if (step.done === true) {
        // The end of a turn: entries moved to the newest end meanwhile are visited next turn.
        this.#hand = undefined
        continue
      }
      const [hash, slot] = step.value
      slots.delete(hash)
      if (((this.bits[slot] as number) & USED) === 0) {
        this.#release(slot)
        return
      }
      this.flag(slot, USED, false)
      slots.set(hash, slot)
    }
  }
}
