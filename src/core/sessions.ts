import type { AuthContext } from './auth-context.js'
import { AuthenticationError, NotFoundError } from './errors.js'
import { newSessionId } from './ids.js'
import type { GateCore } from './options.js'
import { CLIENT_SESSIONS, grants, type RequiredPermission } from './permissions.js'
import { type SessionRecord, toSessionRecord } from './records.js'
import { permissionDenied } from './refusal.js'
import type { ClientScope, StoredSession } from './store.js'
import { checkClientId, checkMode, checkOpaqueId, checkProjectId } from './validate.js'

/** A newly issued Client Session Token. */
export interface CreatedSession {
  /** The token to hand to the end user's device. Not stored anywhere. */
  readonly token: string
  readonly session: SessionRecord
}

export interface ClientInput {
  clientId: string
}

const CLIENT_SESSIONS_WRITE: RequiredPermission = Object.freeze({
  resource: CLIENT_SESSIONS,
  level: 'write',
  text: `${CLIENT_SESSIONS}:write`,
})
const CLIENT_SESSIONS_READ: RequiredPermission = Object.freeze({
  resource: CLIENT_SESSIONS,
  level: 'read',
  text: `${CLIENT_SESSIONS}:read`,
})

const notIssued = () =>
  new TypeError('auth must be the object returned by gate.authenticate() (req.auth)')

export function createSessionOperations(core: GateCore) {
  /**
   * The caller must hold a server-key authentication issued by this very gate: a secret key,
   * or a restricted key granted `client_sessions` at `level` (write to create, refresh and
   * revoke; read to list).
   */
  function checkSecretAuth(auth: AuthContext, level: 'read' | 'write' = 'write'): AuthContext {
    if (typeof auth !== 'object' || auth === null) throw notIssued()
    // Any other credential is refused as such, whoever made the object; a server key's must
    // be one this gate issued (only those are registered).
    if (auth.credential !== 'secret') {
      throw new AuthenticationError(
        'wrong_key_type',
        'Client session tokens are created, refreshed and revoked with a secret key.',
      )
    }
    if (!core.issued.has(auth)) throw notIssued()
    if (auth.keyType === 'restricted') {
      const needed = level === 'write' ? CLIENT_SESSIONS_WRITE : CLIENT_SESSIONS_READ
      if (!grants(auth.permissions ?? {}, needed)) throw permissionDenied(null, needed).error
    }
    return auth
  }

  function secretScope(
    auth: AuthContext,
    clientId: unknown,
    level: 'read' | 'write' = 'write',
  ): ClientScope {
    const { projectId, mode } = checkSecretAuth(auth, level)
    return { projectId, mode, clientId: checkClientId(clientId) }
  }

  async function startSession(scope: ClientScope): Promise<CreatedSession> {
    const now = core.clock()
    const maxExpiresAt = now + core.maxLifetimeMs
    const session: StoredSession = {
      id: newSessionId(),
      projectId: scope.projectId,
      mode: scope.mode,
      clientId: scope.clientId,
      createdAt: now,
      idleTimeoutMs: core.idleTimeoutMs,
      expiresAt: Math.min(now + core.idleTimeoutMs, maxExpiresAt),
      maxExpiresAt,
      revokedAt: null,
    }
    await core.call(() => core.store.insertSession(session))
    const token = await core.tokens.sign(
      { sid: session.id, pid: session.projectId, mode: session.mode, sub: session.clientId },
      now,
      maxExpiresAt,
    )
    return { token, session: toSessionRecord(session) }
  }

  /** Issues a CST for `clientId` in the project and mode of the secret key behind `auth`. */
  async function create(auth: AuthContext, input: ClientInput): Promise<CreatedSession> {
    return startSession(secretScope(auth, input?.clientId))
  }

  /** Issues a new CST for a client that already has a session on record in this mode. */
  async function refresh(auth: AuthContext, input: ClientInput): Promise<CreatedSession> {
    const scope = secretScope(auth, input?.clientId)
    const existing = await core.call(() => core.store.listClientSessions(scope))
    if (existing.length === 0) {
      throw new NotFoundError(
        `No client ${JSON.stringify(scope.clientId)} in ${scope.mode} mode; create a session for it first`,
      )
    }
    return startSession(scope)
  }

  /**
   * Revokes one session.
   *
   * - `revoke(sessionId, { auth })` is the scoped form, for anything acting for a customer: the
   *   session must belong to the project of the secret key behind `auth` (`resource_missing`
   *   otherwise) and to its mode (`mode_mismatch`).
   * - `revoke(sessionId)` without `auth` is the operator form: it revokes any session of any
   *   project and mode. Use it only where the caller is your own operator (an admin tool, the
   *   CLI), never with a session id a customer supplied.
   */
  async function revoke(
    sessionId: string,
    options: { auth?: AuthContext } = {},
  ): Promise<SessionRecord> {
    checkOpaqueId(sessionId, 'sessionId')
    const now = core.clock()
    if (options.auth !== undefined) {
      const scope = checkSecretAuth(options.auth)
      const current = await core.call(() => core.store.getSession(sessionId))
      if (current === null || current.projectId !== scope.projectId) {
        throw new NotFoundError(`No such session: ${sessionId}`)
      }
      if (current.mode !== scope.mode) {
        throw new AuthenticationError(
          'mode_mismatch',
          `This session belongs to ${current.mode} mode and cannot be revoked with a ${scope.mode} key.`,
        )
      }
    }
    const revoked = await core.call(() => core.store.revokeSession(sessionId, now))
    // This instance's cache hears its own writes at once; others hear them through watch().
    core.cache?.apply({ type: 'session', sessionId })
    if (revoked === null) throw new NotFoundError(`No such session: ${sessionId}`)
    return toSessionRecord(revoked)
  }

  /**
   * Revokes every session of `clientId` in the project and mode of `auth`; returns how many.
   * Development client keys issued for that client (`type: 'client'`) are keys, not sessions:
   * they keep working until you delete them with `gate.keys.delete`.
   */
  async function revokeClient(auth: AuthContext, clientId: string): Promise<number> {
    const scope = secretScope(auth, clientId)
    const count = await core.call(() => core.store.revokeClientSessions(scope, core.clock()))
    core.cache?.apply({ type: 'client', ...scope })
    return count
  }

  /** The client's sessions on record (revoked ones included) in the mode of `auth`. */
  async function list(auth: AuthContext, clientId: string): Promise<SessionRecord[]> {
    const scope = secretScope(auth, clientId, 'read')
    const sessions = await core.call(() => core.store.listClientSessions(scope))
    return sessions.map(toSessionRecord)
  }

  /**
   * Operator form of `list`: the sessions on record (revoked ones included) of one client in one
   * project and mode, without a secret key. Use it only where the caller is your own operator
   * (an admin tool, the CLI), never with a project id a customer supplied.
   */
  async function listClient(scope: ClientScope): Promise<SessionRecord[]> {
    const checked: ClientScope = {
      projectId: checkProjectId(scope?.projectId),
      mode: checkMode(scope?.mode),
      clientId: checkClientId(scope?.clientId),
    }
    const sessions = await core.call(() => core.store.listClientSessions(checked))
    return sessions.map(toSessionRecord)
  }

  return { create, refresh, revoke, revokeClient, list, listClient }
}
