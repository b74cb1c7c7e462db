import { AuthCache, type CacheOptions } from './auth-cache.js'
import type { AuthContext } from './auth-context.js'
import { compileTrustedProxies } from './client-address.js'
import { createSecretHasher, type SecretHasher } from './hashing.js'
import type { AddressMatcher } from './ip.js'
import { createKeyFormat, type KeyFormat } from './key-format.js'
import { createKeySealer, type KeySealer } from './key-seal.js'
import { optionalMilliseconds } from './option-checks.js'
import { createPermissionCatalog } from './permissions.js'
import { currentTime, recentNow } from './recent-clock.js'
import {
  createSessionTokenCodec,
  GENERATE_SECRET,
  type SessionKey,
  type SessionTokenCodec,
} from './session-token.js'
import type { PortcullisStore } from './store.js'
import { callStore } from './store-call.js'
import { UsageRecorder } from './usage-recorder.js'

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS

/** Options of {@link createPortcullis}. The object is read once and never modified. */
export interface PortcullisOptions {
  /** Where keys and sessions live: `MemoryStore`, `RedisStore`, `SqlStore` or your own. */
  store: PortcullisStore
  /**
   * Signs Client Session Tokens. A string or bytes is an HS256 secret (at least 32 bytes). Pass
   * a list to rotate: the first key signs, every key verifies (tokens carry a `kid`).
   */
  sessionSecret: SessionKey | readonly SessionKey[]
  /**
   * The resources restricted keys can be granted `read` or `write` on, e.g.
   * `['charges', 'customers', 'refunds']`; `client_sessions` is built in. A permission naming
   * anything else is refused, at key creation and when a route names it. Default: none.
   */
  resources?: readonly string[]
  /**
   * Current time in epoch milliseconds, read on every decision. Default `Date.now()`, which a
   * warm key decision reads about once per 10 ms for the cache's ttl and `lastUsedAt` while the
   * store's change feed is live (an expiry is always checked against a fresh reading): see
   * docs/caching.md.
   */
  clock?: () => number
  /** A session dies this long after its last authenticated use. Default 24 h. */
  idleTimeoutMs?: number
  /** No session lives longer than this after it was issued. Default 7 days. */
  maxLifetimeMs?: number
  /**
   * Proxies whose `X-Forwarded-For` is believed: addresses, CIDR ranges, or `loopback`,
   * `linklocal`, `uniquelocal`. Default: none, so the client address is the socket address.
   */
  trustedProxies?: readonly string[]
  /** 32 bytes (or base64url of 32 bytes) that make test keys revealable. Live keys never are. */
  revealKey?: string | Uint8Array
  /** HMAC key (at least 32 bytes) mixed into every stored key hash. Default: plain SHA-256. */
  pepper?: string | Uint8Array
  /** Product prefix for keys, e.g. `acme` gives `acme_sk_test_…`. Default: none. */
  keyPrefix?: string
  /** Header names that carry credentials. Default `authorization` (Bearer scheme) for both. */
  headers?: { apiKey?: string; session?: string }
  /**
   * Header names a mobile app sends for a publishable key limited to apps. Defaults:
   * `X-Android-Package`, `X-Android-Cert` (the SHA-256 of its signing certificate) and
   * `X-Ios-Bundle-Identifier`.
   */
  appHeaders?: { androidPackage?: string; androidCert?: string; iosBundleId?: string }
  /**
   * Refuse a secret or restricted key that a web browser sent (401 `secret_key_from_browser`,
   * telling the owner to roll it): it has leaked into a page. Default true.
   */
  refuseSecretKeysFromBrowsers?: boolean
  /** A store call that takes longer fails as `store_unavailable`. Default 2000 ms. */
  storeTimeoutMs?: number
  /** Longest grace period `keys.roll` accepts. Default 7 days. */
  maxGracePeriodMs?: number
  /** `lastUsedAt` is written in batches at most this often. Default 60 s. */
  usageFlushIntervalMs?: number
  /**
   * Receives failures of background work (batched `lastUsedAt` writes, the store's change
   * feed, a cached key's re-read ahead of its ttl) and, once, the warning with
   * `code: 'PORTCULLIS_NO_CHANGE_FEED'` when the store has no working `watch()`, so other
   * instances' revocations reach this cache only through its ttl. Default: ignored, except
   * that warning, which then goes to `process.emitWarning`.
   */
  onError?: (error: unknown) => void
  /**
   * The in-process cache of verified keys and sessions (on by default): a credential is
   * verified and looked up once per `ttlMs`, not on every request; changes announced by the
   * store's `watch()` drop entries at once. `false` turns it off.
   */
  cache?: CacheOptions | false
  /**
   * A session's idle expiry is written to the store at most once per this interval per
   * instance; in between it is slid in memory. The stored expiry is exact to within it.
   * Default: 60 s, or a tenth of `idleTimeoutMs` if that is shorter. Must be below
   * `idleTimeoutMs`.
   */
  touchIntervalMs?: number
}

