import type { AuthContext } from '../core/auth-context.js'
import type { Mode } from '../core/types.js'
import type { ObjectSchema, Schema } from './schema.js'

/*
 * The shape of an operator route. Each resource's routes live in their own file
 * (client-session-routes.ts, key-routes.ts), their schemas in shapes.ts; dispatch.ts matches,
 * validates, authorises and runs them; openapi.ts describes them.
 */

/**
 * Who may call a route: a secret key (scoped to its project and mode; a restricted key too when
 * it holds the route's `permission`), or an operator.
 */
export type RouteAccess = 'secret_key' | 'operator'

/** What a handler receives, already validated. */
export interface RouteInput {
  readonly auth: AuthContext | null
  readonly params: Readonly<Record<string, string>>
  readonly query: Readonly<Record<string, unknown>>
  readonly body: Readonly<Record<string, unknown>>
}

/**
 * What an operator route acts on, as `authorize(request, target)` sees it: the project always,
 * the mode when the operation is limited to one (absent: both modes, or any), the key for
 * routes that name one. Frozen, and built before anything is changed.
 */
export interface OperatorTarget {
  readonly operationId: string
  readonly projectId: string
  readonly mode?: Mode
  readonly keyId?: string
}

/** Something an operator route changed, for audit logs. */
export interface OperatorEvent {
  readonly type:
    | 'project.provisioned'
    | 'key.created'
    | 'key.rolled'
    | 'key.deleted'
    | 'key.updated'
    | 'key.allowed_ips_updated'
    | 'key.revealed'
    | 'client_session.created'
    | 'client_session.refreshed'
    | 'client_sessions.revoked'
  readonly projectId: string
  readonly mode: Mode
  readonly keyId?: string
  readonly clientId?: string
  readonly at: number
}

/** One operation: its HTTP shape, its schemas (validation and OpenAPI), and its handler. */
export interface OperatorRoute {
  readonly operationId: string
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** OpenAPI style, relative to where the routes are mounted: `/keys/{keyId}/roll`. */
  readonly path: string
  readonly summary: string
  readonly tag: string
  readonly access: RouteAccess
  /**
   * `secret_key` routes: what a restricted key needs to call it (`'client_sessions:write'`). A
   * secret key always may; without it, restricted keys are refused (`permission_denied`).
   */
  readonly permission?: string
  readonly params?: ObjectSchema
  readonly query?: ObjectSchema
  readonly body?: ObjectSchema
  readonly response: {
    readonly status: number
    readonly description: string
    readonly schema: Schema
  }
  /**
   * What the operation acts on, from the validated input; required on `operator` routes. It
   * runs before `authorize` and must change nothing. May throw (e.g. a 404 for an unknown key).
   */
  target?(
    input: RouteInput,
  ): Omit<OperatorTarget, 'operationId'> | Promise<Omit<OperatorTarget, 'operationId'>>
  handle(input: RouteInput): Promise<{ body: unknown; events: OperatorEvent[] }>
}
