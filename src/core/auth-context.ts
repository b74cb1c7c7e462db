import type { KeyMetadata } from './metadata.js'
import type { Permissions } from './permissions.js'
import type { CredentialKind, KeyType, Mode } from './types.js'

/**
 * What an authenticated request proved. Frozen, and recognised by the gate that issued it, so
 * an object built by hand cannot be passed off as a secret-key authentication.
 */
export interface AuthContext {
  readonly mode: Mode
  readonly livemode: boolean
  readonly projectId: string
  /** `secret` for server keys (secret and restricted), `publishable`, or `session`. */
  readonly credential: CredentialKind
  /** The API key or development client key that authenticated. */
  readonly keyId?: string
  /** The type of that key: `secret` (full access), `restricted`, `publishable`, `client`. */
  readonly keyType?: KeyType
  /**
   * What a restricted key was granted (resource → `read` | `write`; anything absent is none),
   * for finer checks in your handler. Absent for every other credential.
   */
  readonly permissions?: Permissions
  /** The key's metadata (`{}` when none), for key credentials. Never interpreted by portcullis. */
  readonly metadata?: KeyMetadata
  /** The end user, for session credentials. */
  readonly clientId?: string
  /** The session, for Client Session Tokens. */
  readonly sessionId?: string
}
