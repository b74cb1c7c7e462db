/**
 * The storage contract. A store keeps key records and session records and performs a few
 * conditional writes atomically; every decision (expiry, mode, allowlist, signature) stays in
 * the core. Timestamps are absolute epoch milliseconds; durations end in `Ms`.
 *
 * Rules every store follows (the conformance suite in `portcullis/testing` checks each):
 * - Records are returned as fresh objects; mutating one never changes the store.
 * - Keys are found by their hash only, compared exactly (case-sensitive, whole string). The
 *   plaintext of a key never reaches a store.
 * - A store that cannot answer throws `StoreUnavailableError` (or any error: the core treats
 *   every store failure as unavailable). It never answers "not found" because it is down.
 * - `touchSession`, `revokeSession`, `rollKey` and the inserts are atomic with respect to each
 *   other, also across processes that share the store.
 */
import type { ClientRestrictions } from './client-restrictions.js'
import type { KeyMetadata } from './metadata.js'
import type { Permissions } from './permissions.js'
import type { KeyType, Mode } from './types.js'

/** A key as stored. Holds no secret: `hash` is a one-way digest of the key. */
export interface StoredKey {
  /** Public identifier (`key_…`); safe to log and show. */
  readonly id: string
  readonly projectId: string
  readonly type: KeyType
  readonly mode: Mode
  /** Human label, kept across rolls. */
  readonly name: string
  /** base64url SHA-256 (or HMAC-SHA-256) of the whole key. Unique. The lookup key. */
  readonly hash: string
  /** Non-secret head of the key, e.g. `sk_test`, for display. */
  readonly prefix: string
  /** Last four characters of the key, for display. */
  readonly last4: string
  /** Canonical IP allowlist entries; empty means unrestricted. Secret and restricted keys. */
  readonly allowedIps: readonly string[]
  /** A restricted key's grants (resource → `read` | `write`); null for every other type. */
  readonly permissions: Permissions | null
  /** Your data about the key (a JSON object of at most 4 KiB); null when none was set. */
  readonly metadata: KeyMetadata | null
  /**
   * What a publishable key is limited to: web origins, Android apps or iOS bundle ids (one
   * kind at most); null when unrestricted, and for every other type.
   */
  readonly clientRestrictions: ClientRestrictions | null
  /** The end user a development client key (`type: 'client'`) acts for; otherwise null. */
  readonly clientId: string | null
  readonly createdAt: number
  /** The key stops authenticating at this instant; null = never. */
  readonly expiresAt: number | null
  /** Last successful authentication as last recorded (written in batches, not per request). */
  readonly lastUsedAt: number | null
  /** Set when the key was rolled: the id of its replacement. A key is rolled at most once. */
  readonly rolledToId: string | null
  /** Set on a replacement key: the id of the key it replaced. */
  readonly rolledFromId: string | null
  /** The key encrypted as a compact JWE, for test keys that may be revealed; otherwise null. */
  readonly sealedSecret: string | null
}

/** A Client Session Token's server-side state. The token itself is never stored. */
export interface StoredSession {
  /** Public identifier (`cs_…`), carried in the signed token as `sid`. */
  readonly id: string
  readonly projectId: string
  readonly mode: Mode
  /** The end user the session is for; unique per project and mode, not globally. */
  readonly clientId: string
  readonly createdAt: number
  /** Idle window each touch slides `expiresAt` by, fixed when the session is created. */
  readonly idleTimeoutMs: number
  /** The session is dead from this instant unless touched before; never above `maxExpiresAt`. */
  readonly expiresAt: number
  /** Absolute cap: no touch moves `expiresAt` past it. */
  readonly maxExpiresAt: number
  /** When it was revoked; null while it is not. Revocation is final. */
  readonly revokedAt: number | null
}

/** Identifies one end user within one project and one mode. */
export interface ClientScope {
  readonly projectId: string
  readonly mode: Mode
  readonly clientId: string
}

/**
 * The fields a replacement key inherits from the key it replaces. `rollKey` copies them from
 * the row it locks, not from the caller's copy, so a change made between the caller's read and
 * the roll (an allowlist tightened meanwhile) is never lost on the new key.
 */
export const INHERITED_KEY_FIELDS = [
  'name',
  'allowedIps',
  'permissions',
  'metadata',
  'clientRestrictions',
] as const satisfies readonly (keyof StoredKey)[]

/**
 * The fields `updateKey` may change, each only when present. A field set to a value replaces
 * the stored one; `permissions`, `metadata` and `clientRestrictions` may be set to null.
 */
export type KeyChanges = {
  readonly [Field in (typeof INHERITED_KEY_FIELDS)[number]]?: StoredKey[Field]
}

/**
 * A roll request: insert `replacement` and retire key `id` in one atomic step. The stored
 * replacement takes its {@link INHERITED_KEY_FIELDS} from key `id` as the roll finds it.
 */