/** Everything the operations share, resolved once from the options. */
export interface GateCore {
  readonly store: PortcullisStore
  /** The resources permissions may name: `options.resources` and `client_sessions`. */
  readonly resources: ReadonlySet<string>
  readonly clock: () => number
  /**
   * The clock a warm key decision reads for the cache's ttl and a key's last use: `clock` when
   * one was given, else `Date.now` as read within the last few milliseconds (`recent-clock.ts`).
   * Never for an expiry.
   */
  readonly recentClock: () => number
  readonly call: <T>(operation: () => Promise<T>) => Promise<T>
  readonly format: KeyFormat
  readonly hash: SecretHasher
  readonly tokens: SessionTokenCodec
  readonly sealer: KeySealer | null
  readonly trust: AddressMatcher | null
  readonly usage: UsageRecorder
  /** Auth contexts this gate issued; only these may create sessions. */
  readonly issued: WeakSet<AuthContext>
  readonly idleTimeoutMs: number
  readonly maxLifetimeMs: number
  readonly maxGracePeriodMs: number
  readonly apiKeyHeader: string
  readonly sessionHeader: string
  /** Lower-case names of the headers a mobile app identifies itself with. */
  readonly appHeaders: {
    readonly androidPackage: string
    readonly androidCert: string
    readonly iosBundleId: string
  }
  readonly refuseSecretKeysFromBrowsers: boolean
  /** The in-process cache; null when turned off. */
  readonly cache: AuthCache | null
  readonly touchIntervalMs: number
  readonly onError: (error: unknown) => void
}

function checkBoolean(value: unknown, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new TypeError(`options.${name} must be true or false`)
  return value
}

function headerName(value: string | undefined, name: string, fallback = 'authorization'): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(value)) {
    throw new TypeError(`${name} must be an HTTP header name`)
  }
  return value.toLowerCase()
}

function trustedProxiesOf(list: readonly string[] | undefined): AddressMatcher | null {
  try {
    return compileTrustedProxies(list)
  } catch (error) {
    throw new TypeError(`options.trustedProxies: ${(error as Error).message}`)
  }
}

const STORE_METHODS = [
  'insertKey',
  'findKeyByHash',
  'getKey',
  'listKeys',
  'updateKey',
  'rollKey',
  'deleteKey',
  'recordKeyUsage',
  'insertSession',
  'getSession',
  'touchSession',
  'revokeSession',
  'revokeClientSessions',
  'listClientSessions',
] as const

/** Every option name, so that a misspelt one is refused instead of silently ignored. */
const OPTION_NAMES = {
  store: true,
  sessionSecret: true,
  resources: true,
  clock: true,
  idleTimeoutMs: true,
  maxLifetimeMs: true,
  trustedProxies: true,
  revealKey: true,
  pepper: true,
  keyPrefix: true,
  headers: true,
  appHeaders: true,
  refuseSecretKeysFromBrowsers: true,
  storeTimeoutMs: true,
  maxGracePeriodMs: true,
  usageFlushIntervalMs: true,
  onError: true,
  cache: true,
  touchIntervalMs: true,
} as const satisfies Record<keyof PortcullisOptions, true>

