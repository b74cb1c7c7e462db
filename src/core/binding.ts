import { type AuthenticateOptions, type Decider, deciderOf } from './authenticate.js'
import type { HttpErrorOptions } from './http.js'
import { parseRequiredPermissions } from './permissions.js'
import type { Portcullis } from './portcullis.js'
import { type CredentialKind, isMode, type Mode } from './types.js'

/** Options shared by every middleware of both bindings. */
export interface GuardOptions extends HttpErrorOptions {
  /** Require this mode; a credential of the other mode gets 403 `mode_mismatch`. */
  readonly mode?: Mode
}

/** Options of `requireSecretKey` in both bindings: those of every guard, and `permission`. */
export interface SecretKeyGuardOptions extends GuardOptions {
  /**
   * What a restricted key (`rk_…`) needs to pass here: `'charges:write'`, or a list (all of
   * them needed). Write implies read. A secret key (`sk_…`) has every permission. Without it,
   * restricted keys are refused with 403 `permission_denied`: a route must say what a
   * restricted key may do there. Each resource must be in the gate's catalog
   * (`createPortcullis({ resources })`, plus `client_sessions`), checked when the guard is made.
   */
  readonly permission?: string | readonly string[]
}

/**
 * What a binding asks the core for one request: the auth itself when accepted (the core's
 * `Verdict`: no wrapper object to read on every request), or the refusal, which the binding
 * renders (`toHttpError`, or its `onError`). The answer is synchronous when the core could
 * decide from its cache (so a binding can go on without waiting a promise tick), and a promise
 * otherwise.
 */
export type Guard = Decider

/**
 * `usage` names the factory in errors: `requireSecretKey(gate, options)`. Everything is checked
 * and built here, once per guard: the request path only looks the decision up.
 */
export function createGuard(
  gate: Portcullis,
  credential: CredentialKind,
  options: SecretKeyGuardOptions,
  usage = 'createGuard(gate, credential, options)',
): Guard {
  // One frozen object per guard, checked by the core once.
  const authenticateOptions: AuthenticateOptions = Object.freeze({
    credential,
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.permission === undefined
      ? {}
      : { permission: requiredPermissions(gate, credential, options.permission, usage) }),
  })
  return deciderOf(gate, authenticateOptions)
}

/**
 * A guard's `permission`, checked against the gate's catalog (a `TypeError` naming the fix for
 * an unknown resource or a malformed permission) and copied, so a list changed afterwards
 * changes nothing.
 */
function requiredPermissions(
  gate: Portcullis,
  credential: CredentialKind,
  permission: string | readonly string[],
  usage: string,
): readonly string[] {
  if (credential !== 'secret') {
    throw new TypeError(`${usage}: permission applies to requireSecretKey only`)
  }
  const resources: unknown = (gate as { resources?: unknown }).resources
  if (!Array.isArray(resources)) {
    throw new TypeError(
      `${usage}: permission needs the gate createPortcullis() returned (this one lists no resources)`,
    )
  }
  const required = parseRequiredPermissions(permission, new Set<string>(resources), usage)
  return Object.freeze(required.map((each) => each.text))
}

/*
 * Misuse checks shared by the bindings. They run once, when a factory is called, so the
 * middleware they return is exactly as cheap as without them; they matter for JavaScript
 * callers (and `any`), since the TypeScript signatures already require a gate.
 */

/** A value in an error message: its kind, and short strings verbatim (never a long one: it could be a secret). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'function':
      return 'a function'
    case 'object':
      return 'an object'
    case 'string':
      return value.length <= 20 ? JSON.stringify(value) : `a string of ${value.length} characters`
    case 'symbol':
      return 'a symbol'
    default:
      return String(value)
  }
}

function hasMethod(value: unknown, method: string): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as Record<string, unknown>)[method] === 'function'
  )
}

/** Whether `gate` can serve a factory: the guards need `authenticate`, `ipAllowlist` needs `allowlist`. */
export function isGate(
  gate: unknown,
  method: 'authenticate' | 'allowlist' = 'authenticate',
): boolean {
  return hasMethod(gate, method)
}

/**
 * Throws unless `gate` has the method the factory calls (duck-typed, as `deciderOf` is).
 * `usage` is the call as it should be written, e.g. `requireSecretKey(gate)`.
 */
export function checkGate(
  gate: unknown,
  usage: string,
  method: 'authenticate' | 'allowlist' = 'authenticate',
): asserts gate is Portcullis {
  if (isGate(gate, method)) return
  const got =
    typeof gate === 'object' && gate !== null && !Array.isArray(gate)
      ? `an object without an ${method}() method`
      : describeValue(gate)
  throw new TypeError(`${usage}: gate must be the object createPortcullis() returned (got ${got})`)
}

/** What one option accepts: a test, and how the message goes on after the option's name. */
export interface OptionRule {
  readonly accepts: (value: unknown) => boolean
  readonly expected: string
}

/** A rule for every option of `T`: the compiler refuses a table that misses or invents one. */
export type OptionRules<T> = { readonly [K in keyof T]-?: OptionRule }

export const FUNCTION_OPTION: OptionRule = {
  accepts: (value) => typeof value === 'function',
  expected: 'must be a function',
}
export const BOOLEAN_OPTION: OptionRule = {
  accepts: (value) => typeof value === 'boolean',
  expected: 'must be true or false',
}