export interface KeyRoll {
  readonly id: string
  readonly replacement: StoredKey
  /** The retired key's new expiry; the store keeps `min(current expiresAt, oldExpiresAt)`. */
  readonly oldExpiresAt: number
}

/** The outcome of `rollKey`. Only `rolled` wrote anything. */
export type KeyRollResult =
  | {
      readonly outcome: 'rolled'
      /** The retired key as it stands after the roll. */
      readonly previous: StoredKey
      /** The replacement as stored, with the fields it inherited. */
      readonly replacement: StoredKey
    }
  | { readonly outcome: 'not_found' }
  | { readonly outcome: 'already_rolled' }

/** One key's most recent use, as batched by the core. */
export interface KeyUsage {
  readonly id: string
  readonly lastUsedAt: number
}

/**
 * A write that in-process caches on other instances must hear about: a key rolled, deleted or
 * updated, a session revoked, a client's sessions revoked. Inserts, touches and usage
 * are not announced (nothing cached can depend on a record that did not exist yet).
 */
export type StoreChange =
  | { readonly type: 'key'; readonly keyId: string; readonly hash: string }
  | { readonly type: 'session'; readonly sessionId: string }
  | {
      readonly type: 'client'
      readonly projectId: string
      readonly mode: Mode
      readonly clientId: string
    }
  /** Changes may have been missed (e.g. a subscriber reconnected): drop everything cached. */
  | { readonly type: 'reset' }

/** Stops a `watch` subscription. */
export type Unwatch = () => Promise<void>

/** What `prune` may delete: records whose `expiresAt` is at or before these instants. */
export interface PruneCutoff {
  readonly sessionsExpiredBefore: number
  readonly keysExpiredBefore: number
}

/** The storage contract. Implement it and run `portcullis/testing` against your store. */
export interface PortcullisStore {
  /** Adds a key. Throws `ConflictError` (`conflict`) if its id or hash already exists. */
  insertKey(key: StoredKey): Promise<void>
  /** The hot-path lookup: the key whose `hash` equals `hash` exactly, or null. */
  findKeyByHash(hash: string): Promise<StoredKey | null>
  /** The key with this id, or null. */
  getKey(id: string): Promise<StoredKey | null>
  /** Every key of a project, both modes, in creation order. */
  listKeys(projectId: string): Promise<StoredKey[]>
  /**
   * Atomically applies `changes` (only the fields present) to key `id` and announces the key
   * change; returns the key as it stands afterwards, or null if it does not exist.
   */
  updateKey(id: string, changes: KeyChanges): Promise<StoredKey | null>
  /**
   * Atomically: if key `id` exists and has not been rolled, insert `replacement` with the
   * {@link INHERITED_KEY_FIELDS} of key `id` as this step finds them, set the old key's
   * `rolledToId` and lower its `expiresAt` to `oldExpiresAt`. Concurrent rolls of one key:
   * exactly one succeeds; the others get `already_rolled` and write nothing.
   */
  rollKey(roll: KeyRoll): Promise<KeyRollResult>
  /** Removes a key; true if it existed. */
  deleteKey(id: string): Promise<boolean>
  /** Raises `lastUsedAt` of each listed key that exists (never lowers it). */
  recordKeyUsage(usage: readonly KeyUsage[]): Promise<void>

  /** Adds a session. Throws `ConflictError` (`conflict`) if the id exists. */
  insertSession(session: StoredSession): Promise<void>
  /** The session with this id, or null. */
  getSession(id: string): Promise<StoredSession | null>
  /**
   * Atomically slides a live session: if it exists, is not revoked and `expiresAt > now`, set
   * `expiresAt = max(expiresAt, min(now + idleTimeoutMs, maxExpiresAt))`. Returns the session
   * as it stands afterwards (touched or not), or null if it does not exist. Never creates,
   * revives or shortens a session.
   */
  touchSession(id: string, now: number): Promise<StoredSession | null>
  /** Marks a session revoked (keeps the first `revokedAt`); returns it, or null if missing. */
  revokeSession(id: string, now: number): Promise<StoredSession | null>
  /** Revokes every unrevoked session of one client in one mode; returns how many. */
  revokeClientSessions(scope: ClientScope, now: number): Promise<number>
  /** Every session on record for one client in one mode. */
  listClientSessions(scope: ClientScope): Promise<StoredSession[]>

  /**
   * Optional: calls `listener` for every {@link StoreChange} made through any store instance
   * sharing this backend, this one included, as soon as the backend can deliver it (Redis
   * pub/sub, PostgreSQL LISTEN/NOTIFY, an in-process emitter). Resolves once listening.
   */
  watch?(listener: (change: StoreChange) => void): Promise<Unwatch>

  /**
   * Optional: deletes sessions and keys whose `expiresAt` is at or before the cutoffs, and
   * returns how many records went. Stores with native expiry (Redis TTLs) may omit it.
   */
  prune?(cutoff: PruneCutoff): Promise<number>
}
