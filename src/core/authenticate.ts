import { LRUCache } from 'lru-cache'
import { type AuthCache, KeyEntry, type SessionEntry } from './auth-cache.js'
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
import { type RequestHeaders, readCredential, readHeader } from './read-credential.js'
import { looksLikeJws, type SessionClaims } from './session-token.js'
import type { StoredKey, StoredSession } from './store.js'
import type { CredentialKind, KeyType, Mode } from './types.js'

/** The plain values a binding hands to the core. */
export interface AuthenticateRequest {
  /** Request headers, lower-case names (Node/Express/Koa), or a fetch `Headers`. */
  readonly headers: RequestHeaders
  /** The socket's peer address (`req.socket.remoteAddress`). */
  readonly remoteAddress?: string | undefined
  /**
   * Node's `req.rawHeaders`, when available. Node keeps only the first of two `Authorization`
   * headers in `req.headers`; with the raw list a repeated credential header is refused as
   * malformed instead of being read as its first value.
   */
  readonly rawHeaders?: readonly string[] | undefined
}

/** Whether the raw header list carries `name` (lower-case) more than once. */
function repeated(request: AuthenticateRequest, name: string): boolean {
  const raw = request.rawHeaders
  if (raw === undefined) return false
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i] as string
    if (field.length === name.length && field.toLowerCase() === name && ++seen > 1) return true
  }
  return false
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

