import type { AuthContext } from './auth-context.js'
import { type AuthenticateRequest, type AuthResult, decisionOf } from './authenticate.js'
import type { PortcullisError } from './errors.js'
import { type HttpErrorOptions, type HttpErrorResponse, toHttpError } from './http.js'
import type { Portcullis } from './portcullis.js'
import type { CredentialKind, Mode } from './types.js'

/** Options shared by every middleware of both bindings. */
export interface GuardOptions extends HttpErrorOptions {
  /** Require this mode; a credential of the other mode gets 403 `mode_mismatch`. */
  readonly mode?: Mode
}

/** A decision as a binding receives it: an acceptance, or a refusal already rendered. */
export type GuardResult =
  | { ok: true; auth: AuthContext }
  | { ok: false; error: PortcullisError; response: HttpErrorResponse }

/**
 * What a binding asks the core for one request: the decision, and the rendered refusal. The
 * bindings only read the request and write the response. The answer is synchronous when the
 * core could decide from its cache (so a binding can go on without waiting a promise tick),
 * and a promise otherwise.
 */
export type Guard = (request: AuthenticateRequest) => GuardResult | Promise<GuardResult>

export function createGuard(
  gate: Portcullis,
  credential: CredentialKind,
  options: GuardOptions,
): Guard {
  const authenticateOptions =
    options.mode === undefined ? { credential } : { credential, mode: options.mode }
  const decide = decisionOf(gate)
  const render = (result: AuthResult): GuardResult =>
    result.ok
      ? result
      : { ok: false, error: result.error, response: toHttpError(result.error, options) }
  return (request) => {
    const decision = decide(request, authenticateOptions)
    return decision instanceof Promise ? decision.then(render) : render(decision)
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
