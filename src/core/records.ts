import { type AndroidApp, restrictionFields } from './client-restrictions.js'
import { type KeyMetadata, metadataOf } from './metadata.js'
import type { Permissions } from './permissions.js'
import type { StoredKey, StoredSession } from './store.js'
import type { KeyType, Mode } from './types.js'

/** A key as the API shows it: never the secret, never its hash. */
export interface KeyRecord {
  readonly id: string
  readonly projectId: string
  readonly type: KeyType
  readonly mode: Mode
  readonly livemode: boolean
  readonly name: string
  /** Safe to display: the non-secret head and the last four characters, e.g. `sk_test_…x9Qa`. */
  readonly redacted: string
  readonly allowedIps: readonly string[]
  /** A restricted key's grants; null for every other type. */
  readonly permissions: Permissions | null
  /** Your data about the key; `{}` when none. */
  readonly metadata: KeyMetadata
  /** Publishable keys: the web origins it is limited to (empty: not limited to origins). */
  readonly allowedOrigins: readonly string[]
  /** Publishable keys: the Android apps it is limited to. */
  readonly allowedAndroidApps: readonly AndroidApp[]
  /** Publishable keys: the iOS bundle ids it is limited to. */
  readonly allowedIosBundleIds: readonly string[]
  readonly clientId: string | null
  readonly createdAt: number
  readonly expiresAt: number | null
  readonly lastUsedAt: number | null
  readonly rolledToId: string | null
  readonly rolledFromId: string | null
  /** True when `keys.reveal` can show this key again. */
  readonly revealable: boolean
}

/** A Client Session Token's state as the API shows it (the token itself is not kept). */
export interface SessionRecord {
  readonly id: string
  readonly projectId: string
  readonly mode: Mode
  readonly livemode: boolean
  readonly clientId: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly maxExpiresAt: number
  readonly revokedAt: number | null
}

export function toKeyRecord(key: StoredKey, lastUsedAt: number | null = key.lastUsedAt): KeyRecord {
  return {
    id: key.id,
    projectId: key.projectId,
    type: key.type,
    mode: key.mode,
    livemode: key.mode === 'live',
    name: key.name,
    redacted: `${key.prefix}_…${key.last4}`,
    allowedIps: [...key.allowedIps],
    permissions: key.permissions,
    metadata: metadataOf(key.metadata),
    ...restrictionFields(key.clientRestrictions),
    clientId: key.clientId,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt,
    rolledToId: key.rolledToId,
    rolledFromId: key.rolledFromId,
    revealable: key.sealedSecret !== null,
  }
}

export function toSessionRecord(session: StoredSession): SessionRecord {
  return {
    id: session.id,
    projectId: session.projectId,
    mode: session.mode,
    livemode: session.mode === 'live',
    clientId: session.clientId,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    maxExpiresAt: session.maxExpiresAt,
    revokedAt: session.revokedAt,
  }
}
