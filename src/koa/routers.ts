import { checkFactoryCall, type OptionRules } from '../core/binding.js'
import type { Portcullis } from '../core/portcullis.js'
import { clientSessionOperations } from '../operator/client-session-routes.js'
import {
  createOperatorDispatcher,
  OPERATOR_OPTION_RULES,
  type OperatorOptions,
  type OperatorRequest,
} from '../operator/dispatch.js'
import { keyManagementOperations } from '../operator/key-routes.js'
import { readJson } from '../operator/read-json.js'
import type { OperatorRoute } from '../operator/route.js'
import { failBareMount, type KoaContext, type KoaNext, readRequest } from './middleware.js'

/** What the routers read from a Koa context, beyond what the guards read. */
export interface KoaRouteContext extends KoaContext {
  method: string
  path: string
  querystring: string
  request: KoaContext['request'] & { body?: unknown }
  req: KoaContext['req'] & AsyncIterable<Uint8Array | string>
  /** The URL as requested, before a mount (koa-mount) rewrote `path`; Koa sets it. */
  originalUrl?: string
}

export type KoaRouter = (ctx: KoaRouteContext, next: KoaNext) => Promise<void>

export interface KoaRoutesOptions extends OperatorOptions<KoaRouteContext> {
  /** Path the routes live under, e.g. `/v1`. Default: the root. */
  prefix?: string
}

const ROUTES_OPTIONS: OptionRules<KoaRoutesOptions> = {
  ...OPERATOR_OPTION_RULES,
  prefix: {
    // Without the leading slash no request path would ever match: the routes would be unreachable.
    accepts: (value) => typeof value === 'string' && (value === '' || value.startsWith('/')),
    expected: 'must be a path starting with "/", e.g. "/v1"',
  },
}

/** The construction-time checks of both routers, with Koa's bare mount (it throws, Koa answers 500). */
function checked(name: string, usage: string, gate: unknown, options: unknown) {
  return checkFactoryCall<KoaRoutesOptions>(name, usage, { gate, options }, ROUTES_OPTIONS, () =>
    failBareMount(name, usage, gate, options),
  )
}

function mount(
  name: string,
  gate: Portcullis,
  routes: OperatorRoute[],
  options: KoaRoutesOptions,
): KoaRouter {
  const dispatch = createOperatorDispatcher(gate, routes, options, name)
  return serveUnder(options.prefix ?? '', dispatch)
}

/** A request as {@link serveUnder} hands it over: an operator request, and the path as requested. */
export interface KoaMountedRequest<Ctx extends KoaRouteContext = KoaRouteContext>
  extends OperatorRequest<Ctx> {
  /** The path before a mount (koa-mount) rewrote `ctx.path`. */
  readonly originalPath: string
}

/**
 * The Koa side of a mounted handler (the operator routes' dispatcher, or the API keys page):
 * each request under `prefix` goes to `handle`, relative to the prefix, and its answer is
 * written; a request elsewhere, or one `handle` answers null for, goes on to `next`.
 */
export function serveUnder<Ctx extends KoaRouteContext>(
  prefix: string,
  handle: (request: KoaMountedRequest<Ctx>) => Promise<{
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: unknown
  } | null>,
): (ctx: Ctx, next: KoaNext) => Promise<void> {
  const base = prefix.replace(/\/$/, '')
  return async function portcullisRoutes(ctx, next) {
    if (base !== '' && ctx.path !== base && !ctx.path.startsWith(`${base}/`)) {
      await next()
      return
    }
    const relative = ctx.path.slice(base.length) || '/'
    const response = await handle({
      method: ctx.method,
      url: ctx.querystring === '' ? relative : `${relative}?${ctx.querystring}`,
      originalPath: (ctx.originalUrl ?? ctx.path).split('?')[0] as string,
      ...readRequest(ctx),
      readBody: () =>
        ctx.request.body === undefined
          ? readJson(ctx.req, ctx.request.headers['content-type'])
          : Promise.resolve(ctx.request.body),
      native: ctx,
    })
    if (response === null) {
      await next()
      return
    }
    ctx.status = response.status
    ctx.set({ ...response.headers })
    ctx.body = response.body
  }
}

/**
 * The client-session routes, guarded by the caller's secret key (or a restricted key granted
 * `client_sessions: 'write'`; any other restricted key gets 403 `permission_denied`):
 * `POST /client-sessions`, `POST /client-sessions/refresh`, `POST /client-sessions/revoke`,
 * each with body `{ clientId }`. Works with or without a body parser.
 *
 * Every POST, PUT, PATCH and DELETE must carry `Content-Type: application/json` (also with
 * an empty body), or is refused with 400: browsers cannot send that type cross-site without a CORS
 * preflight, so a page elsewhere cannot forge these requests. A path under the prefix with
 * `//` or a backslash is refused with 400 too.
 *
 * @example
 * ```ts
 * app.use(clientSessionRoutes(gate, { prefix: '/v1' }))
 * ```
 */
export function clientSessionRoutes(gate: Portcullis, options?: KoaRoutesOptions): KoaRouter
// Mounted bare, Koa passes (ctx, next) as (gate, options).
export function clientSessionRoutes(gate: unknown, options?: unknown): KoaRouter {
  const name = 'clientSessionRoutes'
  const valid = checked(name, `${name}(gate)`, gate, options)
  return mount(name, valid.gate, clientSessionOperations(valid.gate), valid.options)
}

/**
 * The key-management routes for a dashboard backend (provision, list, create, update, roll,
 * delete, allowlist, reveal). `authorize(ctx, target)` is required: who your operators are is yours to
 * decide. `target` names what the operation acts on (`operationId`, `projectId`, `mode`?,
 * `keyId`?), so a dashboard can let each customer manage only its own project's keys. The
 * same `Content-Type: application/json` rule as {@link clientSessionRoutes} applies.
 *
 * @example
 * ```ts
 * // An internal admin API: one shared token, checked fail-closed (throws at start-up if unset).
 * const isAdmin = createTokenCheck(process.env.ADMIN_TOKEN, 'ADMIN_TOKEN')
 * app.use(keyManagementRoutes(gate, {
 *   prefix: '/v1/admin',
 *   authorize: (ctx) => isAdmin(ctx.get('x-admin-token')),
 * }))
 *
 * // A customer dashboard: each signed-in customer manages its own project only.
 * app.use(keyManagementRoutes(gate, {
 *   prefix: '/dashboard/api',
 *   authorize: (ctx, target) =>
 *     target.operationId !== 'provisionProject' && target.projectId === ctx.state.user.projectId,
 * }))
 * ```
 */
export function keyManagementRoutes(
  gate: Portcullis,
  options: KoaRoutesOptions & Required<Pick<KoaRoutesOptions, 'authorize'>>,
): KoaRouter
export function keyManagementRoutes(gate: unknown, options?: unknown): KoaRouter {
  const name = 'keyManagementRoutes'
  const valid = checked(name, `${name}(gate, { authorize })`, gate, options)
  return mount(name, valid.gate, keyManagementOperations(valid.gate), valid.options)
}
