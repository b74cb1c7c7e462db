import type { AuthContext } from './auth-context.js'
import { createKeyAuthenticator } from './authenticate-key.js'
import { createSessionAuthenticator } from './authenticate-session.js'
import { isStoreUnavailableError, type PortcullisError, StoreUnavailableError } from './errors.js'
import type { GateCore } from './options.js'
import { parseRequiredPermissions, type RequiredPermission } from './permissions.js'
import { DECIDER } from './portcullis-interface.js'
import type { RequestHeaders } from './read-credential.js'
import { createAcceptor, type Failure } from './refusal.js'
import type { CredentialKind, Mode } from './types.js'

/*
 * The decision for one request, in three files: this one dispatches by the credential a route
 * requires and fails closed on any store failure; authenticate-key.ts holds every rule a
 * secret or publishable key must pass; authenticate-session.ts those of a Client Session Token
 * and a development client key. credential-header.ts reads the header for both.
 */

/** The plain values a binding hands to the core. */
export interface AuthenticateRequest {
  /** Request headers, lower-case names (Node/Express/Koa), or a fetch `Headers`. */
  readonly headers: RequestHeaders
  /** The socket's peer address (`req.socket.remoteAddress`). */
  readonly remoteAddress?: string | undefined
  /**
   * Node's `req.rawHeaders`, when available. Node keeps only the first of two `Authorization`
   * headers in `req.headers`; with the raw list a repeated credential header is refused as
   * malformed instead of being read as its first value.
   */
  readonly rawHeaders?: readonly string[] | undefined
}

export interface AuthenticateOptions {
  /** Which credential the route requires. */
  readonly credential: CredentialKind
  /** Require this mode; a credential of the other mode gets `mode_mismatch` (403). */
  readonly mode?: Mode
  /**
   * With `credential: 'secret'`: the permission a restricted key needs here (`'charges:write'`),
   * or a list (all needed). A secret key has every permission. Without it, restricted keys are
   * refused (`permission_denied`): a route must say what a restricted key may do there.
   */
  readonly permission?: string | readonly string[]
}

export type AuthResult =
  | { readonly ok: true; readonly auth: AuthContext }
  | { readonly ok: false; readonly error: PortcullisError }

/**
 * A decision as the core hands it to the bindings: the auth itself when accepted (no wrapper
 * object: with thousands of keys in use, one more object per key is one more cache miss per
 * request), the refusal otherwise. `gate.authenticate` wraps it into an {@link AuthResult}.
 */
export type Verdict = AuthContext | Failure

/**
 * Whether a verdict (or a binding's rendered one) is a refusal. An auth has no `ok` field; a
 * refusal's is false.
 */
export function isRefusal<R extends { readonly ok: false }>(
  verdict: AuthContext | R,
): verdict is R {
  return (verdict as { readonly ok?: unknown }).ok === false
}

/** The public shape of a verdict. */
export function resultOf(verdict: Verdict): AuthResult {
  return isRefusal(verdict) ? verdict : { ok: true, auth: verdict }
}

/** No permission named: restricted keys are refused. */
const NONE: readonly RequiredPermission[] = Object.freeze([])

export function createAuthenticator(core: GateCore) {
  const accept = createAcceptor(core)
  const keys = createKeyAuthenticator(core, accept)
  const sessions = createSessionAuthenticator(core, accept, keys)
  /** Parsed permissions, by the options object a guard passes on every request. */
  const parsed = new WeakMap<AuthenticateOptions, readonly RequiredPermission[]>()

  /** The permissions `options` require; a malformed or unknown one is a TypeError. */
  function permissionsOf(options: AuthenticateOptions): readonly RequiredPermission[] {
    let required = parsed.get(options)
    if (required === undefined) {
      if (options.credential !== 'secret') {
        throw new TypeError('authenticate(): permission applies to credential "secret" only')
      }
      required = parseRequiredPermissions(options.permission, core.resources, 'authenticate()')
      parsed.set(options, required)
    }
    return required
  }

  /**
   * The decision function for one set of options, checked here once (a `TypeError` for a
   * credential, mode or permission it cannot serve): what a guard calls on every request. A
   * decision is synchronous when everything it needs is cached and a promise when it has to ask
   * the store or verify a signature. It never throws for anything the request contains: every
   * refusal is `{ ok: false, error }` with a stable code, and any store failure or timeout
   * becomes `store_unavailable` (fail closed).
   */
  function prepare(options: AuthenticateOptions): Decider {
    const credential = options?.credential
    if (credential !== 'secret' && credential !== 'publishable' && credential !== 'session') {
      throw new TypeError(
        'authenticate() needs { credential: "secret" | "publishable" | "session" }',
      )
    }
    const { mode } = options
    if (mode !== undefined && mode !== 'test' && mode !== 'live') {
      throw new TypeError('authenticate() option mode must be "test" or "live"')
    }
    const required = options.permission === undefined ? NONE : permissionsOf(options)
    return (request) => {
      let decision: Decision
      try {
        decision =
          credential === 'session'
            ? sessions.authenticate(request, mode)
            : keys.authenticate(request, credential, mode, required)
      } catch (error) {
        return storeFailure(error)
      }
      return decision instanceof Promise ? decision.catch(storeFailure) : decision
    }
  }

  return {
    prepare,
    /** One decision, always as a promise: the public `gate.authenticate`. */
    async authenticate(
      request: AuthenticateRequest,
      options: AuthenticateOptions,
    ): Promise<AuthResult> {
      return resultOf(await prepare(options)(request))
    },
  }
}

/** Any failure on the way to a decision is the store's: fail closed with 503. */
function storeFailure(error: unknown): Failure {
  if (isStoreUnavailableError(error)) return { ok: false, error }
  return { ok: false, error: new StoreUnavailableError(undefined, { cause: error }) }
}

/** A decision, synchronous when it could be made from the cache. */
export type Decision = Verdict | Promise<Verdict>

/** The decision for one request under options fixed beforehand. */
export type Decider = (request: AuthenticateRequest) => Decision

/**
 * The gate's decision function for `options`, checked once: the bindings use it to call
 * `next()` without a promise tick when the answer was cached. Any other object with an
 * `authenticate` method works through it, one promise per request.
 */
export function deciderOf(
  gate: {
    authenticate(request: AuthenticateRequest, options: AuthenticateOptions): Promise<AuthResult>
    readonly [DECIDER]?: (options: AuthenticateOptions) => Decider
  },
  options: AuthenticateOptions,
): Decider {
  const prepare = gate[DECIDER]
  if (prepare !== undefined) return prepare(options)
  return (request) =>
    gate.authenticate(request, options).then((result) => (result.ok ? result.auth : result))
}
