import type { AuthContext } from '../core/auth-context.js'
import { type AuthenticateRequest, isRefusal, type Verdict } from '../core/authenticate.js'
import {
  BOOLEAN_OPTION,
  checkAllowlist,
  checkGate,
  checkOptions,
  createGuard,
  FUNCTION_OPTION,
  GUARD_OPTION_RULES,
  type GuardOptions,
  HTTP_ERROR_OPTION_RULES,
  isGate,
  mountedWithoutGate,
  type OptionRules,
  SECRET_KEY_GUARD_OPTION_RULES,
  type SecretKeyGuardOptions,
} from '../core/binding.js'
import type { PortcullisError } from '../core/errors.js'
import { type HttpErrorOptions, type HttpErrorResponse, toHttpError } from '../core/http.js'
import type { Portcullis } from '../core/portcullis.js'
import type { NodeHeaders } from '../core/read-credential.js'
import { NodeGuardRequest, socketAddress } from '../core/socket-address.js'
import type { CredentialKind } from '../core/types.js'

/** The part of a Koa (2 or 3) context the middleware reads and writes. */
export interface KoaContext {
  request: { headers: NodeHeaders }
  req: { socket: { remoteAddress?: string | undefined }; rawHeaders?: string[] }
  state: object
  status: number
  body: unknown
  set(field: Record<string, string>): void
}

/**
 * What the core reads of a Koa request, for `ipAllowlist` and the routers, which spread it into
 * their own requests: the socket's address once per socket (see `socketAddress`). The guards
 * make the same reads into a `NodeGuardRequest`, which reads the address only if a rule asks
 * for it.
 */
