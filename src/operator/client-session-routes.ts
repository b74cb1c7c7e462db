import type { AuthContext } from '../core/auth-context.js'
import { CLIENT_SESSIONS } from '../core/permissions.js'
import type { Portcullis } from '../core/portcullis.js'
import type { OperatorEvent, OperatorRoute, RouteInput } from './route.js'
import { clientBody, clientId, clientSession } from './shapes.js'

function scope(auth: AuthContext | null): AuthContext {
  if (auth === null) throw new TypeError('secret_key route called without auth')
  return auth
}

/** What a restricted key needs for every client-session route: each of them writes. */
const WRITE_CLIENT_SESSIONS = `${CLIENT_SESSIONS}:write`

/**
 * The client-session routes (as Portal documents them), for a backend holding a secret key, or
 * a restricted key granted `client_sessions: 'write'`: project and mode come from the key, so
 * a live key can never touch a test client.
 */
export function clientSessionOperations(gate: Portcullis): OperatorRoute[] {
  const session = async (
    operation: 'create' | 'refresh',
    input: RouteInput,
  ): Promise<{ body: unknown; events: OperatorEvent[] }> => {
    const auth = scope(input.auth)
    const { token, session } = await gate.sessions[operation](auth, {
      clientId: input.body.clientId as string,
    })
    return {
      body: {
        clientId: session.clientId,
        clientSessionToken: token,
        expiresAt: session.expiresAt,
        maxExpiresAt: session.maxExpiresAt,
        livemode: session.livemode,
      },
      events: [
        {
          type: operation === 'create' ? 'client_session.created' : 'client_session.refreshed',
          projectId: auth.projectId,
          mode: auth.mode,
          clientId: session.clientId,
          at: session.createdAt,
        },
      ],
    }
  }
  return [
    {
      operationId: 'createClientSession',
      method: 'POST',
      path: '/client-sessions',
      summary:
        "Create a Client Session Token for an end user (registers the client in the key's mode)",
      tag: 'Client sessions',
      access: 'secret_key',
      permission: WRITE_CLIENT_SESSIONS,
      body: clientBody,
      response: { status: 201, description: 'The new session', schema: clientSession },
      handle: (input) => session('create', input),
    },
    {
      operationId: 'refreshClientSession',
      method: 'POST',
      path: '/client-sessions/refresh',
      summary: 'Issue a new Client Session Token for a client that already has one',
      tag: 'Client sessions',
      access: 'secret_key',
      permission: WRITE_CLIENT_SESSIONS,
      body: clientBody,
      response: { status: 200, description: 'The new session', schema: clientSession },
      handle: (input) => session('refresh', input),
    },
    {
      operationId: 'revokeClientSessions',
      method: 'POST',
      path: '/client-sessions/revoke',
      summary: "Revoke every session of a client in the key's mode",
      tag: 'Client sessions',
      access: 'secret_key',
      permission: WRITE_CLIENT_SESSIONS,
      body: clientBody,
      response: {
        status: 200,
        description: 'How many sessions were revoked',
        schema: {
          type: 'object',
          properties: { clientId, revoked: { type: 'integer', minimum: 0 } },
        },
      },
      async handle(input) {
        const auth = scope(input.auth)
        const target = input.body.clientId as string
        const revoked = await gate.sessions.revokeClient(auth, target)
        return {
          body: { clientId: target, revoked },
          events: [
            {
              type: 'client_sessions.revoked',
              projectId: auth.projectId,
              mode: auth.mode,
              clientId: target,
              at: gate.clock(),
            },
          ],
        }
      },
    },
  ]
}
