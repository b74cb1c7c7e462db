import { checkFactoryCall } from '../core/binding.js'
import type { Portcullis } from '../core/portcullis.js'
import { clientSessionOperations } from '../operator/client-session-routes.js'
import {
  createOperatorDispatcher,
  OPERATOR_OPTION_RULES,
  type OperatorOptions,
} from '../operator/dispatch.js'
import { keyManagementOperations } from '../operator/key-routes.js'
import { readJson } from '../operator/read-json.js'
import type { OperatorRoute } from '../operator/route.js'
import {
  type ExpressNext,
  type ExpressRequest,
  type ExpressResponse,
  failedBareMount,
  readRequest,
} from './middleware.js'

/** What the routers read from an Express request, beyond what the guards read. */
export interface ExpressRouteRequest extends ExpressRequest, AsyncIterable<Uint8Array | string> {
  method: string
  /** Relative to the mount point, as Express sets it. */
  url: string
  /** Set when a body parser (`express.json()`) ran; otherwise the routers read the body. */
  body?: unknown
}

export type ExpressRouter = (
  req: ExpressRouteRequest,
  res: ExpressResponse,
  next: ExpressNext,
) => Promise<void>

/**
 * The construction-time checks of both routers, with Express's bare mount: `bareNext` is
 * Express's `next` when the factory itself was mounted. Undefined then (the error went to it).
 */
function checked(name: string, usage: string, gate: unknown, options: unknown, bareNext: unknown) {
  return checkFactoryCall<OperatorOptions<ExpressRouteRequest>>(
    name,
    usage,
    { gate, options },
    OPERATOR_OPTION_RULES,
    () => failedBareMount(name, usage, gate, options, bareNext),
  )
}

function mount(
  name: string,
  gate: Portcullis,
  routes: OperatorRoute[],
  options: OperatorOptions<ExpressRouteRequest>,
): ExpressRouter {
  const dispatch = createOperatorDispatcher(gate, routes, options, name)
  return async function portcullisRoutes(req, res, next) {
    try {
      const response = await dispatch({
        method: req.method,
        url: req.url,
        ...readRequest(req),
        readBody: () =>
          req.body === undefined
            ? readJson(req, req.headers['content-type'])
            : Promise.resolve(req.body),
        native: req,
      })
      if (response === null) return next()
      res.status(response.status)
      for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
      res.json(response.body)
    } catch (error) {
      next(error)
    }
  }
}

/**
 * The client-session routes, guarded by the caller's secret key (or a restricted key granted
 * `client_sessions: 'write'`; any other restricted key gets 403 `permission_denied`):
 * `POST /client-sessions`, `POST /client-sessions/refresh`, `POST /client-sessions/revoke`,
 * each with body `{ clientId }`. Works with or without `express.json()`.
 *
 * Every POST, PUT, PATCH and DELETE must carry `Content-Type: application/json` (also with
 * an empty body), or is refused with 400: browsers cannot send that type cross-site without a CORS
 * preflight, so a page elsewhere cannot forge these requests. A path under the mount point
 * with `//` or a backslash is refused with 400 too.
 *
 * @example
 * ```ts
 * app.use('/v1', clientSessionRoutes(gate))
 * ```
 */
export function clientSessionRoutes(
  gate: Portcullis,
  options?: OperatorOptions<ExpressRouteRequest>,
): ExpressRouter
// Three parameters: the third is Express's `next` when the factory itself was mounted.
export function clientSessionRoutes(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressRouter | undefined {
  const name = 'clientSessionRoutes'
  const valid = checked(name, `${name}(gate)`, gate, options, next)
  return valid && mount(name, valid.gate, clientSessionOperations(valid.gate), valid.options)
}

/**
 * The key-management routes for a dashboard backend (provision, list, create, update, roll,
 * delete, allowlist, reveal). `authorize(req, target)` is required: who your operators are is yours to
 * decide. `target` names what the operation acts on (`operationId`, `projectId`, `mode`?,
 * `keyId`?), so a dashboard can let each customer manage only its own project's keys. The
 * same `Content-Type: application/json` rule as {@link clientSessionRoutes} applies.
 *
 * @example
 * ```ts
 * // An internal admin API: one shared token, checked fail-closed (throws at start-up if unset).
 * const isAdmin = createTokenCheck(process.env.ADMIN_TOKEN, 'ADMIN_TOKEN')
 * app.use('/v1/admin', keyManagementRoutes(gate, {
 *   authorize: (req) => isAdmin(req.headers['x-admin-token']),
 *   onEvent: (event) => auditLog.write(event),
 * }))
 *
 * // A customer dashboard: each signed-in customer manages its own project only.
 * app.use('/dashboard/api', requireLogin, keyManagementRoutes(gate, {
 *   authorize: (req, target) =>
 *     target.operationId !== 'provisionProject' && target.projectId === req.user.projectId,
 * }))
 * ```
 */
export function keyManagementRoutes(
  gate: Portcullis,
  options: OperatorOptions<ExpressRouteRequest> &
    Required<Pick<OperatorOptions<ExpressRouteRequest>, 'authorize'>>,
): ExpressRouter
export function keyManagementRoutes(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressRouter | undefined {
  const name = 'keyManagementRoutes'
  const valid = checked(name, `${name}(gate, { authorize })`, gate, options, next)
  return valid && mount(name, valid.gate, keyManagementOperations(valid.gate), valid.options)
}
