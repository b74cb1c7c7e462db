import type { AuthenticateOptions, AuthenticateRequest } from '../core/authenticate.js'
import {
  describeValue,
  FUNCTION_OPTION,
  HTTP_ERROR_OPTION_RULES,
  type OptionRules,
} from '../core/binding.js'
import { ForbiddenError, InvalidRequestError, isPortcullisError } from '../core/errors.js'
import { type HttpErrorOptions, type HttpErrorResponse, toHttpError } from '../core/http.js'
import type { Portcullis } from '../core/portcullis.js'
import { readHeader } from '../core/read-credential.js'
import { isJsonContentType } from './read-json.js'
import type { OperatorEvent, OperatorRoute, OperatorTarget } from './route.js'
import { type ObjectSchema, validate } from './schema.js'

/** Hooks of the operator routers. `Native` is the framework's request (`req` or `ctx`). */
export interface OperatorOptions<Native> extends HttpErrorOptions {
  /**
   * Decides whether this request may run an operator route (key management). Required there:
   * portcullis never assumes who your operators are. Return false for 403 `forbidden`.
   *
   * `target` says what the operation acts on: its `operationId`, the `projectId` (for routes
   * that name a key, the key's own project), the `mode` when the operation is limited to one,
   * and the `keyId`. Compare `target.projectId` with the caller's project to let each customer
   * manage only its own keys. It is called after the request was validated and, for a key id,
   * after the key was found (an unknown key answers 404 first), and before anything changes.
   */
  authorize?: (request: Native, target: OperatorTarget) => boolean | Promise<boolean>
  /** Hears every change a route made (for audit logs). Must not throw; errors are ignored. */
  onEvent?: (event: OperatorEvent, request: Native) => void
}

/** One request as the bindings hand it over, body not yet read. */
export interface OperatorRequest<Native> extends AuthenticateRequest {
  readonly method: string
  /** Path relative to where the routes are mounted, with the query string. */
  readonly url: string
  /** Reads and parses the JSON body; called only for a matching route. */
  readonly readBody: () => Promise<unknown>
  readonly native: Native
}

/** The answer to write: a status, headers and a JSON body. */
export interface OperatorResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** What each option of the operator routers accepts, for the bindings' construction-time checks. */
export const OPERATOR_OPTION_RULES: OptionRules<OperatorOptions<unknown>> = {
  ...HTTP_ERROR_OPTION_RULES,
  authorize: { ...FUNCTION_OPTION, expected: 'must be a function (request, target) => boolean' },
  onEvent: { ...FUNCTION_OPTION, expected: 'must be a function (event, request) => void' },
}

const EMPTY_OBJECT: ObjectSchema = { type: 'object', properties: {} }

interface CompiledRoute {
  readonly route: OperatorRoute
  readonly pattern: RegExp
  readonly names: readonly string[]
  /** `secret_key` routes: one object per route, so the core parses its permission once. */
  readonly credential?: AuthenticateOptions
}

function compile(route: OperatorRoute): CompiledRoute {
  const names: string[] = []
  const source = route.path
    .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name)
      return '([^/]+)'
    })
  const pattern = new RegExp(`^${source}/?$`)
  if (route.access !== 'secret_key') return { route, pattern, names }
  const credential: AuthenticateOptions = Object.freeze(
    route.permission === undefined
      ? { credential: 'secret' }
      : { credential: 'secret', permission: route.permission },
  )
  return { route, pattern, names, credential }
}

function decode(segment: string, name: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new InvalidRequestError(`${name} is not validly percent-encoded`, name)
  }
}

/**
 * Splits the path from the query string by hand: URL parsing would read `//host/…` (or `/\host/…`)
 * as an authority and route what follows it. Such paths match no operator route (null): they
 * are passed on to the application, which answers them as it answers any unknown path.
 */
function splitUrl(url: string): { path: string; search: URLSearchParams } | null {
  const mark = url.indexOf('?')
  const path = mark === -1 ? url : url.slice(0, mark)
  if (!path.startsWith('/') || path.includes('//') || /\\|%5c/i.test(path)) return null
  return { path, search: new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1)) }
}

/**
 * Cross-site request forgery: a browser sends `text/plain`, form and multipart bodies to any
 * origin without asking first, but `application/json` only after a CORS preflight. Required on
 * every route that changes something, with or without a body, whatever parsed the body.
 */
function requireJsonContentType(request: AuthenticateRequest): void {
  const value = readHeader(request.headers, 'content-type')
  if (!isJsonContentType(value)) {
    throw new InvalidRequestError(
      'Send Content-Type: application/json (required on every POST, PUT, PATCH and DELETE, so browsers cannot send this request cross-site without a preflight)',
      'Content-Type',
    )
  }
}

