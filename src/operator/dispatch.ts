import type { AuthenticateRequest } from '../core/authenticate.js'
import { ForbiddenError, InvalidRequestError, isPortcullisError } from '../core/errors.js'
import { type HttpErrorOptions, type HttpErrorResponse, toHttpError } from '../core/http.js'
import type { Portcullis } from '../core/portcullis.js'
import type { OperatorEvent, OperatorRoute } from './routes.js'
import { type ObjectSchema, validate } from './schema.js'

/** Hooks of the operator routers. `Native` is the framework's request (`req` or `ctx`). */
export interface OperatorOptions<Native> extends HttpErrorOptions {
  /**
   * Decides whether this request may run an operator route (key management). Required there:
   * portcullis never assumes who your operators are. Return false for 403 `forbidden`.
   */
  authorize?: (request: Native, operation: { operationId: string }) => boolean | Promise<boolean>
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

const EMPTY_OBJECT: ObjectSchema = { type: 'object', properties: {} }

interface CompiledRoute {
  readonly route: OperatorRoute
  readonly pattern: RegExp
  readonly names: readonly string[]
}

function compile(route: OperatorRoute): CompiledRoute {
  const names: string[] = []
  const source = route.path
    .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name)
      return '([^/]+)'
    })
  return { route, pattern: new RegExp(`^${source}/?$`), names }
}

function decode(segment: string, name: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new InvalidRequestError(`${name} is not validly percent-encoded`, name)
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
 * Matches, authorises, validates and runs operator routes. Framework-free: the bindings turn
 * their request into an {@link OperatorRequest} and write the {@link OperatorResponse}.
 * Resolves to null when no route matches (the binding passes the request on).
 */
export function createOperatorDispatcher<Native>(
  gate: Portcullis,
  routes: readonly OperatorRoute[],
  options: OperatorOptions<Native>,
) {
  const compiled = routes.map(compile)
  if (
    routes.some((route) => route.access === 'operator') &&
    typeof options.authorize !== 'function'
  ) {
    throw new TypeError(
      'key-management routes need an authorize(request) option: who your operators are is yours to decide',
    )
  }
  const fail = (error: Parameters<typeof toHttpError>[0]): OperatorResponse => {
    const rendered: HttpErrorResponse = toHttpError(error, options)
    return { status: rendered.status, headers: rendered.headers, body: rendered.body }
  }

  return async function dispatch(
    request: OperatorRequest<Native>,
  ): Promise<OperatorResponse | null> {
    const url = new URL(request.url, 'http://localhost')
    const method = request.method.toUpperCase()
    let match: { compiled: CompiledRoute; values: RegExpExecArray } | undefined
    for (const candidate of compiled) {
      const values = candidate.pattern.exec(url.pathname)
      if (values !== null && candidate.route.method === method) {
        match = { compiled: candidate, values }
        break
      }
    }
    if (match === undefined) return null
    const { route, names } = match.compiled
    try {
      let auth = null
      if (route.access === 'secret_key') {
        const result = await gate.authenticate(request, { credential: 'secret' })
        if (!result.ok) return fail(result.error)
        auth = result.auth
      } else if (
        !(await (options.authorize as NonNullable<typeof options.authorize>)(request.native, route))
      ) {
        return fail(new ForbiddenError())
      }
      const rawParams = Object.fromEntries(
        names.map((name, i) => [name, decode(match.values[i + 1] as string, name)]),
      )
      const params = validate(route.params ?? EMPTY_OBJECT, rawParams, '') as Record<string, string>
      const query = validate(
        route.query ?? EMPTY_OBJECT,
        queryObject(url.searchParams),
        '',
      ) as Record<string, unknown>
      const rawBody = await request.readBody()
      const body = validate(route.body ?? EMPTY_OBJECT, rawBody ?? {}, '') as Record<
        string,
        unknown
      >
      const result = await route.handle({ auth, params, query, body })
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