export const HTTP_ERROR_OPTION_RULES: OptionRules<HttpErrorOptions> = {
  realm: { accepts: (value) => typeof value === 'string', expected: 'must be a string' },
  retryAfterSeconds: {
    accepts: (value) => Number.isSafeInteger(value) && (value as number) >= 0,
    expected: 'must be a non-negative whole number of seconds',
  },
}

/** The options of `requirePublishableKey` and `requireSession`. */
export const GUARD_OPTION_RULES: OptionRules<GuardOptions> = {
  mode: { accepts: isMode, expected: 'must be "test" or "live"' },
  ...HTTP_ERROR_OPTION_RULES,
}

/**
 * The options of `requireSecretKey`: a permission's shape is checked here, its resource against
 * the gate's catalog by {@link createGuard}.
 */
export const SECRET_KEY_GUARD_OPTION_RULES: OptionRules<SecretKeyGuardOptions> = {
  mode: GUARD_OPTION_RULES.mode,
  permission: {
    accepts: (value) =>
      typeof value === 'string' ||
      (Array.isArray(value) &&
        value.length > 0 &&
        value.every((entry) => typeof entry === 'string')),
    expected: 'must be "resource:read" or "resource:write", or a non-empty list of them',
  },
  ...HTTP_ERROR_OPTION_RULES,
}

/**
 * Checks a factory's options once: an object (or undefined, for none), every name known (fail
 * closed: a misspelt `mdoe` must not leave a route open to both modes), every value of the
 * right kind. An option set to undefined counts as not set. `usage` prefixes the messages.
 */
export function checkOptions<T extends object>(
  options: unknown,
  rules: OptionRules<T>,
  usage: string,
): T {
  if (options === undefined) return {} as T
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${usage}: options must be an object (got ${describeValue(options)})`)
  }
  const table: Readonly<Record<string, OptionRule>> = rules
  const unknown = Object.keys(options).filter((name) => !Object.hasOwn(table, name))
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ')
    throw new TypeError(
      `${usage}: unknown option${unknown.length > 1 ? 's' : ''} ${names} (known options: ${Object.keys(table).join(', ')})`,
    )
  }
  for (const [name, rule] of Object.entries(table)) {
    const value = (options as Record<string, unknown>)[name]
    if (value !== undefined && !rule.accepts(value)) {
      throw new TypeError(`${usage}: ${name} ${rule.expected} (got ${describeValue(value)})`)
    }
  }
  return options as T
}

const reportedByApp = new WeakMap<object, Set<string>>()
const reportedOutsideApps = new Set<string>()

/**
 * The error for a factory the framework called as if it were the middleware (`requireSecretKey`
 * instead of `requireSecretKey(gate)`), found only when a request arrives. The binding hands it
 * to the framework, which answers 500 rather than leaving the request hanging; it is also logged,
 * once per factory and application (`app` is the framework's application, when known), so a
 * busy route does not flood the log.
 */
export function mountedWithoutGate(name: string, usage: string, app: unknown): TypeError {
  const error = new TypeError(`${name} was mounted without a gate: use ${usage}, not ${name}`)
  let reported = reportedOutsideApps
  if ((typeof app === 'object' || typeof app === 'function') && app !== null) {
    reported = reportedByApp.get(app) ?? new Set<string>()
    if (reported.size === 0) reportedByApp.set(app, reported)
  }
  if (!reported.has(name)) {
    reported.add(name)
    console.error(`portcullis: ${error.message}`)
  }
  return error
}

/** A factory's gate and options, once checked. */
export interface CheckedFactoryCall<T> {
  readonly gate: Portcullis
  readonly options: T
}

/**
 * The construction-time checks of a factory called as `name(gate, options)`: the gate, then the
 * options against `rules`. When `gate` is no gate, the binding's `bareMount` looks first for the
 * framework's own arguments (the factory itself mounted as the middleware): it throws the error
 * for the framework to answer with (Koa), or answers with it and returns true (Express), and
 * then the factory returns undefined. `usage` is the call as it should be written.
 */
export function checkFactoryCall<T extends object>(
  name: string,
  usage: string,
  call: { readonly gate: unknown; readonly options: unknown },
  rules: OptionRules<T>,
  bareMount: () => boolean,
): CheckedFactoryCall<T> | undefined
export function checkFactoryCall<T extends object>(
  name: string,
  usage: string,
  call: { readonly gate: unknown; readonly options: unknown },
  rules: OptionRules<T>,
  bareMount: () => void,
): CheckedFactoryCall<T>
export function checkFactoryCall<T extends object>(
  name: string,
  usage: string,
  { gate, options }: { readonly gate: unknown; readonly options: unknown },
  rules: OptionRules<T>,
  bareMount: () => unknown,
): CheckedFactoryCall<T> | undefined {
  if (!isGate(gate) && bareMount() === true) return undefined
  checkGate(gate, usage)
  return { gate, options: checkOptions<T>(options, rules, `${name}(gate, options)`) }
}

/**
 * Throws unless `list` is an array. Its entries are checked (and normalised) when the gate
 * compiles the list, with a message naming the entry at fault.
 */
export function checkAllowlist(list: unknown, usage: string): asserts list is readonly string[] {
  if (Array.isArray(list)) return
  throw new TypeError(
    `${usage}: list must be an array of addresses and CIDR ranges, e.g. ipAllowlist(gate, ['10.0.0.0/8']) (got ${describeValue(list)})`,
  )
}
