import { LRUCache } from 'lru-cache'
import type { AuthCache } from './auth-cache.js'
import type { AuthContext } from './auth-context.js'
import { requestClientAddress } from './client-address.js'
import {
  type AuthErrorCode,
  AuthenticationError,
  isStoreUnavailableError,
  type PortcullisError,
  StoreUnavailableError,
} from './errors.js'
import { digestToken, timingSafeEqualString } from './hashing.js'
import { type AddressMatcher, compileAllowlist } from './ip.js'
import type { GateContext } from './options.js'
import { type RequestHeaders, readCredential } from './read-credential.js'
import { looksLikeJws, type SessionClaims } from './session-token.js'
import type { StoredKey, StoredSession } from './store.js'
import type { CredentialKind, KeyType, Mode } from './types.js'

/** The plain values a binding hands to the core. */
export interface AuthenticateRequest {
  /** Request headers, lower-case names (Node/Express/Koa), or a fetch `Headers`. */
  readonly headers: RequestHeaders
  /** The socket's peer address (`req.socket.remoteAddress`). */
  readonly remoteAddress?: string | undefined
}

export interface AuthenticateOptions {
  /** Which credential the route requires. */
  readonly credential: CredentialKind
  /** Require this mode; a credential of the other mode gets `mode_mismatch` (403). */
  readonly mode?: Mode
}

export type AuthResult =
  | { readonly ok: true; readonly auth: AuthContext }
  | { readonly ok: false; readonly error: PortcullisError }

type Failure = { readonly ok: false; readonly error: PortcullisError }

const TYPE_LABEL: Readonly<Record<KeyType, string>> = {
  secret: 'A secret key',
  publishable: 'A publishable key',
  client: 'A development client key',
}
const WANTED_LABEL: Readonly<Record<CredentialKind, string>> = {
  secret: 'a secret key',
  publishable: 'a publishable key',
  session: 'a client session token',
}

function fail(code: Exclude<AuthErrorCode, 'store_unavailable'>, message?: string): Failure {
  return { ok: false, error: new AuthenticationError(code, message) }
}

function wrongType(sent: string, wanted: CredentialKind): Failure {
  const leak =
    sent === TYPE_LABEL.secret
      ? ' Secret keys must stay on your server; roll this key if it was exposed.'
      : ''
  return fail(
    'wrong_key_type',
    `${sent} was sent where ${WANTED_LABEL[wanted]} is required.${leak}`,
  )
}

/**
 * Compiled allowlists, keyed by their canonical text; an LRU as large as the key cache (every
 * cached key may carry its own list), so steady traffic never recompiles.
 */
const MIN_COMPILED_ALLOWLISTS = 1024