/** Validates the options (throwing `TypeError` on misconfiguration) and builds the context. */
export function resolveOptions(options: PortcullisOptions): GateCore {
  if (typeof options !== 'object' || options === null) throw new TypeError('options are required')
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(OPTION_NAMES, name)) {
      throw new TypeError(
        `createPortcullis: unknown option "${name}" (known options: ${Object.keys(OPTION_NAMES).join(', ')})`,
      )
    }
  }
  const { store } = options
  if (typeof store !== 'object' || store === null) throw new TypeError('options.store is required')
  for (const method of STORE_METHODS) {
    if (typeof store[method] !== 'function') {
      throw new TypeError(`options.store does not implement ${method}() of the storage contract`)
    }
  }
  if (options.sessionSecret === undefined || options.sessionSecret === null) {
    throw new TypeError(
      `options.sessionSecret is required: at least 32 random bytes that sign Client Session Tokens (keep it secret, the same on every instance). ${GENERATE_SECRET}`,
    )
  }
  const clock = options.clock ?? currentTime
  if (typeof clock !== 'function') throw new TypeError('options.clock must be a function')
  const idleTimeoutMs = optionalMilliseconds(options.idleTimeoutMs, DAY_MS, 'idleTimeoutMs', 1)
  const maxLifetimeMs = optionalMilliseconds(options.maxLifetimeMs, 7 * DAY_MS, 'maxLifetimeMs', 1)
  if (idleTimeoutMs > maxLifetimeMs)
    throw new TypeError('idleTimeoutMs must not exceed maxLifetimeMs')
  const storeTimeoutMs = optionalMilliseconds(options.storeTimeoutMs, 2000, 'storeTimeoutMs', 1)
  const touchIntervalMs = optionalMilliseconds(
    options.touchIntervalMs,
    Math.max(1, Math.min(60_000, Math.floor(idleTimeoutMs / 10))),
    'touchIntervalMs',
    1,
  )
  if (touchIntervalMs >= idleTimeoutMs)
    throw new TypeError('touchIntervalMs must be below idleTimeoutMs')
  if (
    options.cache !== undefined &&
    options.cache !== false &&
    (typeof options.cache !== 'object' || options.cache === null)
  ) {
    throw new TypeError('cache must be an options object or false')
  }
  const onError = options.onError ?? (() => {})
  const call = <T>(operation: () => Promise<T>) => callStore(storeTimeoutMs, operation)
  return {
    store,
    resources: createPermissionCatalog(options.resources),
    clock,
    recentClock: options.clock ?? recentNow,
    call,
    format: createKeyFormat(options.keyPrefix),
    hash: createSecretHasher(options.pepper),
    tokens: createSessionTokenCodec(options.sessionSecret),
    sealer: options.revealKey === undefined ? null : createKeySealer(options.revealKey),
    trust: trustedProxiesOf(options.trustedProxies),
    usage: new UsageRecorder({
      write: (usage) => call(() => store.recordKeyUsage(usage)),
      clock,
      flushIntervalMs: optionalMilliseconds(
        options.usageFlushIntervalMs,
        60_000,
        'usageFlushIntervalMs',
        1,
      ),
      onError,
    }),
    issued: new WeakSet(),
    idleTimeoutMs,
    maxLifetimeMs,
    maxGracePeriodMs: optionalMilliseconds(
      options.maxGracePeriodMs,
      7 * DAY_MS,
      'maxGracePeriodMs',
      1,
    ),
    apiKeyHeader: headerName(options.headers?.apiKey, 'headers.apiKey'),
    appHeaders: Object.freeze({
      androidPackage: headerName(
        options.appHeaders?.androidPackage,
        'appHeaders.androidPackage',
        'x-android-package',
      ),
      androidCert: headerName(
        options.appHeaders?.androidCert,
        'appHeaders.androidCert',
        'x-android-cert',
      ),
      iosBundleId: headerName(
        options.appHeaders?.iosBundleId,
        'appHeaders.iosBundleId',
        'x-ios-bundle-identifier',
      ),
    }),
    refuseSecretKeysFromBrowsers: checkBoolean(
      options.refuseSecretKeysFromBrowsers,
      true,
      'refuseSecretKeysFromBrowsers',
    ),
    sessionHeader: headerName(options.headers?.session, 'headers.session'),
    cache: options.cache === false ? null : new AuthCache(options.cache ?? {}),
    touchIntervalMs,
    onError,
  }
}
