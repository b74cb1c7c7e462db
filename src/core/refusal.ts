import type { AuthContext } from './auth-context.js'
import { type AuthErrorCode, AuthenticationError, type PortcullisError } from './errors.js'
import type { GateCore } from './options.js'
import type { RequiredPermission } from './permissions.js'
import type { StoredKey } from './store.js'
import type { CredentialKind, KeyType } from './types.js'

/** A refusal, as `authenticate` returns it. */
export type Failure = { readonly ok: false; readonly error: PortcullisError }

export const TYPE_LABEL: Readonly<Record<KeyType, string>> = {
  secret: 'A secret key',
  publishable: 'A publishable key',
  client: 'A development client key',
  restricted: 'A restricted key',
}

const WANTED_LABEL: Readonly<Record<CredentialKind, string>> = {
  secret: 'a secret key',
  publishable: 'a publishable key',
  session: 'a client session token',
}

export function fail(code: Exclude<AuthErrorCode, 'store_unavailable'>, message?: string): Failure {
  return { ok: false, error: new AuthenticationError(code, message) }
}

/** `wrong_key_type`, with a warning to roll a secret key that was sent where it must not go. */
export function wrongType(sent: string, wanted: CredentialKind): Failure {
  const leak =
    sent === TYPE_LABEL.secret || sent === TYPE_LABEL.restricted
      ? ' Secret and restricted keys must stay on your server; roll this key if it was exposed.'
      : ''
  return fail(
    'wrong_key_type',
    `${sent} was sent where ${WANTED_LABEL[wanted]} is required.${leak}`,
  )
}

/**
 * `permission_denied` for a restricted key, in Stripe's helpful wording: which key (redacted),
 * and the permission that would let the request continue; or, on a route that names no
 * permission, that only secret keys are accepted there.
 */
export function permissionDenied(
  key: Pick<StoredKey, 'prefix' | 'last4'> | null,
  missing: RequiredPermission | null,
): Failure {
  const which =
    key === null ? 'This restricted key' : `The provided key '${key.prefix}_…${key.last4}'`
  return fail(
    'permission_denied',
    missing === null
      ? `${which} is a restricted key; this endpoint accepts secret keys only.`
      : `${which} does not have the required permissions for this endpoint. Having the '${missing.text}' permission would allow this request to continue.`,
  )
}

/**
 * The frozen auth this gate issues for a record, which is also its acceptance (see
 * `Verdict`). Its fields never change for a given record object, and cached records are
 * reused, so the steady state allocates nothing here. Every server key's auth is registered as
 * issued by this gate: only those may create sessions.
 *
 * With `source` the auth is remembered for that object, so that every acceptance of it shares
 * one auth. Cached keys keep their own (`KeyTable.auth`) and pass null: one weak-map entry
 * fewer per cached key for the collector to trace.
 */
export function createAcceptor(core: GateCore) {
  const issuedFor = new WeakMap<object, AuthContext>()
  return function accept(source: object | null, make: () => AuthContext): AuthContext {
    let auth = source === null ? undefined : issuedFor.get(source)
    if (auth === undefined) {
      auth = Object.freeze(make())
      // Only a server key's auth can act on sessions, so only those are registered: one
      // weak-set entry fewer per publishable key and session for the collector to trace.
      if (auth.credential === 'secret') core.issued.add(auth)
      if (source !== null) issuedFor.set(source, auth)
    }
    return auth
  }
}

export type Acceptor = ReturnType<typeof createAcceptor>
