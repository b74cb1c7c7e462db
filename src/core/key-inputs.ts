import type { ClientRestrictionsInput } from './client-restrictions.js'
import type { KeyMetadata } from './metadata.js'
import type { PermissionsInput } from './permissions.js'
import type { KeyRecord } from './records.js'
import type { KeyType, Mode } from './types.js'

/** Input of `gate.keys.create`. */
export interface CreateKeyInput extends ClientRestrictionsInput {
  projectId: string
  type: KeyType
  mode: Mode
  /** Default: "Secret key", "Restricted key", "Publishable key" or "Development client key". */
  name?: string
  /** Secret and restricted keys: addresses and CIDR ranges allowed to use the key. */
  allowedIps?: readonly string[]
  /**
   * Restricted keys only: resource → `'none' | 'read' | 'write'` over the gate's `resources`
   * and `client_sessions`. An omitted resource is none.
   */
  permissions?: PermissionsInput
  /** Your data about the key: a plain JSON object of at most 4 KiB. */
  metadata?: KeyMetadata | null
  /** Epoch ms after which the key stops working. */
  expiresAt?: number | null
  /** Required for `type: 'client'` (test mode only): the end user the key acts for. */
  clientId?: string
}

/** A newly issued key: the plaintext, shown this once, and its record. */
export interface CreatedKey {
  /** The key itself. It is not stored anywhere; hand it over now. */
  readonly key: string
  readonly record: KeyRecord
}

/** The result of `gate.keys.roll`. */
export interface RolledKey extends CreatedKey {
  /** The retired key, with its new `expiresAt` (now, or the end of the grace period). */
  readonly previous: KeyRecord
}

export interface RollKeyOptions {
  /** How long the old key keeps working (never past its own expiry). Default 0: stops now. */
  gracePeriodMs?: number
  /** Expiry of the replacement. Default: none. */
  expiresAt?: number | null
}

/** Input of `gate.keys.update`: only the fields present change, in one atomic write. */
export interface UpdateKeyInput extends ClientRestrictionsInput {
  name?: string
  /** Secret and restricted keys; an empty list lifts the restriction. */
  allowedIps?: readonly string[]
  /** Restricted keys only; replaces the whole grant. */
  permissions?: PermissionsInput
  /** Replaces the metadata; null clears it. */
  metadata?: KeyMetadata | null
}

export interface ListKeysFilter {
  mode?: Mode
  type?: KeyType
}

/** The four keys of a freshly provisioned project. */
export interface ProvisionedProject {
  readonly projectId: string
  readonly test: { readonly secretKey: CreatedKey; readonly publishableKey: CreatedKey }
  readonly live: { readonly secretKey: CreatedKey; readonly publishableKey: CreatedKey }
}
