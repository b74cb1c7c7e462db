import type { AuthCache, SessionEntry } from './auth-cache.js'
import type { AuthContext } from './auth-context.js'
import { type AuthenticateRequest, type Decision, isRefusal, type Verdict } from './authenticate.js'
import type { KeyAuthenticator } from './authenticate-key.js'
import { CredentialHeader, SESSION_CODES } from './credential-header.js'
import { digestToken } from './hashing.js'
import type { GateCore } from './options.js'
import { type Acceptor, fail, TYPE_LABEL, wrongType } from './refusal.js'
import type { SessionClaims } from './session-token.js'
import type { StoredKey, StoredSession } from './store.js'
import type { Mode } from './types.js'

/**
 * Session authentication: Client Session Tokens (verified by jose once, then found again by a
 * digest of the token, slid in the store at most once per `touchIntervalMs`) and, on the same
 * header, test-mode development client keys.
 */
export function createSessionAuthenticator(
  core: GateCore,
  accept: Acceptor,
  keys: KeyAuthenticator,
) {
  const header = new CredentialHeader(core.sessionHeader, SESSION_CODES)

  function authenticate(request: AuthenticateRequest, requiredMode: Mode | undefined): Decision {
    const repeated = header.repeated(request)
    if (repeated !== null) return repeated
    const now = core.clock()
    const { cache } = core
    let usual: string | undefined
    let usualKey = ''
    if (cache !== null) {
      // The hot path: a token verified within the cache window is found by its hash alone.
      usual = header.usual(request)
      if (usual !== undefined) {
        usualKey = digestToken(usual)
        const entry = cache.session(usualKey)
        if (entry !== undefined) return continueSession(cache, usualKey, entry, requiredMode, now)
      }
    }
    const read = header.read(request)
    if (!('token' in read)) return read
    const parsed = core.format.parse(read.token)
    if (parsed.ok) {
      if (keys.leakedToBrowser(parsed.type, request)) return fail('secret_key_from_browser')
      if (parsed.type !== 'client') return wrongType(TYPE_LABEL[parsed.type], 'session')
      return authenticateClientKey(read.token, parsed.mode, requiredMode)
    }
    if (cache === null) return verifySession(read.token, '', requiredMode, now)
    // The token read is the one looked up above, and it was not cached.
    if (read.token === usual) return verifySession(read.token, usualKey, requiredMode, now)
    // A token verified before is found again by a hash of it: jose runs once per cache entry.
    const tokenKey = digestToken(read.token)
    const entry = cache.session(tokenKey)
    if (entry === undefined) return verifySession(read.token, tokenKey, requiredMode, now)
    return continueSession(cache, tokenKey, entry, requiredMode, now)
  }

  /** A token verified before: the cached state, or one store round trip when it is due. */
  function continueSession(
    cache: AuthCache,
    tokenKey: string,
    entry: SessionEntry,
    requiredMode: Mode | undefined,
    now: number,
  ): Decision {
    const mismatch = sessionModeMismatch(entry.claims, requiredMode)
    if (mismatch !== null) return mismatch
    if (now - entry.touchedAt >= core.touchIntervalMs) {
      return loadSession(cache, tokenKey, entry, entry.claims, now, true)
    }
    if (now - entry.checkedAt >= cache.ttlMs) {
      return loadSession(cache, tokenKey, entry, entry.claims, now, false)
    }
    // The same session record admitted before: only its expiry can have changed the answer.
    if (entry.auth !== undefined && entry.session.expiresAt > now) return entry.auth
    const verdict = concludeSession(entry.claims, entry.session, now)
    if (!isRefusal(verdict)) entry.auth = verdict
    return verdict
  }

  function sessionModeMismatch(claims: SessionClaims, requiredMode: Mode | undefined) {
    if (requiredMode === undefined || claims.mode === requiredMode) return null
    return fail(
      'mode_mismatch',
      `This route requires a ${requiredMode} mode session; a ${claims.mode} mode session was sent.`,
    )
  }

  /** First sight of a token (in this cache window): jose verifies it, then a touch. */
  async function verifySession(
    token: string,
    tokenKey: string,
    requiredMode: Mode | undefined,
    now: number,
  ): Promise<Verdict> {
    const checked = await core.tokens.verify(token, now)
    if (!checked.ok)
      return fail(checked.reason === 'expired' ? 'session_expired' : 'session_invalid')
    const mismatch = sessionModeMismatch(checked.claims, requiredMode)
    if (mismatch !== null) return mismatch
    return loadSession(core.cache, tokenKey, undefined, checked.claims, now, true)
  }

  /**
   * One store round trip for a verified token: a touch when this instance has not written one
   * within `touchIntervalMs`, else a read when the cached state is older than the cache's ttl.
   */
  async function loadSession(
    cache: AuthCache | null,
    tokenKey: string,
    entry: SessionEntry | undefined,
    claims: SessionClaims,
    now: number,
    touch: boolean,
  ): Promise<Verdict> {
    const generation = cache?.generation
    const session = await core.call(() =>
      touch ? core.store.touchSession(claims.sid, now) : core.store.getSession(claims.sid),
    )
    if (cache !== null) {
      if (session === null) {
        cache.sessions.delete(tokenKey)
      } else if (cache.generation === generation) {
        if (entry === undefined) {
          cache.rememberSession(tokenKey, { claims, session, checkedAt: now, touchedAt: now })
        } else {
          entry.session = session
          entry.auth = undefined
          entry.checkedAt = now
          if (touch) entry.touchedAt = now
        }
      }
    }
    return concludeSession(claims, session, now)
  }

  function concludeSession(
    claims: SessionClaims,
    session: StoredSession | null,
    now: number,
  ): Verdict {
    // Signed by us but gone from the store: swept after it expired.
    if (session === null) return fail('session_expired')
    if (
      session.projectId !== claims.pid ||
      session.mode !== claims.mode ||
      session.clientId !== claims.sub
    ) {
      return fail('session_invalid')
    }
    if (session.revokedAt !== null) return fail('session_revoked')
    if (session.expiresAt <= now) return fail('session_expired')
    return accept(session, () => ({
      mode: session.mode,
      livemode: session.mode === 'live',
      projectId: session.projectId,
      credential: 'session',
      clientId: session.clientId,
      sessionId: session.id,
    }))
  }

  /** Development client keys: test mode only, no expiry of their own beyond `expiresAt`. */
  function authenticateClientKey(
    token: string,
    mode: Mode,
    requiredMode: Mode | undefined,
  ): Decision {
    if (mode !== 'test')
      return fail('session_invalid', 'Development client keys exist in test mode only.')
    if (requiredMode === 'live') {
      return fail(
        'mode_mismatch',
        'This route requires a live mode session; a test mode client key was sent.',
      )
    }
    return keys.lookUp(core.hash(token), 'client', mode, core.clock(), concludeClientKey)
  }

  /**
   * A development client key's decision on its slot. Made once, and without a closure of its
   * own: V8 allocates the context of a closure on every call of the function that makes it,
   * whether or not the closure is reached.
   */
  function concludeClientKey(slot: number, now: number): Verdict {
    const { table } = keys
    const record = table.record(slot)
    if (record === null || record.clientId === null) return fail('session_invalid')
    // The clock read now: `now` was read before the store's answer, if one was awaited.
    if (record.expiresAt !== null && record.expiresAt <= core.clock())
      return fail('session_expired')
    let auth = table.auth[slot]
    if (auth === undefined) {
      auth = clientKeyAcceptance(record, record.clientId)
      table.auth[slot] = auth
    }
    // Last, as for other keys: a usage flush may have the slot freed (see admit).
    core.usage.note(table, slot, now)
    return auth
  }

  /** The auth a client key's slot hands every request it admits, made on its first. */
  function clientKeyAcceptance(record: StoredKey, clientId: string): AuthContext {
    return accept(null, () => ({
      mode: record.mode,
      livemode: false,
      projectId: record.projectId,
      credential: 'session',
      keyId: record.id,
      clientId,
    }))
  }

  return { authenticate }
}
