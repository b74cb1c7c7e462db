import { isPortcullisError, NotFoundError } from '../core/errors.js'
import type { Portcullis } from '../core/portcullis.js'
import type { SessionRecord } from '../core/records.js'
import type { ClientScope } from '../core/store.js'
import type { Mode } from '../core/types.js'
import type { OperatorRoute, RouteInput } from '../operator/route.js'
import type { ObjectSchema } from '../operator/schema.js'
import { clientId, ID, mode, projectId } from '../operator/shapes.js'
import { projectParams } from './key-routes.js'

/*
 * The page's client-session routes. The page holds no secret key, so it uses the operator forms
 * (`gate.sessions.listClient`, `gate.sessions.revoke(id)`), always within the granted project
 * (from the path the page built) and a mode the grant allows (checked by authorize). A session
 * is revoked only after it was found among that client's sessions in that project and mode.
 */

/** A session as the page shows it. */
export interface PageSession {
  readonly id: string
  readonly clientId: string
  readonly mode: Mode
  readonly createdAt: number
  readonly expiresAt: number
  readonly maxExpiresAt: number
  readonly revokedAt: number | null
}

const toPageSession = (session: SessionRecord): PageSession => ({
  id: session.id,
  clientId: session.clientId,
  mode: session.mode,
  createdAt: session.createdAt,
  expiresAt: session.expiresAt,
  maxExpiresAt: session.maxExpiresAt,
  revokedAt: session.revokedAt,
})

const clientScope: ObjectSchema = {
  type: 'object',
  properties: { mode, clientId },
  required: ['mode', 'clientId'],
}
const sessionParams: ObjectSchema = {
  type: 'object',
  properties: { projectId, sessionId: ID('cs') },
  required: ['projectId', 'sessionId'],
}
const anyObject = { type: 'object', properties: {}, additionalProperties: true } as const

export function pageSessionOperations(gate: Portcullis): OperatorRoute[] {
  const scopeOf = (params: RouteInput['params'], fields: RouteInput['query']): ClientScope => ({
    projectId: params.projectId as string,
    mode: fields.mode as Mode,
    clientId: fields.clientId as string,
  })
  /** The client's sessions, each checked to be in the scope asked for (whatever the store says). */
  const sessionsOf = async (scope: ClientScope): Promise<SessionRecord[]> =>
    (await gate.sessions.listClient(scope)).filter(
      (session) =>
        session.projectId === scope.projectId &&
        session.mode === scope.mode &&
        session.clientId === scope.clientId,
    )
  /** Revokes one session found in scope; false when it was gone meanwhile. */
  const revokeOne = async (session: SessionRecord): Promise<boolean> => {
    try {
      await gate.sessions.revoke(session.id)
      return true
    } catch (error) {
      if (isPortcullisError(error) && error.code === 'resource_missing') return false
      throw error
    }
  }
  const event = (scope: ClientScope) => ({
    type: 'client_sessions.revoked' as const,
    projectId: scope.projectId,
    mode: scope.mode,
    clientId: scope.clientId,
    at: gate.clock(),
  })
  return [
    {
      operationId: 'listClientSessions',
      method: 'GET',
      path: '/{projectId}/client-sessions',
      summary: "A client's sessions in one mode, revoked ones included",
      tag: 'API keys page',
      access: 'operator',
      params: projectParams,
      query: clientScope,
      target: ({ params, query }) => ({
        projectId: params.projectId as string,
        mode: query.mode as Mode,
      }),
      response: { status: 200, description: 'The sessions', schema: anyObject },
      async handle({ params, query }) {
        const sessions = await sessionsOf(scopeOf(params, query))
        return { body: { data: sessions.map(toPageSession), now: gate.clock() }, events: [] }
      },
    },
    {
      operationId: 'revokeClientSessions',
      method: 'POST',
      path: '/{projectId}/client-sessions/revoke',
      summary: 'Revoke every session of a client in one mode',
      tag: 'API keys page',
      access: 'operator',
      params: projectParams,
      body: clientScope,
      target: ({ params, body }) => ({
        projectId: params.projectId as string,
        mode: body.mode as Mode,
      }),
      response: { status: 200, description: 'How many were revoked', schema: anyObject },
      async handle({ params, body }) {
        const scope = scopeOf(params, body)
        let revoked = 0
        for (const session of await sessionsOf(scope)) {
          if (session.revokedAt === null && (await revokeOne(session))) revoked += 1
        }
        return { body: { clientId: scope.clientId, revoked }, events: [event(scope)] }
      },
    },
    {
      operationId: 'revokeClientSession',
      method: 'POST',
      path: '/{projectId}/client-sessions/{sessionId}/revoke',
      summary: 'Revoke one session of a client',
      tag: 'API keys page',
      access: 'operator',
      params: sessionParams,
      body: clientScope,
      target: ({ params, body }) => ({
        projectId: params.projectId as string,
        mode: body.mode as Mode,
      }),
      response: { status: 200, description: 'The revoked session', schema: anyObject },
      async handle({ params, body }) {
        const scope = scopeOf(params, body)
        const sessionId = params.sessionId as string
        const session = (await sessionsOf(scope)).find((each) => each.id === sessionId)
        if (session === undefined || !(await revokeOne(session))) {
          throw new NotFoundError(`No such session: ${sessionId}`)
        }
        return { body: { id: sessionId, revoked: true }, events: [event(scope)] }
      },
    },
  ]
}
