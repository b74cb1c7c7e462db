import type { Portcullis } from '../core/portcullis.js'
import {
  createOperatorDispatcher,
  type OperatorOptions,
  type OperatorRequest,
  type OperatorResponse,
} from '../operator/dispatch.js'
import type { OperatorEvent, OperatorTarget } from '../operator/route.js'
import type { ApiKeysPageCapability, ResolvedGrant } from './grant.js'
import { pageKeyOperations } from './key-routes.js'
import { pageSessionOperations } from './session-routes.js'

/*
 * The page's JSON API is run by the operator routes' dispatcher (matching, schema validation,
 * the Content-Type rule, the error envelope, audit events), over the page's own routes. The
 * page puts the granted project at the head of every path it dispatches, `/{projectId}/keys`,
 * so no route ever reads a project from the browser; `authorize` then checks each target
 * against the grant: same project, a granted mode, and the capability the operation needs.
 */

/** What the dispatcher carries to `authorize` and `onEvent`: the request and its grant. */
interface PageCall<Native> {
  readonly request: Native
  readonly grant: ResolvedGrant
}

/** The capability each operation needs; null: every granted user may. Others are refused. */
const NEEDS: Readonly<Record<string, ApiKeysPageCapability | null>> = {
  listKeys: null,
  createKey: 'create',
  rollKey: 'roll',
  revealKey: 'reveal',
  updateKey: 'allowlist',
  deleteKey: 'delete',
  listClientSessions: 'sessions',
  revokeClientSessions: 'sessions',
  revokeClientSession: 'sessions',
}

/** True when the grant covers what the operation acts on. Unknown operations are refused. */
export function grantAllows(grant: ResolvedGrant, target: OperatorTarget): boolean {
  if (target.projectId !== grant.projectId) return false
  if (target.mode === undefined || !grant.modes.includes(target.mode)) return false
  if (!Object.hasOwn(NEEDS, target.operationId)) return false
  const needed = NEEDS[target.operationId]
  return needed === null || needed === undefined || grant.can[needed]
}

/** What the page's script reads first: who it works for and what it may offer. */
export interface PageContext {
  readonly projectId: string
  readonly modes: ResolvedGrant['modes']
  readonly can: ResolvedGrant['can']
  /** The resources a restricted key can be granted, for the permission picker. */
  readonly resources: readonly string[]
  readonly maxGracePeriodMs: number
  /** The gate's clock, so the page computes "works until" with the server's time. */
  readonly now: number
}

export type PageApiRequest<Native> = Omit<OperatorRequest<Native>, 'url'>

export function createPageApi<Native>(
  gate: Portcullis,
  onEvent: ((event: OperatorEvent, request: Native) => void) | undefined,
) {
  const options: OperatorOptions<PageCall<Native>> = {
    authorize: ({ grant }, target) => grantAllows(grant, target),
  }
  if (onEvent !== undefined) options.onEvent = (event, { request }) => onEvent(event, request)
  const dispatch = createOperatorDispatcher<PageCall<Native>>(
    gate,
    [...pageKeyOperations(gate), ...pageSessionOperations(gate)],
    options,
    'apiKeysPage',
  )
  /**
   * Answers one call of the page's API for a granted user. `path` is relative to `api/`, with
   * its query string; null when no route matches.
   */
  return async function callPageApi(
    request: PageApiRequest<Native>,
    grant: ResolvedGrant,
    path: string,
  ): Promise<OperatorResponse | null> {
    if (path === '/context' && request.method.toUpperCase() === 'GET') {
      const context: PageContext = {
        projectId: grant.projectId,
        modes: grant.modes,
        can: grant.can,
        resources: gate.resources,
        maxGracePeriodMs: gate.limits.maxGracePeriodMs,
        now: gate.clock(),
      }
      return { status: 200, headers: {}, body: context }
    }
    return dispatch({
      ...request,
      url: `/${encodeURIComponent(grant.projectId)}${path}`,
      native: { request: request.native, grant },
    })
  }
}
