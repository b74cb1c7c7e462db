import { LRUCache } from 'lru-cache'
import type { AuthContext } from './auth-context.js'
import type { AuthenticateRequest, Decision, Verdict } from './authenticate.js'
import { isBrowserRequest } from './browser-request.js'
import { requestClientAddress } from './client-address.js'
import { checkClient } from './client-check.js'
import type { ClientRestrictions } from './client-restrictions.js'
import { API_KEY_CODES, CredentialHeader } from './credential-header.js'
import { timingSafeEqualString } from './hashing.js'
import { type AllowlistRanges, compileRanges, inRanges } from './ip.js'
import { HAS_RECORD, KeyEntry, REFRESHING } from './key-entry.js'
import { metadataOf } from './metadata.js'
import type { GateCore } from './options.js'
import { grants, type Permissions, type RequiredPermission } from './permissions.js'
import { type Acceptor, fail, permissionDenied, TYPE_LABEL, wrongType } from './refusal.js'
import { looksLikeJws } from './session-token.js'
import type { StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'

/**
 * Recently compiled allowlists, by their text: keys that share a list share its ranges, and a
 * gate without a cache (whose entries live for one request) does not compile on every request.
 * A fixed bound, not one per cached key: each remembered list costs its text as well.
 */
const COMPILED_ALLOWLISTS = 1024

/**
 * Key authentication: secret and publishable keys (`authenticate`), and the lookup a
 * development client key shares with them (`lookUp`). Every rule a key must pass is in
 * {@link admit}.
 */
export function createKeyAuthenticator(core: GateCore, accept: Acceptor) {
  const header = new CredentialHeader(core.apiKeyHeader, API_KEY_CODES)
  const compiled = new LRUCache<string, AllowlistRanges>({ max: COMPILED_ALLOWLISTS })

  function rangesOf(entries: readonly string[]): AllowlistRanges {
    const text = entries.join(',')
    let ranges = compiled.get(text)
    if (ranges === undefined) {
      ranges = compileRanges(entries)
      compiled.set(text, ranges)
    }
    return ranges
  }

  /**
   * The stored key for a hash after a cache miss: one store round trip, then cached. A store
   * answer is trusted only for exactly this hash (compared in constant time: a defence against
   * a store that matched loosely, by prefix or case-insensitive collation) and only when it is
   * of the type and mode the token itself names; anything else is cached as "no such key", so
   * the cached path can never admit what this full path refuses.
   */
  async function findInStore(hash: string, type: KeyType, mode: Mode, now: number) {
    const { cache } = core
    const generation = cache?.generation
    const found = await core.call(() => core.store.findKeyByHash(hash))
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
    // No cache: the entry serves this one request, and its ttl is never read.
    return new KeyEntry(record, 0)
  }

  /**
   * The cached answer for a hash, as `AuthCache.key` gives it. A verified key in the last
   * quarter of its ttl also has its record re-read in the background: the store answer renews
   * the entry in place when nothing changed (see `AuthCache.rememberKey`), and replaces or drops
   * it otherwise. The request that started it goes on with the entry, which is still within its
   * ttl. A failure goes to `onError`; the entry then lapses at its ttl and the next request
   * reads the store itself (and fails closed if it is still down).
   */
  function cached(hash: string, now: number): KeyEntry | undefined {
    const { cache } = core
    if (cache === null) return undefined
    const entry = cache.key(hash, now)
    if (entry === undefined) return undefined
    // The flags, not the record: its holder (the entry's detail) is not read on a warm hit.
    // Tested here rather than through an accessor, which is not always inlined this deep.
    if ((entry.bits & (HAS_RECORD | REFRESHING)) === HAS_RECORD && cache.refreshDue(entry, now)) {
      const record = entry.record as StoredKey
      entry.refreshing = true
      findInStore(record.hash, record.type, record.mode, now).catch(core.onError)
    }
    return entry
  }

  /**
   * The entry for a key's hash: synchronous (no await) on a cache hit. Its record, if any, is
   * of the type and mode the parsed token names: only such records are cached, under the hash
   * of exactly that token.
   */
  function lookUp(
    hash: string,
    type: KeyType,
    mode: Mode,
    now: number,
  ): KeyEntry | Promise<KeyEntry> {
    return cached(hash, now) ?? findInStore(hash, type, mode, now)
  }

  function authenticate(
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
  ): Decision {
    const repeated = header.repeated(request)
    if (repeated !== null) return repeated
    const now = core.clock()
    let usual: string | undefined
    let usualHash = ''
    if (core.cache !== null) {
      // The hot path: a key seen within the cache window is admitted without parsing.
      usual = header.usual(request)
      if (usual !== undefined) {
        usualHash = core.hash(usual)
        const entry = cached(usualHash, now)
        if (entry?.hasRecord === true) {
          return admit(entry, request, wanted, requiredMode, required, now)
        }
      }
    }
    const read = header.read(request)
    if (!('token' in read)) return read
    const parsed = core.format.parse(read.token)
    if (!parsed.ok) {
      if (looksLikeJws(read.token)) return wrongType('A client session token', wanted)
      return fail('api_key_invalid')
    }
    if (leakedToBrowser(parsed.type, request)) return fail('secret_key_from_browser')
    if (!serves(parsed.type, wanted)) return wrongType(TYPE_LABEL[parsed.type], wanted)
    // Usually the token read is the one hashed above: hash it once.
    const hash = read.token === usual ? usualHash : core.hash(read.token)
    const found = lookUp(hash, parsed.type, parsed.mode, now)
    return found instanceof Promise
      ? concludeLater(found, request, wanted, requiredMode, required, now)
      : conclude(found, request, wanted, requiredMode, required, now)
  }

  /** The decision once the store has answered for the key: its rules, or no such key. */
  function conclude(
    entry: KeyEntry,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Verdict {
    return entry.hasRecord
      ? admit(entry, request, wanted, requiredMode, required, now)
      : fail('api_key_invalid')
  }

  /**
   * {@link conclude} once the store's answer arrives. A function of its own: a closure made in
   * `authenticate` over its arguments would have V8 allocate their context on every call, on
   * the cached path too.
   */
  function concludeLater(
    found: Promise<KeyEntry>,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Promise<Verdict> {
    return found.then((entry) => conclude(entry, request, wanted, requiredMode, required, now))
  }

  /**
   * The decision once the key's record is known (the entry has one): every rule a key must
   * pass, in order. An allowed secret or publishable key without expiry or client restrictions
   * is decided on the entry's own fields; its record is read only for a refusal, a restricted
   * key's permissions, or the first acceptance.
   */
  function admit(
    entry: KeyEntry,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Verdict {
    const type = entry.type as KeyType
    if (leakedToBrowser(type, request)) return fail('secret_key_from_browser')
    if (type !== wanted && !serves(type, wanted)) {
      return wrongType(TYPE_LABEL[type], wanted)
    }
    // The allowlist comes first: a caller outside it learns nothing more about the key (not
    // whether it expired, was rolled, or belongs to the other mode).
    if (entry.checksAddress && !allowed(entry, request)) {
      return fail('ip_not_allowed')
    }
    if (entry.expires && (entry.detail.expiresAt as number) <= now) {
      return fail(
        'api_key_expired',
        (entry.detail.record as StoredKey).rolledToId === null
          ? 'This API key has expired.'
          : 'This API key was rolled and has expired.',
      )
    }
    if (requiredMode !== undefined && entry.mode !== requiredMode) {
      return fail(
        'mode_mismatch',
        `This route requires a ${requiredMode} mode key; a ${entry.mode} mode key was sent.`,
      )
    }
    // A restricted key only where the route names what it needs, and only with all of it.
    if (type === 'restricted') {
      const record = entry.detail.record as StoredKey
      const denied = deniedPermission(record, required)
      if (denied !== undefined) return permissionDenied(record, denied)
    }
    // Before the usage mark: a refused request does not count as a use.
    if (entry.restrictsClient) {
      const { detail } = entry
      const refusal = checkClient(
        core,
        detail,
        detail.clientRestrictions as ClientRestrictions,
        request,
      )
      if (refusal !== null) return refusal
    }
    core.usage.note(entry, now)
    entry.auth ??= acceptance(entry.detail.record as StoredKey, wanted)
    return entry.auth
  }

  /** The auth a key's entry hands every request it admits, made on its first. */
  function acceptance(record: StoredKey, wanted: 'secret' | 'publishable'): AuthContext {
    return accept(null, () => ({
      mode: record.mode,
      livemode: record.mode === 'live',
      projectId: record.projectId,
      credential: wanted,
      keyId: record.id,
      keyType: record.type,
      ...(record.permissions === null ? {} : { permissions: record.permissions }),
      metadata: metadataOf(record.metadata),
    }))
  }

  /**
   * The key's allowlist against the client address. The last answer is kept on the entry, by
   * the socket address when no proxy is trusted (the address is then the socket's, whatever
   * the headers say), else by the resolved address.
   */
  function allowed(entry: KeyEntry, request: AuthenticateRequest): boolean {
    const peer = request.remoteAddress
    if (core.trust === null && peer !== undefined && peer === entry.lastPeer) {
      return entry.lastAllowed
    }
    const address = requestClientAddress(request, core.trust)
    const { detail } = entry
    if (address !== detail.lastAddress) {
      detail.ranges ??= rangesOf((detail.record as StoredKey).allowedIps)
      entry.lastAllowed = inRanges(detail.ranges, address)
      detail.lastAddress = address
    }
    entry.lastPeer = core.trust === null ? peer : undefined
    return entry.lastAllowed
  }

  /** A secret or restricted key that a web browser sent: it has leaked into a page. */
  function leakedToBrowser(type: KeyType, request: AuthenticateRequest): boolean {
    return (
      (type === 'secret' || type === 'restricted') &&
      core.refuseSecretKeysFromBrowsers &&
      isBrowserRequest(request.headers)
    )
  }

  return { authenticate, lookUp, leakedToBrowser }
}

/** Whether a key of `type` may serve where `wanted` is required: a restricted key is a server key. */
function serves(type: KeyType, wanted: 'secret' | 'publishable'): boolean {
  return type === wanted || (wanted === 'secret' && type === 'restricted')
}

/**
 * The first required permission a restricted key lacks; null when the route names none (only
 * secret keys serve there); undefined when it holds them all.
 */
function deniedPermission(
  record: StoredKey,
  required: readonly RequiredPermission[],
): RequiredPermission | null | undefined {
  if (required.length === 0) return null
  const granted = record.permissions ?? NO_PERMISSIONS
  for (const permission of required) if (!grants(granted, permission)) return permission
  return undefined
}

const NO_PERMISSIONS: Permissions = Object.freeze({})

export type KeyAuthenticator = ReturnType<typeof createKeyAuthenticator>
