/** The two universes. Nothing in one can read or touch anything in the other. */
export type Mode = 'test' | 'live'

/**
 * `secret` (sk_) authenticates servers with full access; `restricted` (rk_) authenticates
 * servers with only the permissions it was granted; `publishable` (pk_) identifies a project
 * from a client; `client` (ck_) is a test-mode development client key, accepted where a
 * session is.
 */
export type KeyType = 'secret' | 'publishable' | 'client' | 'restricted'

/** Key types that authenticate as a server (`credential: 'secret'`). */
export const SERVER_KEY_TYPES: readonly KeyType[] = ['secret', 'restricted']

/** What a credential proved. */
export type CredentialKind = 'secret' | 'publishable' | 'session'

export const MODES: readonly Mode[] = ['test', 'live']
export const KEY_TYPES: readonly KeyType[] = ['secret', 'publishable', 'client', 'restricted']

export function isMode(value: unknown): value is Mode {
  return value === 'test' || value === 'live'
}
