import type { CredentialKind, Mode } from './types.js'

/**
 * What an authenticated request proved. Frozen, and recognised by the gate that issued it, so
 * an object built by hand cannot be passed off as a secret-key authentication.
 */
export interface AuthContext {
  readonly mode: Mode
  readonly livemode: boolean
  readonly projectId: string
  readonly credential: CredentialKind
  /** The API key or development client key that authenticated. */
  readonly keyId?: string
  /** The end user, for session credentials. */
  readonly clientId?: string
  /** The session, for Client Session Tokens. */
  readonly sessionId?: string
}
