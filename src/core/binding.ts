import type { AuthContext } from './auth-context.js'
import type { AuthenticateRequest, AuthResult } from './authenticate.js'
import type { PortcullisError } from './errors.js'
import { type HttpErrorOptions, type HttpErrorResponse, toHttpError } from './http.js'
import type { Portcullis } from './portcullis.js'
import type { CredentialKind, Mode } from './types.js'

/** Options shared by every middleware of both bindings. */
export interface GuardOptions extends HttpErrorOptions {
  /** Require this mode; a credential of the other mode gets 403 `mode_mismatch`. */
  readonly mode?: Mode
}

/**
 * What a binding asks the core for one request: the decision, and the rendered refusal. The
 * bindings only read the request and write the response.
 */
export type Guard = (
  request: AuthenticateRequest,
) => Promise<
  | { ok: true; auth: AuthContext }
  | { ok: false; error: PortcullisError; response: HttpErrorResponse }
>

export function createGuard(
  gate: Portcullis,
  credential: CredentialKind,
  options: GuardOptions,
): Guard {
  const authenticateOptions =
    options.mode === undefined ? { credential } : { credential, mode: options.mode }
  return async (request) => {
    const result: AuthResult = await gate.authenticate(request, authenticateOptions)
    if (result.ok) return result
    return { ok: false, error: result.error, response: toHttpError(result.error, options) }
  }
}

/** The static-allowlist counterpart of {@link createGuard}. */
export function createAllowlistGuard(
  gate: Portcullis,
  list: readonly string[],
  options: HttpErrorOptions,
): (
  request: AuthenticateRequest,
) => { ok: true } | { ok: false; error: PortcullisError; response: HttpErrorResponse } {
  const check = gate.allowlist(list)
  return (request) => {
    const result = check(request)
    if (result.ok) return result
    return { ok: false, error: result.error, response: toHttpError(result.error, options) }
  }
}