export function readRequest(ctx: KoaContext): AuthenticateRequest {
  return {
    headers: ctx.request.headers,
    remoteAddress: socketAddress(ctx.req.socket),
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

/** Options of `requireSecretKey`: those of every guard, and the `permission` a restricted key needs. */
export interface KoaSecretKeyOptions extends KoaGuardOptions, SecretKeyGuardOptions {}

export type KoaAllowlistOptions = HttpErrorOptions & Pick<KoaGuardOptions, 'onError' | 'passErrors'>

const GUARD_OPTIONS: OptionRules<KoaGuardOptions> = {
  ...GUARD_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}
/** `permission` is requireSecretKey's alone: the other guards refuse it as an unknown option. */
const SECRET_KEY_OPTIONS: OptionRules<KoaSecretKeyOptions> = {
  ...SECRET_KEY_GUARD_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}
const ALLOWLIST_OPTIONS: OptionRules<KoaAllowlistOptions> = {
  ...HTTP_ERROR_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * Throws when Koa called a factory itself as a middleware (`router.get('/x', requireSecretKey, …)`):
 * a context with request, response and state, and `next`. The error names the fix, and Koa
 * answers it with 500 instead of the request hanging. Returns when the call was not Koa's.
 * `usage` is the right call.
 */
export function failBareMount(name: string, usage: string, ctx: unknown, next: unknown): void {
  if (!isObject(ctx) || !isObject(ctx.request) || !isObject(ctx.response)) return
  if (!isObject(ctx.state) || typeof next !== 'function') return
  throw mountedWithoutGate(name, usage, ctx.app)
}

async function refuse(
  error: PortcullisError,
  ctx: KoaContext,
  options: KoaAllowlistOptions,
): Promise<void> {
  if (options.passErrors === true) throw error
  const response = toHttpError(error, options)
  if (options.onError !== undefined) return options.onError(error, ctx, response)
  ctx.status = response.status
  ctx.set({ ...response.headers })
  ctx.body = response.body
}

function guard(
  name: string,
  credential: CredentialKind,
  gate: unknown,
  rawOptions: unknown,
): KoaMiddleware {
  if (!isGate(gate)) failBareMount(name, `${name}(gate)`, gate, rawOptions)
  checkGate(gate, `${name}(gate)`)
  const usage = `${name}(gate, options)`
  const options = checkOptions<KoaSecretKeyOptions>(
    rawOptions,
    // The other guards' table has no `permission`: they refuse it as an unknown option.
    (credential === 'secret'
      ? SECRET_KEY_OPTIONS
      : GUARD_OPTIONS) as OptionRules<KoaSecretKeyOptions>,
    usage,
  )
  const decide = createGuard(gate, credential, options, usage)
  const finish = (verdict: Verdict, ctx: KoaContext, next: KoaNext): Promise<unknown> => {
    if (isRefusal(verdict)) return refuse(verdict.error, ctx, options)
    ;(ctx.state as { auth?: AuthContext }).auth = verdict
    return next()
  }
  // Apart from the middleware: V8 allocates the context of the closure made here on every call
  // of the function that makes it, so made in the middleware it would cost every request one.
  const finishLater = (pending: Promise<Verdict>, ctx: KoaContext, next: KoaNext) =>
    pending.then((settled) => finish(settled, ctx, next))
  // Not async: a decision made from the cache goes on to next() without a promise tick.
  return function portcullis(ctx, next) {
    const { req } = ctx
    const verdict = decide(new NodeGuardRequest(ctx.request.headers, req.rawHeaders, req))
    return verdict instanceof Promise ? finishLater(verdict, ctx, next) : finish(verdict, ctx, next)
  }
}

/**
 * Requires a secret key (`sk_…`), or a restricted key (`rk_…`) holding `options.permission`,
 * and enforces that key's own IP allowlist. Sets `ctx.state.auth` (`keyType` says which kind
 * of key; a restricted key's grants are in `permissions`).
 *
 * Without `permission` only secret keys pass; restricted keys get 403 `permission_denied`.
 * With it, a restricted key passes when it holds every permission named (write implies read),
 * and is refused with 403 `permission_denied` naming the one it lacks otherwise. Each
 * permission's resource must be in the gate's catalog (`createPortcullis({ resources })`, plus
 * `client_sessions`): an unknown or malformed one throws a `TypeError` here, not on a request.
 *
 * @example
 * ```ts
 * const gate = createPortcullis({ store, sessionSecret, resources: ['charges', 'customers'] })
 *
 * // Secret keys only.
 * router.post('/v1/payouts', requireSecretKey(gate), (ctx) => {
 *   ctx.body = { livemode: ctx.state.auth.livemode }
 * })
 * // Secret keys, and restricted keys granted charges: 'write'.
 * router.post('/v1/charges', requireSecretKey(gate, { permission: 'charges:write' }), createCharge)
 * // A list: every permission is needed.
 * router.post(
 *   '/v1/customers/:id/charges',
 *   requireSecretKey(gate, { permission: ['charges:write', 'customers:read'] }),
 *   chargeCustomer,
 * )
 * ```
 */
export function requireSecretKey(gate: Portcullis, options?: KoaSecretKeyOptions): KoaMiddleware
export function requireSecretKey(gate: unknown, options?: unknown): KoaMiddleware {
  return guard('requireSecretKey', 'secret', gate, options)
}

/**
 * Requires a publishable key (`pk_…`); a secret key is refused with `wrong_key_type`.
 *
 * @example
 * ```ts
 * router.get('/v1/config', requirePublishableKey(gate), (ctx) => { ctx.body = ctx.state.auth })
 * ```
 */
export function requirePublishableKey(gate: Portcullis, options?: KoaGuardOptions): KoaMiddleware
export function requirePublishableKey(gate: unknown, options?: unknown): KoaMiddleware {
  return guard('requirePublishableKey', 'publishable', gate, options)
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
export function requireSession(gate: Portcullis, options?: KoaGuardOptions): KoaMiddleware
export function requireSession(gate: unknown, options?: unknown): KoaMiddleware {
  return guard('requireSession', 'session', gate, options)
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
  options?: KoaAllowlistOptions,
): KoaMiddleware
// Mounted bare, Koa passes (ctx, next) as (gate, list).
export function ipAllowlist(gate: unknown, list?: unknown, rawOptions?: unknown): KoaMiddleware {
  const usage = 'ipAllowlist(gate, list)'
  if (!isGate(gate, 'allowlist')) failBareMount('ipAllowlist', usage, gate, list)
  checkGate(gate, usage, 'allowlist')
  checkAllowlist(list, usage)
  const options = checkOptions<KoaAllowlistOptions>(
    rawOptions,
    ALLOWLIST_OPTIONS,
    'ipAllowlist(gate, list, options)',
  )
  const check = gate.allowlist(list)
  return async function portcullisAllowlist(ctx, next) {
    const result = check(readRequest(ctx))
    if (result.ok) {
      await next()
      return
    }
    await refuse(result.error, ctx, options)
  }
}