/** Repeated query parameters are refused: every parameter here takes one value. */
function queryObject(search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of search) {
    if (Object.hasOwn(out, name))
      throw new InvalidRequestError(`Query parameter ${name} is repeated`, name)
    out[name] = value
  }
  return out
}

/**
 * Matches, validates, authorises and runs operator routes. Framework-free: the bindings turn
 * their request into an {@link OperatorRequest} and write the {@link OperatorResponse}.
 * Resolves to null when no route matches (the binding passes the request on).
 *
 * Order: path, route, Content-Type, credential (secret-key routes), params, query, body,
 * target (operator routes), `authorize`, handler. Nothing is changed before `authorize` said yes.
 */
export function createOperatorDispatcher<Native>(
  gate: Portcullis,
  routes: readonly OperatorRoute[],
  options: OperatorOptions<Native>,
  /** The factory the routes come from, to name it in errors. */
  name = 'keyManagementRoutes',
) {
  const compiled = routes.map(compile)
  const operatorRoutes = routes.filter((route) => route.access === 'operator')
  // Options may be missing altogether when the caller is plain JavaScript.
  const authorize: unknown = (options as OperatorOptions<Native> | undefined)?.authorize
  if (operatorRoutes.length > 0 && authorize === undefined) {
    throw new TypeError(
      `${name}(gate, options): options with an authorize(request, target) function are required, e.g. ${name}(gate, { authorize: (request, target) => … }): who may manage keys is yours to decide`,
    )
  }
  // Fail closed: an authorize that would be ignored must not look like a guard.
  if (operatorRoutes.length === 0 && authorize !== undefined) {
    throw new TypeError(
      `${name}(gate, options): takes no authorize: these routes are scoped by the caller's secret key; put your own middleware in front of them to restrict them further`,
    )
  }
  if (operatorRoutes.length > 0 && typeof authorize !== 'function') {
    throw new TypeError(
      `${name}(gate, options): authorize must be a function (request, target) => boolean (got ${describeValue(authorize)})`,
    )
  }
  for (const route of operatorRoutes) {
    if (typeof route.target !== 'function') {
      throw new TypeError(
        `operator route ${route.operationId} has no target(): authorize could not see what it acts on`,
      )
    }
  }
  const fail = (error: Parameters<typeof toHttpError>[0]): OperatorResponse => {
    const rendered: HttpErrorResponse = toHttpError(error, options)
    return { status: rendered.status, headers: rendered.headers, body: rendered.body }
  }

  return async function dispatch(
    request: OperatorRequest<Native>,
  ): Promise<OperatorResponse | null> {
    try {
      const split = splitUrl(request.url)
      if (split === null) return null
      const { path, search } = split
      const method = request.method.toUpperCase()
      let match: { compiled: CompiledRoute; values: RegExpExecArray } | undefined
      for (const candidate of compiled) {
        const values = candidate.pattern.exec(path)
        if (values !== null && candidate.route.method === method) {
          match = { compiled: candidate, values }
          break
        }
      }
      if (match === undefined) return null
      const { route, names, credential } = match.compiled
      if (route.method !== 'GET') requireJsonContentType(request)
      let auth = null
      if (credential !== undefined) {
        const result = await gate.authenticate(request, credential)
        if (!result.ok) return fail(result.error)
        auth = result.auth
      }
      const rawParams = Object.fromEntries(
        names.map((name, i) => [name, decode(match.values[i + 1] as string, name)]),
      )
      const params = validate(route.params ?? EMPTY_OBJECT, rawParams, '') as Record<string, string>
      const query = validate(route.query ?? EMPTY_OBJECT, queryObject(search), '') as Record<
        string,
        unknown
      >
      const rawBody = await request.readBody()
      const body = validate(route.body ?? EMPTY_OBJECT, rawBody ?? {}, '') as Record<
        string,
        unknown
      >
      const input = { auth, params, query, body }
      if (route.access === 'operator') {
        // Present: checked when the dispatcher was created.
        const scope = await (route as Required<Pick<OperatorRoute, 'target'>>).target(input)
        const target: OperatorTarget = Object.freeze({
          ...scope,
          operationId: route.operationId,
        })
        const authorize = options.authorize as NonNullable<typeof options.authorize>
        if ((await authorize(request.native, target)) !== true) return fail(new ForbiddenError())
      }
      const result = await route.handle(input)
      for (const event of result.events) {
        try {
          options.onEvent?.(event, request.native)
        } catch {
          // The change is made; a failing audit hook must not turn it into an error response.
        }
      }
      return { status: route.response.status, headers: {}, body: result.body }
    } catch (error) {
      if (isPortcullisError(error)) return fail(error)
      throw error
    }
  }
}
