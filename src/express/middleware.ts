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
import { GuardRequest, socketAddress } from '../core/socket-address.js'
import type { CredentialKind } from '../core/types.js'
import { requestAuth, setRequestAuth } from './request-auth.js'

/** The part of an Express (4 or 5) request the middleware reads. */
export interface ExpressRequest {
  headers: NodeHeaders
  socket: { remoteAddress?: string | undefined }
  /** Node's raw header list, to refuse a repeated credential header. */
  rawHeaders?: string[]
}

/**
 * What the core reads of an Express request, for `ipAllowlist` and the routers, which spread it
 * into their own requests. The guards make the same reads inline, into a `GuardRequest` that
 * reads the socket's address only if a rule asks for it (inline: behind one more function call,
 * V8 inlined the Express guard differently, about 200 more instructions per decision).
 *
 * Through `Reflect.get`, not `req.headers`: Express re-prototypes each request and then adds
 * properties to it, which gives every request a hidden class of its own, so a named load from
 * it misses V8's inline caches every time and goes through the runtime. `Reflect.get` looks the
 * property up without an inline cache: the three reads cost about 0.8 µs per request this way
 * against 2.5 µs as named loads (`npm run bench:express-reads`, docs/performance.md). Same
 * semantics: `headers` is still read through Node's getter. The socket's address is read once
 * per socket (see `socketAddress`).
 */
export function readRequest(req: ExpressRequest): AuthenticateRequest {
  return {
    headers: Reflect.get(req, 'headers') as NodeHeaders,
    remoteAddress: socketAddress(
      Reflect.get(req, 'socket') as ExpressRequest['socket'] | undefined,
    ),
    rawHeaders: Reflect.get(req, 'rawHeaders') as string[] | undefined,
  }
}

/** The part of an Express response the middleware writes. */
export interface ExpressResponse {
  status(code: number): unknown
  setHeader(name: string, value: string): unknown
  json(body: unknown): unknown
}

export type ExpressNext = (error?: unknown) => void

/**
 * An Express middleware; assignable to Express 4's and 5's `RequestHandler`. It returns a
 * promise only when it had to wait for the store (it never rejects).
 */
export type ExpressMiddleware = (
  req: ExpressRequest,
  res: ExpressResponse,
  next: ExpressNext,
) => void | Promise<void>

/** Options of the Express middleware. */
export interface ExpressGuardOptions extends GuardOptions {
  /**
   * Render refusals yourself (your own error format). Receives the error with its `status` and
   * `code`, and the default rendering (status, headers, body) to reuse or ignore.
   */
  onError?: (
    error: PortcullisError,
    req: ExpressRequest,
    res: ExpressResponse,
    next: ExpressNext,
    response: HttpErrorResponse,
  ) => void
  /** Call `next(error)` instead of answering, so your error handler renders it. Default false. */
  passErrors?: boolean
}

/** Options of `requireSecretKey`: those of every guard, and the `permission` a restricted key needs. */
export interface ExpressSecretKeyOptions extends ExpressGuardOptions, SecretKeyGuardOptions {}

export type ExpressAllowlistOptions = HttpErrorOptions &
  Pick<ExpressGuardOptions, 'onError' | 'passErrors'>

const GUARD_OPTIONS: OptionRules<ExpressGuardOptions> = {
  ...GUARD_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}
/** `permission` is requireSecretKey's alone: the other guards refuse it as an unknown option. */
const SECRET_KEY_OPTIONS: OptionRules<ExpressSecretKeyOptions> = {
  ...SECRET_KEY_GUARD_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}
