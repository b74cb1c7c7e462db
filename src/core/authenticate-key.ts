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
import * as keyTable from './key-table.js'
import { KeyTable, MISSING, modeOf } from './key-table.js'
import { metadataOf } from './metadata.js'
import type { GateCore } from './options.js'
import { grants, type Permissions, type RequiredPermission } from './permissions.js'
import { type Acceptor, fail, permissionDenied, TYPE_LABEL, wrongType } from './refusal.js'
import { looksLikeJws } from './session-token.js'
import type { StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'

/**
 * What of the key table a warm decision reads, as this module's own constants: V8 compiles a
 * module's own `const` into the code that reads it, where it loads an imported binding from
 * its cell, and checks it, at every use.
 */
const {
  ALLOWED,
  CHECKS_ADDRESS,
  EXPIRES,
  HAS_RECORD,
  NO_PEER,
  REFRESHING,
  RESTRICTS_CLIENT,
  typeOf,
} = keyTable

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

  /** Where decisions are made: the cache's key table, or one of scratch slots without it. */
  const table = core.cache?.keys ?? new KeyTable(0)

  /**
   * The stored key for a hash after a cache miss: one store round trip, then cached, and
   * `decide` called on its slot in the same turn (a slot number is not held across an await:
   * the table may reuse it). A store answer is trusted only for exactly this hash (compared in
   * constant time: a defence against a store that matched loosely, by prefix or
   * case-insensitive collation) and only when it is of the type and mode the token itself
   * names; anything else is cached as "no such key", so the cached path can never admit what
   * this full path refuses.
   */
  function readKey<R>(
    hash: string,
    type: KeyType,
    mode: Mode,
    now: number,
    decide: (slot: number, now: number) => R,
  ): Promise<R> {
    const { cache } = core
    const generation = cache?.generation
    return core
      .call(() => core.store.findKeyByHash(hash))
      .then((found) => {
        const record =
          found !== null &&
          timingSafeEqualString(found.hash, hash) &&
          found.type === type &&
          found.mode === mode
            ? found
            : null
        // A change announced while the read was in flight may have made it stale already.
        if (cache !== null) {
          if (cache.generation === generation) {
            return decide(cache.rememberKey(hash, record, now), now)
          }
          // Not cached: a re-read this started may be tried again by the next request.
          const held = table.peek(hash)
          if (held !== undefined) table.flag(held, REFRESHING, false)
        }
        if (record === null) return decide(MISSING, now)
        // Not cached: a slot for this one decision.
        const slot = table.scratch(record)
        try {
          return decide(slot, now)
        } finally {
          table.release(slot)
        }
      })
  }

  /**
   * The cached answer for a hash, as `AuthCache.key` gives it. A verified key in the last
   * quarter of its ttl also has its record re-read in the background: the store answer renews
   * the slot in place when nothing changed (see `AuthCache.rememberKey`), and replaces or drops
   * it otherwise. The request that started it goes on with the slot, which is still within its
   * ttl. A failure goes to `onError`; the slot then lapses at its ttl and the next request
   * reads the store itself (and fails closed if it is still down).
   */
  function cached(hash: string, now: number): number | undefined {
    const { cache } = core
    if (cache === null) return undefined
    const slot = cache.key(hash, now)
    if (slot === undefined) return undefined
    // The flags, not the record: a warm hit does not read the slot's record.
    if (
      ((table.bits[slot] as number) & (HAS_RECORD | REFRESHING)) === HAS_RECORD &&
      cache.refreshDue(slot, now)
    ) {
      const record = table.record(slot) as StoredKey
      table.flag(slot, REFRESHING, true)
      readKey(record.hash, record.type, record.mode, now, ignore).catch(core.onError)
    }
    return slot
  }

  /**
   * `decide` on the slot for a key's hash, and `now`: synchronously (no await) on a cache hit.
   * Its record, if any, is of the type and mode the parsed token names: only such records are
   * cached, under the hash of exactly that token. `now` is passed on so that `decide` can be a
   * function made once, not a closure over it made on every request.
   */
  function lookUp<R>(
    hash: string,
    type: KeyType,
    mode: Mode,
    now: number,
    decide: (slot: number, now: number) => R,
  ): R | Promise<R> {
    const slot = cached(hash, now)
    return slot === undefined ? readKey(hash, type, mode, now, decide) : decide(slot, now)
  }

  function authenticate(
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
  ): Decision {
    const repeated = header.repeated(request)
    if (repeated !== null) return repeated
    // For the cache's ttl and the key's last use; an expiry reads the gate's clock (`admit`).
    // A reading a few milliseconds old (`recentClock`) only while a change feed bounds what the
    // cache may miss: without one, the ttl is that bound, and is checked on the clock read now.
    const now = core.cache === null || core.cache.watched ? core.recentClock() : core.clock()
    let usual: string | undefined
    let usualHash = ''
    if (core.cache !== null) {
      // The hot path: a key seen within the cache window is admitted without parsing.
      usual = header.usual(request)
      if (usual !== undefined) {
        usualHash = core.hash(usual)
        const slot = cached(usualHash, now)
        if (slot !== undefined && ((table.bits[slot] as number) & HAS_RECORD) !== 0) {
          return admit(slot, request, wanted, requiredMode, required, now)
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
    const slot = cached(hash, now)
    return slot === undefined
      ? concludeLater(hash, parsed.type, parsed.mode, request, wanted, requiredMode, required, now)
      : conclude(slot, request, wanted, requiredMode, required, now)
  }

  /** The decision once the store has answered for the key: its rules, or no such key. */
  function conclude(
    slot: number,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Verdict {
    return ((table.bits[slot] as number) & HAS_RECORD) !== 0
      ? admit(slot, request, wanted, requiredMode, required, now)
      : fail('api_key_invalid')
  }

  /**
   * {@link conclude} once the store has answered. A function of its own: a closure made in
   * `authenticate` over its arguments would have V8 allocate their context on every call, on
   * the cached path too.
   */
  function concludeLater(
    hash: string,
    type: KeyType,
    mode: Mode,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Promise<Verdict> {
    return readKey(hash, type, mode, now, (slot) =>
      conclude(slot, request, wanted, requiredMode, required, now),
    )
  }

  /**
   * The decision once the key's record is known (the entry has one): every rule a key must
   * pass, in order. An allowed secret or publishable key without expiry or client restrictions
   * is decided on the entry's own fields; its record is read only for a refusal, a restricted
   * key's permissions, or the first acceptance.
   */
  function admit(
    slot: number,
    request: AuthenticateRequest,
    wanted: 'secret' | 'publishable',
    requiredMode: Mode | undefined,
    required: readonly RequiredPermission[],
    now: number,
  ): Verdict {
    const bits = table.bits[slot] as number
    const type = typeOf(bits) as KeyType
    if (leakedToBrowser(type, request)) return fail('secret_key_from_browser')
    if (type !== wanted && !serves(type, wanted)) {
      return wrongType(TYPE_LABEL[type], wanted)
    }
    // The allowlist comes first: a caller outside it learns nothing more about the key (not
    // whether it expired, was rolled, or belongs to the other mode).
    if ((bits & CHECKS_ADDRESS) !== 0 && !allowed(slot, request)) {
      return fail('ip_not_allowed')
    }
    // The gate's clock, read now: `now` may be a few milliseconds old (see `recentClock`).
    if (
      (bits & EXPIRES) !== 0 &&
      ((table.record(slot) as StoredKey).expiresAt as number) <= core.clock()
    ) {
      return fail(
        'api_key_expired',
        (table.record(slot) as StoredKey).rolledToId === null
          ? 'This API key has expired.'
          : 'This API key was rolled and has expired.',
      )
    }
    if (requiredMode !== undefined && modeOf(bits) !== requiredMode) {
      return fail(
        'mode_mismatch',
        `This route requires a ${requiredMode} mode key; a ${modeOf(bits)} mode key was sent.`,
      )
    }
    // A restricted key only where the route names what it needs, and only with all of it.
    if (type === 'restricted') {
      const record = table.record(slot) as StoredKey
      const denied = deniedPermission(record, required)
      if (denied !== undefined) return permissionDenied(record, denied)
    }
    // Before the usage mark: a refused request does not count as a use.
    if ((bits & RESTRICTS_CLIENT) !== 0) {
      const restrictions = (table.record(slot) as StoredKey).clientRestrictions
      const memo = table.clientMemoOf(slot)
      const refusal = checkClient(core, memo, restrictions as ClientRestrictions, request)
      if (refusal !== null) return refusal
    }
    let auth = table.auth[slot]
    if (auth === undefined) {
      auth = acceptance(table.record(slot) as StoredKey, wanted)
      table.auth[slot] = auth
    }
    // Last: a usage flush it starts calls the store, which may announce a change at once,
    // and the slot is not to be read after that.
    core.usage.note(table, slot, now)
    return auth
  }

  /** The auth a key's slot hands every request it admits, made on its first. */
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
   * The key's allowlist against the client address. The last answer is kept in the slot, by
   * the socket address when no proxy is trusted (the address is then the socket's, whatever
   * the headers say), else by the resolved address.
   */
  function allowed(slot: number, request: AuthenticateRequest): boolean {
    const peer = request.remoteAddress
    if (core.trust === null && peer !== undefined && peer === table.lastPeer[slot]) {
      return ((table.bits[slot] as number) & ALLOWED) !== 0
    }
    const address = requestClientAddress(request, core.trust)
    if (address !== table.lastAddress[slot]) {
      let ranges = table.ranges[slot]
      if (ranges === undefined) {
        ranges = rangesOf((table.record(slot) as StoredKey).allowedIps)
        table.ranges[slot] = ranges
      }
      table.flag(slot, ALLOWED, inRanges(ranges, address))
      table.lastAddress[slot] = address
    }
    table.lastPeer[slot] = core.trust === null && peer !== undefined ? peer : NO_PEER
    return ((table.bits[slot] as number) & ALLOWED) !== 0
  }

  /** A secret or restricted key that a web browser sent: it has leaked into a page. */
  function leakedToBrowser(type: KeyType, request: AuthenticateRequest): boolean {
    return (
      (type === 'secret' || type === 'restricted') &&
      core.refuseSecretKeysFromBrowsers &&
      isBrowserRequest(request.headers)
    )
  }

  return { authenticate, lookUp, leakedToBrowser, table }
}

/** A decision nobody waits for: a background re-read's. */
function ignore(): void {}

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