export function createAuthenticator(ctx: GateContext) {
  const compiled = new LRUCache<string, AddressMatcher>({
    max: Math.max(MIN_COMPILED_ALLOWLISTS, ctx.cache?.keys.max ?? 0),
  })

  /** Matchers by list identity: a cached record keeps its (frozen) list object. */
  const byList = new WeakMap<readonly string[], AddressMatcher>()

  function allowlistOf(entries: readonly string[]): AddressMatcher {
    let matcher = byList.get(entries)
    if (matcher !== undefined) return matcher
    const text = entries.join(',')
    matcher = compiled.get(text)
    if (matcher === undefined) {
      matcher = compileAllowlist(entries)
      compiled.set(text, matcher)
    }
    byList.set(entries, matcher)
    return matcher
  }

  /**
   * The frozen auth this gate issues for a record. Its fields never change for a given record
   * object, and cached records are reused, so the steady state allocates nothing here.
   */
  const issuedFor = new WeakMap<object, AuthContext>()

  function issue(source: object, make: () => AuthContext): { ok: true; auth: AuthContext } {
    let auth = issuedFor.get(source)
    if (auth === undefined) {
      auth = Object.freeze(make())
      ctx.issued.add(auth)
      issuedFor.set(source, auth)
    }
    return { ok: true, auth }
  }

  /**
   * The stored key for a hash after a cache miss: one store round trip, then cached. A store
   * answer is checked to be for exactly this hash, in constant time, before it is trusted: a
   * defence against a store that matched loosely (prefix, case-insensitive collation).
   */
  async function findKeyInStore(hash: string, now: number): Promise<StoredKey | null> {
    const { cache } = ctx
    const generation = cache?.generation
    const found = await ctx.call(() => ctx.store.findKeyByHash(hash))
    const record = found !== null && timingSafeEqualString(found.hash, hash) ? found : null
    // A change announced while the read was in flight may have made it stale already.
    if (cache !== null && cache.generation === generation) cache.rememberKey(hash, record, now)
    return record
  }

  /** The key record for a well-formed key, or null; synchronous (no await) on a cache hit. */
  function lookUpKey(
    token: string,
    type: KeyType,
    mode: Mode,
    now: number,
  ): StoredKey | null | Promise<StoredKey | null> {
    const hash = ctx.hash(token)
    const cached = ctx.cache?.key(hash, now)
    if (cached === undefined) {
      return findKeyInStore(hash, now).then((record) => matching(record, type, mode))
    }
    return matching(cached.record, type, mode)
  }

  const matching = (record: StoredKey | null, type: KeyType, mode: Mode) =>
    record === null || record.type !== type || record.mode !== mode ? null : record

  async function authenticateKey(
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
  ): Promise<AuthResult> {
    const read = readCredential(request.headers, ctx.apiKeyHeader)
    if (read.status === 'missing') return fail('api_key_missing')
    if (read.status === 'malformed') {
      return fail(
        'api_key_invalid',
        'Malformed credential header; expected "Authorization: Bearer <key>".',
      )
    }
    const parsed = ctx.format.parse(read.token)
    if (!parsed.ok) {
      if (looksLikeJws(read.token)) return wrongType('A client session token', wanted)
      return fail('api_key_invalid')
    }
    if (parsed.type !== wanted) return wrongType(TYPE_LABEL[parsed.type], wanted)
    const now = ctx.clock()
    const found = lookUpKey(read.token, parsed.type, parsed.mode, now)
    const record = found instanceof Promise ? await found : found
    if (record === null) return fail('api_key_invalid')
    if (record.expiresAt !== null && record.expiresAt <= now) {
      return fail(
        'api_key_expired',
        record.rolledToId === null
          ? 'This API key has expired.'
          : 'This API key was rolled and has expired.',
      )
    }
    if (requiredMode !== undefined && record.mode !== requiredMode) {
      return fail(
        'mode_mismatch',
        `This route requires a ${requiredMode} mode key; a ${record.mode} mode key was sent.`,
      )
    }
    if (record.allowedIps.length > 0) {
      const address = requestClientAddress(request, ctx.trust)
      if (!allowlistOf(record.allowedIps)(address)) return fail('ip_not_allowed')
    }
    ctx.usage.record(record.id, now)
    return issue(record, () => ({
      mode: record.mode,
      livemode: record.mode === 'live',
      projectId: record.projectId,
      credential: wanted,
      keyId: record.id,
    }))
  }

  async function authenticateSession(
    request: AuthenticateRequest,
    requiredMode: Mode | undefined,
  ): Promise<AuthResult> {
    const read = readCredential(request.headers, ctx.sessionHeader)
    if (read.status === 'missing') return fail('session_missing')
    if (read.status === 'malformed') {
      return fail(
        'session_invalid',
        'Malformed credential header; expected "Authorization: Bearer <token>".',
      )
    }
    const parsed = ctx.format.parse(read.token)
    if (parsed.ok) {
      if (parsed.type !== 'client') return wrongType(TYPE_LABEL[parsed.type], 'session')
      return authenticateClientKey(read.token, parsed.mode, requiredMode)
    }
    const now = ctx.clock()
    const { cache } = ctx
    // A token verified before is found again by a hash of it: jose runs once per cache entry.
    const tokenKey = cache === null ? '' : digestToken(read.token)
    const entry = cache?.sessions.get(tokenKey)
    let claims: SessionClaims
    if (entry === undefined) {
      const checked = await ctx.tokens.verify(read.token, now)
      if (!checked.ok)
        return fail(checked.reason === 'expired' ? 'session_expired' : 'session_invalid')
      claims = checked.claims
    } else {
      claims = entry.claims
    }
    if (requiredMode !== undefined && claims.mode !== requiredMode) {
      return fail(
        'mode_mismatch',
        `This route requires a ${requiredMode} mode session; a ${claims.mode} mode session was sent.`,
      )
    }
    const generation = cache?.generation
    let session: StoredSession | null
    let fetched = true
    let touched = false
    if (entry === undefined || now - entry.touchedAt >= ctx.touchIntervalMs) {
      session = await ctx.call(() => ctx.store.touchSession(claims.sid, now))
      touched = true
    } else if (now - entry.checkedAt >= (cache as AuthCache).ttlMs) {
      session = await ctx.call(() => ctx.store.getSession(claims.sid))
    } else {
      session = entry.session
      fetched = false
    }
    if (cache !== null && fetched) {
      if (session === null) {
        cache.sessions.delete(tokenKey)
      } else if (cache.generation === generation) {
        if (entry === undefined) {
          cache.sessions.set(tokenKey, { claims, session, checkedAt: now, touchedAt: now })
        } else {
          entry.session = session
          entry.checkedAt = now
          if (touched) entry.touchedAt = now
        }
      }
    }
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
    return issue(session, () => ({
      mode: session.mode,
      livemode: session.mode === 'live',
      projectId: session.projectId,
      credential: 'session',
      clientId: session.clientId,
      sessionId: session.id,
    }))
  }

  /** Development client keys: test mode only, no expiry of their own beyond `expiresAt`. */
  async function authenticateClientKey(
    token: string,
    mode: Mode,
    requiredMode: Mode | undefined,
  ): Promise<AuthResult> {
    if (mode !== 'test')
      return fail('session_invalid', 'Development client keys exist in test mode only.')
    if (requiredMode === 'live') {
      return fail(
        'mode_mismatch',
        'This route requires a live mode session; a test mode client key was sent.',
      )
    }
    const now = ctx.clock()
    const record = await lookUpKey(token, 'client', mode, now)
    if (record === null || record.clientId === null) return fail('session_invalid')
    if (record.expiresAt !== null && record.expiresAt <= now) return fail('session_expired')
    ctx.usage.record(record.id, now)
    const clientId = record.clientId
    return issue(record, () => ({
      mode: record.mode,
      livemode: false,
      projectId: record.projectId,
      credential: 'session',
      keyId: record.id,
      clientId,
    }))
  }

  /**
   * The whole decision for one request. Never throws for anything the request contains: every
   * refusal is returned as `{ ok: false, error }` with a stable code, and any store failure or
   * timeout becomes `store_unavailable` (fail closed).
   */
  return async function authenticate(
    request: AuthenticateRequest,
    options: AuthenticateOptions,
  ): Promise<AuthResult> {
    const credential = options?.credential
    if (credential !== 'secret' && credential !== 'publishable' && credential !== 'session') {
      throw new TypeError(
        'authenticate() needs { credential: "secret" | "publishable" | "session" }',
      )
    }
    if (options.mode !== undefined && options.mode !== 'test' && options.mode !== 'live') {
      throw new TypeError('authenticate() option mode must be "test" or "live"')
    }
    try {
      return credential === 'session'
        ? await authenticateSession(request, options.mode)
        : await authenticateKey(request, credential, options.mode)
    } catch (error) {
      if (isStoreUnavailableError(error)) return { ok: false, error }
      return { ok: false, error: new StoreUnavailableError(undefined, { cause: error }) }
    }
  }
}