const REPEATED_HEADER = 'Malformed credential header: it was sent more than once.'

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

  function issue(
    source: object,
    make: () => AuthContext,
  ): { readonly ok: true; readonly auth: AuthContext } {
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
   * answer is trusted only for exactly this hash (compared in constant time: a defence against
   * a store that matched loosely, by prefix or case-insensitive collation) and only when it is
   * of the type and mode the token itself names; anything else is cached as "no such key", so
   * the cached path can never admit what this full path refuses.
   */
  async function findKeyInStore(
    hash: string,
    type: KeyType,
    mode: Mode,
    now: number,
  ): Promise<KeyEntry> {
    const { cache } = ctx
    const generation = cache?.generation
    const found = await ctx.call(() => ctx.store.findKeyByHash(hash))
    const record =
      found !== null &&
      timingSafeEqualString(found.hash, hash) &&
      found.type === type &&
      found.mode === mode
        ? found
        : null
    // A change announced while the read was in flight may have made it stale already.
    if (cache !== null && cache.generation === generation) {
      return cache.rememberKey(hash, record, now)
    }
    return new KeyEntry(record, now)
  }

  /**
   * The entry for a key's hash: synchronous (no await) on a cache hit. Its record, if any, is
   * of the type and mode the parsed token names: only such records are cached, under the hash
   * of exactly that token.
   */
  function lookUpKey(
    hash: string,
    type: KeyType,
    mode: Mode,
    now: number,
  ): KeyEntry | Promise<KeyEntry> {
    return ctx.cache?.key(hash, now) ?? findKeyInStore(hash, type, mode, now)
  }

  /**
   * The token in the usual header shape (`Authorization: Bearer <token>`, or the bare token on
   * a custom header), read without validating it: only for a cache lookup by its hash, since a
   * hit proves the token is exactly one that was validated before. Anything else returns
   * undefined and takes the full path.
   */
  function usualToken(request: AuthenticateRequest, header: string): string | undefined {
    const raw = readHeader(request.headers, header)
    if (typeof raw !== 'string') return undefined
    if (header !== 'authorization') return raw
    return raw.startsWith('Bearer ') ? raw.slice(7) : undefined
  }

  function authenticateKey(
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
  ): Decision {
    if (repeated(request, ctx.apiKeyHeader)) return fail('api_key_invalid', REPEATED_HEADER)
    const now = ctx.clock()
    let usual: string | undefined
    let usualHash = ''
    if (ctx.cache !== null) {
      // The hot path: a key seen within the cache window is admitted without parsing.
      usual = usualToken(request, ctx.apiKeyHeader)
      if (usual !== undefined) {
        usualHash = ctx.hash(usual)
        const entry = ctx.cache.key(usualHash, now)
        if (entry?.record != null) {
          return admitKey(entry, entry.record, request, wanted, requiredMode, now)
        }
      }
    }
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
    const conclude = (entry: KeyEntry): AuthResult => {
      const { record } = entry
      if (record === null) return fail('api_key_invalid')
      return admitKey(entry, record, request, wanted, requiredMode, now)
    }
    // Usually the token read is the one hashed above: hash it once.
    const hash = read.token === usual ? usualHash : ctx.hash(read.token)
    const found = lookUpKey(hash, parsed.type, parsed.mode, now)
    return found instanceof Promise ? found.then(conclude) : conclude(found)
  }

  /** The decision once the key's record is known. */
  function admitKey(
    entry: KeyEntry,
    record: StoredKey,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    now: number,
  ): AuthResult {
    if (record.type !== wanted) return wrongType(TYPE_LABEL[record.type], wanted)
    // The allowlist comes first: a caller outside it learns nothing more about the key (not
    // whether it expired, was rolled, or belongs to the other mode).
    if (record.allowedIps.length > 0 && !allowed(entry, record, request)) {
      return fail('ip_not_allowed')
    }
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
    entry.usage ??= ctx.usage.mark(record.id)
    ctx.usage.note(entry.usage, now)
    entry.accepted ??= issue(record, () => ({
      mode: record.mode,
      livemode: record.mode === 'live',
      projectId: record.projectId,
      credential: wanted,
      keyId: record.id,
    }))
    return entry.accepted
  }

  /**
   * The key's allowlist against the client address. The last answer is kept on the entry, by
   * the socket address when no proxy is trusted (the address is then the socket's, whatever
   * the headers say), else by the resolved address.
   */
  function allowed(entry: KeyEntry, record: StoredKey, request: AuthenticateRequest): boolean {
    const peer = request.remoteAddress
    if (ctx.trust === null && peer !== undefined && peer === entry.lastPeer) {
      return entry.lastAllowed
    }
    const address = requestClientAddress(request, ctx.trust)
    if (address !== entry.lastAddress) {
      entry.matcher ??= allowlistOf(record.allowedIps)
      entry.lastAllowed = entry.matcher(address)
      entry.lastAddress = address
    }
    entry.lastPeer = ctx.trust === null ? peer : undefined
    return entry.lastAllowed
  }

  function authenticateSession(
    request: AuthenticateRequest,
    requiredMode: Mode | undefined,
  ): Decision {
    if (repeated(request, ctx.sessionHeader)) return fail('session_invalid', REPEATED_HEADER)
    const now = ctx.clock()
    const { cache } = ctx
    let usual: string | undefined
    let usualKey = ''
    if (cache !== null) {
      // The hot path: a token verified within the cache window is found by its hash alone.
      usual = usualToken(request, ctx.sessionHeader)
      if (usual !== undefined) {
        usualKey = digestToken(usual)
        const entry = cache.session(usualKey)
        if (entry !== undefined) return continueSession(cache, usualKey, entry, requiredMode, now)
      }
    }
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
    if (now - entry.touchedAt >= ctx.touchIntervalMs) {
      return loadSession(cache, tokenKey, entry, entry.claims, now, true)
    }
    if (now - entry.checkedAt >= cache.ttlMs) {
      return loadSession(cache, tokenKey, entry, entry.claims, now, false)
    }
    // The same session record admitted before: only its expiry can have changed the answer.
    if (entry.accepted !== undefined && entry.session.expiresAt > now) return entry.accepted
    const result = concludeSession(entry.claims, entry.session, now)
    if (result.ok) entry.accepted = result
    return result
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
  ): Promise<AuthResult> {
    const checked = await ctx.tokens.verify(token, now)
    if (!checked.ok)
      return fail(checked.reason === 'expired' ? 'session_expired' : 'session_invalid')
    const mismatch = sessionModeMismatch(checked.claims, requiredMode)
    if (mismatch !== null) return mismatch
    return loadSession(ctx.cache, tokenKey, undefined, checked.claims, now, true)
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
  ): Promise<AuthResult> {
    const generation = cache?.generation
    const session = await ctx.call(() =>
      touch ? ctx.store.touchSession(claims.sid, now) : ctx.store.getSession(claims.sid),
    )
    if (cache !== null) {
      if (session === null) {
        cache.sessions.delete(tokenKey)
      } else if (cache.generation === generation) {
        if (entry === undefined) {
          cache.rememberSession(tokenKey, { claims, session, checkedAt: now, touchedAt: now })
        } else {
          entry.session = session
          entry.accepted = undefined
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
  ): AuthResult {
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
    const now = ctx.clock()
    const conclude = (entry: KeyEntry): AuthResult => {
      const { record } = entry
      if (record === null || record.clientId === null) return fail('session_invalid')
      if (record.expiresAt !== null && record.expiresAt <= now) return fail('session_expired')
      entry.usage ??= ctx.usage.mark(record.id)
      ctx.usage.note(entry.usage, now)
      const clientId = record.clientId
      entry.accepted ??= issue(record, () => ({
        mode: record.mode,
        livemode: false,
        projectId: record.projectId,
        credential: 'session',
        keyId: record.id,
        clientId,
      }))
      return entry.accepted
    }
    const found = lookUpKey(ctx.hash(token), 'client', mode, now)
    return found instanceof Promise ? found.then(conclude) : conclude(found)
  }

  /**
   * The whole decision for one request, synchronously when everything it needs is cached and
   * as a promise when it has to ask the store or verify a signature. Never throws for anything
   * the request contains: every refusal is `{ ok: false, error }` with a stable code, and any
   * store failure or timeout becomes `store_unavailable` (fail closed).
   */
  function decide(request: AuthenticateRequest, options: AuthenticateOptions): Decision {
    const credential = options?.credential
    if (credential !== 'secret' && credential !== 'publishable' && credential !== 'session') {
      throw new TypeError(
        'authenticate() needs { credential: "secret" | "publishable" | "session" }',
      )
    }
    if (options.mode !== undefined && options.mode !== 'test' && options.mode !== 'live') {
      throw new TypeError('authenticate() option mode must be "test" or "live"')
    }
    let decision: Decision
    try {
      decision =
        credential === 'session'
          ? authenticateSession(request, options.mode)
          : authenticateKey(request, credential, options.mode)
    } catch (error) {
      return storeFailure(error)
    }
    return decision instanceof Promise ? decision.catch(storeFailure) : decision
  }

  return {
    decide,
    /** {@link decide}, always as a promise: the public `gate.authenticate`. */
    async authenticate(
      request: AuthenticateRequest,
      options: AuthenticateOptions,
    ): Promise<AuthResult> {
      return decide(request, options)
    },
  }
}

/** Any failure on the way to a decision is the store's: fail closed with 503. */
function storeFailure(error: unknown): Failure {
  if (isStoreUnavailableError(error)) return { ok: false, error }
  return { ok: false, error: new StoreUnavailableError(undefined, { cause: error }) }
}

/** A decision, synchronous when it could be made from the cache. */
export type Decision = AuthResult | Promise<AuthResult>

/** The synchronous-when-cached decision of each gate, for the bindings (see `decisionOf`). */
const decisions = new WeakMap<
  object,
  (r: AuthenticateRequest, o: AuthenticateOptions) => Decision
>()

export function registerDecision(
  gate: object,
  decide: (request: AuthenticateRequest, options: AuthenticateOptions) => Decision,
): void {
  decisions.set(gate, decide)
}

/**
 * The gate's decision function: the bindings use it to call `next()` without a promise tick
 * when the answer was cached; any other object with an `authenticate` method works through it.
 */
export function decisionOf(gate: {
  authenticate(request: AuthenticateRequest, options: AuthenticateOptions): Promise<AuthResult>
}): (request: AuthenticateRequest, options: AuthenticateOptions) => Decision {
  return decisions.get(gate) ?? ((request, options) => gate.authenticate(request, options))
}