const ALLOWLIST_OPTIONS: OptionRules<ExpressAllowlistOptions> = {
  ...HTTP_ERROR_OPTION_RULES,
  onError: FUNCTION_OPTION,
  passErrors: BOOLEAN_OPTION,
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * Whether Express called a factory itself as a middleware (`app.get('/x', requireSecretKey, …)`):
 * a request with headers and a socket, a response, and `next`. If so, it hands Express the error
 * that names the fix, so the request ends with 500 instead of hanging. `usage` is the right call.
 */
export function failedBareMount(
  name: string,
  usage: string,
  req: unknown,
  res: unknown,
  next: unknown,
): boolean {
  if (!isObject(req) || !isObject(req.headers) || !isObject(req.socket)) return false
  if (!isObject(res) || typeof next !== 'function') return false
  next(mountedWithoutGate(name, usage, req.app))
  return true
}

function refuse(
  error: PortcullisError,
  req: ExpressRequest,
  res: ExpressResponse,
  next: ExpressNext,
  options: ExpressAllowlistOptions,
): void {
  if (options.passErrors === true) {
    next(error)
    return
  }
  const response = toHttpError(error, options)
  if (options.onError !== undefined) {
    options.onError(error, req, res, next, response)
    return
  }
  res.status(response.status)
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
  res.json(response.body)
}

function guard(
  name: string,
  credential: CredentialKind,
  gate: unknown,
  rawOptions: unknown,
  bareNext: unknown,
): ExpressMiddleware | undefined {
  if (!isGate(gate) && failedBareMount(name, `${name}(gate)`, gate, rawOptions, bareNext)) return
  checkGate(gate, `${name}(gate)`)
  const usage = `${name}(gate, options)`
  const options = checkOptions<ExpressSecretKeyOptions>(
    rawOptions,
    // The other guards' table has no `permission`: they refuse it as an unknown option.
    (credential === 'secret'
      ? SECRET_KEY_OPTIONS
      : GUARD_OPTIONS) as OptionRules<ExpressSecretKeyOptions>,
    usage,
  )
  const decide = createGuard(gate, credential, options, usage)
  const finish = (
    verdict: Verdict,
    req: ExpressRequest,
    res: ExpressResponse,
    next: ExpressNext,
  ): void => {
    if (isRefusal(verdict)) {
      refuse(verdict.error, req, res, next, options)
      return
    }
    setRequestAuth(req, verdict)
    next()
  }
  // Apart from the middleware: V8 allocates the context of the closure made here on every call
  // of the function that makes it, so made in the middleware it would cost every request one.
  const finishLater = (
    pending: Promise<Verdict>,
    req: ExpressRequest,
    res: ExpressResponse,
    next: ExpressNext,
  ) => pending.then((settled) => finish(settled, req, res, next)).catch(next)
  // Not async: a decision made from the cache goes on to next() without a promise tick.
  // Only a bug (or a throwing onError) reaches the catches; Express 4 would not catch a rejection.
  return function portcullis(req, res, next) {
    try {
      const verdict = decide(
        new GuardRequest(
          Reflect.get(req, 'headers') as NodeHeaders,
          Reflect.get(req, 'rawHeaders') as string[] | undefined,
          req,
        ),
      )
      if (verdict instanceof Promise) return finishLater(verdict, req, res, next)
      finish(verdict, req, res, next)
    } catch (error) {
      next(error)
    }
  }
}

/**
 * Requires a secret key (`sk_…`), or a restricted key (`rk_…`) holding `options.permission`,
 * and enforces that key's own IP allowlist. Sets `req.auth` (`keyType` says which kind of key;
 * a restricted key's grants are in `permissions`).
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
 * app.post('/v1/payouts', requireSecretKey(gate), (req, res) => {
 *   res.json({ livemode: getAuth(req).livemode })
 * })
 * // Secret keys, and restricted keys granted charges: 'write'.
 * app.post('/v1/charges', requireSecretKey(gate, { permission: 'charges:write' }), createCharge)
 * // A list: every permission is needed.
 * app.post(
 *   '/v1/customers/:id/charges',
 *   requireSecretKey(gate, { permission: ['charges:write', 'customers:read'] }),
 *   chargeCustomer,
 * )
 * ```
 */
export function requireSecretKey(
  gate: Portcullis,
  options?: ExpressSecretKeyOptions,
): ExpressMiddleware
// Three parameters, not more: Express takes a function of four for an error handler. The third
// is Express's `next` when the factory itself was mounted.
export function requireSecretKey(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressMiddleware | undefined {
  return guard('requireSecretKey', 'secret', gate, options, next)
}

/**
 * Requires a publishable key (`pk_…`); a secret key is refused with `wrong_key_type`.
 *
 * @example
 * ```ts
 * app.get('/v1/config', requirePublishableKey(gate), (req, res) => res.json(getAuth(req)))
 * ```
 */
export function requirePublishableKey(
  gate: Portcullis,
  options?: ExpressGuardOptions,
): ExpressMiddleware
export function requirePublishableKey(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressMiddleware | undefined {
  return guard('requirePublishableKey', 'publishable', gate, options, next)
}

/**
 * Requires a Client Session Token (or a test-mode development client key); each accepted
 * request slides the session's idle expiry.
 *
 * @example
 * ```ts
 * app.get('/v1/me', requireSession(gate), (req, res) => res.json({ clientId: getAuth(req).clientId }))
 * ```
 */
export function requireSession(gate: Portcullis, options?: ExpressGuardOptions): ExpressMiddleware
export function requireSession(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressMiddleware | undefined {
  return guard('requireSession', 'session', gate, options, next)
}

/**
 * Guards a route with a static list of addresses and CIDR ranges, with or without keys.
 * The list is validated once, here. Others get 403 `ip_not_allowed`.
 *
 * @example
 * ```ts
 * app.use('/internal', ipAllowlist(gate, ['10.0.0.0/8', '::1']))
 * ```
 */
export function ipAllowlist(
  gate: Portcullis,
  list: readonly string[],
  options?: ExpressAllowlistOptions,
): ExpressMiddleware
// Mounted bare, Express passes (req, res, next) as (gate, list, options).
export function ipAllowlist(
  gate: unknown,
  list?: unknown,
  rawOptions?: unknown,
): ExpressMiddleware | undefined {
  const usage = 'ipAllowlist(gate, list)'
  if (!isGate(gate, 'allowlist') && failedBareMount('ipAllowlist', usage, gate, list, rawOptions))
    return
  checkGate(gate, usage, 'allowlist')
  checkAllowlist(list, usage)
  const options = checkOptions<ExpressAllowlistOptions>(
    rawOptions,
    ALLOWLIST_OPTIONS,
    'ipAllowlist(gate, list, options)',
  )
  const check = gate.allowlist(list)
  return async function portcullisAllowlist(req, res, next) {
    try {
      const result = check(readRequest(req))
      if (result.ok) return next()
      refuse(result.error, req, res, next, options)
    } catch (error) {
      next(error)
    }
  }
}

/**
 * The `auth` a portcullis middleware attached to this request; throws if none ran. Typed
 * without the global augmentation (`import 'portcullis/express/global'` adds `req.auth`).
 */
export function getAuth(req: object): AuthContext {
  const auth = requestAuth(req)
  if (auth === undefined || auth === null) {
    throw new Error(
      'No portcullis auth on this request: mount requireSecretKey, requirePublishableKey or requireSession first',
    )
  }
  return auth as AuthContext
}
