import type { IncomingHttpHeaders } from 'node:http'
import type { AuthContext } from '../core/auth-context.js'
import type { AuthenticateRequest } from '../core/authenticate.js'
import {
  createAllowlistGuard,
  createGuard,
  type GuardOptions,
  type GuardResult,
} from '../core/binding.js'
import type { PortcullisError } from '../core/errors.js'
import type { HttpErrorOptions, HttpErrorResponse } from '../core/http.js'
import type { Portcullis } from '../core/portcullis.js'
import type { CredentialKind } from '../core/types.js'

/** The part of a Koa (2 or 3) context the middleware reads and writes. */
export interface KoaContext {
  request: { headers: IncomingHttpHeaders }
  req: { socket: { remoteAddress?: string | undefined }; rawHeaders?: string[] }
  state: object
  status: number
  body: unknown
  set(field: Record<string, string>): void
}

/** What the core reads of a Koa request, for every middleware and router. */
export function readRequest(ctx: KoaContext): AuthenticateRequest {
  return {
    headers: ctx.request.headers,
    remoteAddress: ctx.req.socket?.remoteAddress,
    rawHeaders: ctx.req.rawHeaders,
  }
}

export type KoaNext = () => Promise<unknown>

/**
 * A Koa middleware; assignable to Koa 2's and 3's `Middleware`. It settles when the rest of the
 * chain has (with whatever `next()` settled with), or at once when it answered a refusal.
 */
export type KoaMiddleware = (ctx: KoaContext, next: KoaNext) => Promise<unknown>

/** The state portcullis adds: use as `new Koa<PortcullisState>()` or `Router<PortcullisState>`. */
export interface PortcullisState {
  auth: AuthContext
}

/** Options of the Koa middleware. */
export interface KoaGuardOptions extends GuardOptions {
  /**
   * Render refusals yourself (your own error format). Receives the error with its `status` and
   * `code`, and the default rendering (status, headers, body) to reuse or ignore.
   */
  onError?: (
    error: PortcullisError,
    ctx: KoaContext,
    response: HttpErrorResponse,
  ) => void | Promise<void>
  /** Throw the error instead of answering, so your error middleware renders it. Default false. */
  passErrors?: boolean
}

export type KoaAllowlistOptions = HttpErrorOptions & Pick<KoaGuardOptions, 'onError' | 'passErrors'>

async function refuse(
  error: PortcullisError,
  response: HttpErrorResponse,
  ctx: KoaContext,
  options: KoaAllowlistOptions,
): Promise<void> {
  if (options.passErrors === true) throw error
  if (options.onError !== undefined) return options.onError(error, ctx, response)
  ctx.status = response.status
  ctx.set({ ...response.headers })
  ctx.body = response.body
}

function guard(
  gate: Portcullis,
  credential: CredentialKind,
  options: KoaGuardOptions = {},
): KoaMiddleware {
  const check = createGuard(gate, credential, options)
  const finish = (result: GuardResult, ctx: KoaContext, next: KoaNext): Promise<unknown> => {
    if (result.ok) {
      ;(ctx.state as { auth?: AuthContext }).auth = result.auth
      return next()
    }
    return refuse(result.error, result.response, ctx, options)
  }
  // Not async: a decision made from the cache goes on to next() without a promise tick.
  return function portcullis(ctx, next) {
    const result = check(readRequest(ctx))
    return result instanceof Promise
      ? result.then((settled) => finish(settled, ctx, next))
      : finish(result, ctx, next)
  }
}

/**
 * Requires a secret key (`sk_…`) and enforces that key's own IP allowlist. Sets
 * `ctx.state.auth`.
 *
 * @example
 * ```ts
 * router.post('/v1/charges', requireSecretKey(gate), (ctx) => {
 *   ctx.body = { livemode: ctx.state.auth.livemode }
 * })
 * ```
 */
export function requireSecretKey(gate: Portcullis, options?: KoaGuardOptions): KoaMiddleware {
  return guard(gate, 'secret', options)
}

/**
 * Requires a publishable key (`pk_…`); a secret key is refused with `wrong_key_type`.
 *
 * @example
 * ```ts
 * router.get('/v1/config', requirePublishableKey(gate), (ctx) => { ctx.body = ctx.state.auth })
 * ```
 */
export function requirePublishableKey(gate: Portcullis, options?: KoaGuardOptions): KoaMiddleware {
  return guard(gate, 'publishable', options)
}

/**
 * Requires a Client Session Token (or a test-mode development client key); each accepted
 * request slides the session's idle expiry.
 *
 * @example
 * ```ts
 * router.get('/v1/me', requireSession(gate), (ctx) => { ctx.body = { clientId: ctx.state.auth.clientId } })
 * ```
 */
export function requireSession(gate: Portcullis, options?: KoaGuardOptions): KoaMiddleware {
  return guard(gate, 'session', options)
}

/**
 * Guards a route with a static list of addresses and CIDR ranges, with or without keys.
 * The list is validated once, here. Others get 403 `ip_not_allowed`.
 *
 * @example
 * ```ts
 * router.use('/internal', ipAllowlist(gate, ['10.0.0.0/8', '::1']))
 * ```
 */
export function ipAllowlist(
  gate: Portcullis,
  list: readonly string[],
  options: KoaAllowlistOptions = {},
): KoaMiddleware {
  const check = createAllowlistGuard(gate, list, options)
  return async function portcullisAllowlist(ctx, next) {
    const result = check(readRequest(ctx))
    if (result.ok) {
      await next()
      return
    }
    await refuse(result.error, result.response, ctx, options)
  }
}
