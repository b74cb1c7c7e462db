import { optionalMilliseconds } from '../../src/core/option-checks.js'
import {
  type ClientScope,
  ConflictError,
  type KeyRoll,
  type KeyRollResult,
  type KeyUsage,
  type PortcullisStore,
  type StoreChange,
  type StoredKey,
  type StoredSession,
  StoreUnavailableError,
  type Unwatch,
} from '../../src/index.js'
import { createKeyLayout, type KeyLayout } from './key-layout.js'
import {
  ANNOUNCE,
  DELETE_KEY,
  FIND_KEY_BY_HASH,
  INDEX_CLIENT_SESSION,
  INSERT_KEY,
  INSERT_SESSION,
  LIST_KEYS,
  type LuaScript,
  READ_HASH,
  READ_MEMBERS,
  RECORD_KEY_USAGE,
  REVOKE_SESSION,
  ROLL_KEY,
  SET_KEY_ALLOWED_IPS,
  TOUCH_SESSION,
} from './lua-scripts.js'
import {
  fieldsToKey,
  fieldsToSession,
  keyToFields,
  replyText,
  sessionToFields,
} from './record-codec.js'
import { createCommandSender, type RedisClient } from './redis-client.js'
import { createScriptRunner, type ScriptRunner } from './script-runner.js'
import { clientChangeMessage, sessionChangeMessage } from './store-change.js'
import { ChannelWatch } from './watch-channel.js'
import { canDuplicate, createOwnedChannelSubscriber } from './watch-owned-subscriber.js'
import { createChannelSubscriber, type RedisSubscriber } from './watch-subscriber.js'

const DAY_MS = 24 * 60 * 60 * 1000
/** Keys per script in `recordKeyUsage`, so one batch never blocks Redis for long. */
const USAGE_BATCH = 256

/**
 * Options of {@link RedisStore}. Read once; never modified.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = {
 *   client,
 *   prefix: 'billing:portcullis:',
 *   commandTimeoutMs: 500,
 *   onError: (error) => console.warn('portcullis subscriber:', error),
 * }
 * ```
 */
export interface RedisStoreOptions {
  /**
   * The connection for commands: a node-redis v5 client or cluster (`createClient`,
   * `createCluster`) or an ioredis v5/v6 `Redis` or `Cluster`, connected by you. RedisStore
   * never opens, closes or reconfigures it (without `subscriber`, it calls its `duplicate()`,
   * see there). Configure it to fail fast rather than queue while Redis is down (see the
   * README: `disableOfflineQueue` / `enableOfflineQueue: false`).
   */
  client: RedisClient
  /**
   * The connection `watch()` subscribes on (pub/sub puts a connection in a mode where it runs
   * no other command). Other instances' caches rely on `watch()` to hear about rolled,
   * deleted and re-allowlisted keys and revoked sessions within milliseconds.
   *
   * Default: RedisStore opens its own, `client.duplicate()` (same URL, credentials, TLS and
   * reconnect settings), when the first `watch()` subscribes, and closes it after the last
   * one stopped (the gate's `close()`) or on {@link RedisStore.close}. It does not keep the
   * process alive by itself (a cluster's does until then); its `error` events go to
   * `onError`. `watch()` fails if it cannot connect and subscribe within 5 s.
   *
   * Given: a second connection you created and connected (`client.duplicate()`); you own it,
   * listen to its `error` events and close it. RedisStore only subscribes and unsubscribes.
   */
  subscriber?: RedisSubscriber
  /**
   * Receives the errors of the subscriber connection RedisStore opened itself (it reconnects
   * by itself; changes missed meanwhile are covered by a `reset` to the watchers). Default:
   * ignored. Errors of your own connections are yours to listen to.
   */
  onError?: (error: unknown) => void
  /** Start of every key and of the change channel, so apps can share a Redis. Default `portcullis:`. */
  prefix?: string
  /**
   * A call that takes longer fails with `StoreUnavailableError`. A backstop for clients
   * without a command timeout; 0 turns it off. Default 1000 ms.
   */
  commandTimeoutMs?: number
  /** Time source for the garbage-collection TTLs, epoch ms. Default `Date.now`; give it the gate's clock. */
  clock?: () => number
  /**
   * How long a key stays after it expired or its roll's grace period ended, so it answers
   * `api_key_expired` rather than `api_key_invalid`. Default 30 days.
   */
  expiredKeyRetentionMs?: number
  /**
   * How long a session stays after it expired (idle or capped), so a revoked session keeps
   * answering `session_revoked`. Default 1 day.
   */
  expiredSessionRetentionMs?: number
}

const orEmpty = (value: number | null) => (value === null ? '' : String(value))

function unexpected(script: LuaScript, reply: unknown): never {
  throw new StoreUnavailableError(
    `RedisStore: unexpected reply to ${script.name}: ${JSON.stringify(reply)}`,
  )
}

/**
 * The shared store: keys and sessions in Redis (or Redis Cluster), for any number of app
 * instances. Every conditional write is one Lua script, so touch, revoke, roll and the inserts
 * are atomic across processes; native TTLs only collect garbage (the core still checks every
 * timestamp). Rolls, deletions, allowlist changes and revocations are published on
 * `<prefix>changes` by the same script that makes them, and `watch()` delivers them: another
 * instance's gate stops accepting a revoked credential within milliseconds (pub/sub delivery).
 *
 * Takes your node-redis or ioredis client for commands. For `watch()` it uses the
 * `subscriber` you pass, or else opens one connection of its own with `client.duplicate()`
 * (closed by the gate's `close()` or by {@link RedisStore.close}).
 *
 * @example
 * ```ts
 * import { createClient } from 'redis'
 * import { createPortcullis } from 'portcullis'
 * import { RedisStore } from 'portcullis/adapters/redis'
 *
 * const client = createClient({
 *   url: process.env.REDIS_URL,
 *   disableOfflineQueue: true,
 *   socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(retries * 100, 2000) },
 * })
 * client.on('error', (error) => console.error('redis', error.message))
 * await client.connect()
 *
 * const store = new RedisStore({ client, prefix: 'myapp:portcullis:' })
 * const gate = createPortcullis({ store, sessionSecret: process.env.CST_SECRET })
 * // At shutdown: the gate's close() also closes the subscriber the store opened.
 * await gate.close()
 * await client.close()
 * ```
 */
export class RedisStore implements PortcullisStore {
  /** The prefix every Redis key of this store starts with. */
  readonly prefix: string
  readonly #layout: KeyLayout
  readonly #run: ScriptRunner
  readonly #feed: ChannelWatch | null
  readonly #clock: () => number
  readonly #keyRetention: string
  readonly #sessionRetention: string

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('RedisStore: options with a client are required')
    }
    const { client, subscriber } = options
    if (subscriber !== undefined && (subscriber as unknown) === client) {
      throw new TypeError(
        'RedisStore: options.subscriber must be a second connection (client.duplicate()); ' +
          'a subscribed connection cannot run other commands',
      )
    }
    const clock = options.clock ?? Date.now
    if (typeof clock !== 'function')
      throw new TypeError('RedisStore: options.clock must be a function')
    this.#layout = createKeyLayout(options.prefix ?? 'portcullis:')
    this.prefix = this.#layout.prefix
    const timeoutMs = optionalMilliseconds(
      options.commandTimeoutMs,
      1000,
      'RedisStore: commandTimeoutMs',
    )
    this.#run = createScriptRunner(createCommandSender(client), timeoutMs)
    const onError = options.onError ?? (() => {})
    if (typeof onError !== 'function')
      throw new TypeError('RedisStore: options.onError must be a function')
    // Without a subscriber the store opens its own from the client, so that the obvious
    // construction still hears other instances' revocations (a client without duplicate(),
    // such as a hand-written one, leaves watch() unavailable and the gate says so).
    const subscribe =
      subscriber !== undefined
        ? createChannelSubscriber(subscriber)
        : canDuplicate(client)
          ? createOwnedChannelSubscriber(client, onError)
          : null
    this.#feed = subscribe === null ? null : new ChannelWatch(subscribe, this.#layout.channel)
    this.#clock = clock
    this.#keyRetention = String(
      optionalMilliseconds(
        options.expiredKeyRetentionMs,
        30 * DAY_MS,
        'RedisStore: expiredKeyRetentionMs',
      ),
    )
    this.#sessionRetention = String(
      optionalMilliseconds(
        options.expiredSessionRetentionMs,
        DAY_MS,
        'RedisStore: expiredSessionRetentionMs',
      ),
    )
  }

  async insertKey(key: StoredKey): Promise<void> {
    const layout = this.#layout
    const reply = await this.#run(
      INSERT_KEY,
      [
        layout.keyRecord(key.id),
        layout.keyHash(key.hash),
        layout.projectKeys(key.projectId),
        layout.keySequence,
      ],
      [
        key.id,
        orEmpty(key.expiresAt),
        String(this.#clock()),
        this.#keyRetention,
        ...keyToFields(key),
      ],
    )
    const status = replyText(reply)
    if (status === 'conflict') {
      throw new ConflictError('conflict', 'A key with this id or hash already exists')
    }
    if (status !== 'ok') unexpected(INSERT_KEY, reply)
  }

  async findKeyByHash(hash: string): Promise<StoredKey | null> {
    const reply = await this.#run(
      FIND_KEY_BY_HASH,
      [this.#layout.keyHash(hash)],
      [this.#layout.keyRecordNamespace],
    )
    const key = fieldsToKey(reply)
    // The index is exact, but a record must never be returned for a hash it does not carry.
    return key !== null && key.hash === hash ? key : null
  }

  async getKey(id: string): Promise<StoredKey | null> {
    return fieldsToKey(await this.#run(READ_HASH, [this.#layout.keyRecord(id)], []))
  }

  async listKeys(projectId: string): Promise<StoredKey[]> {
    const reply = await this.#run(
      LIST_KEYS,
      [this.#layout.projectKeys(projectId)],
      [this.#layout.keyRecordNamespace],
    )
    if (!Array.isArray(reply)) unexpected(LIST_KEYS, reply)
    return reply.map((fields) => fieldsToKey(fields) ?? unexpected(LIST_KEYS, reply))
  }

  async setKeyAllowedIps(id: string, allowedIps: readonly string[]): Promise<StoredKey | null> {
    const reply = await this.#run(
      SET_KEY_ALLOWED_IPS,
      [this.#layout.keyRecord(id)],
      [JSON.stringify([...allowedIps]), this.#layout.channel],
    )
    return fieldsToKey(reply)
  }

  async rollKey(roll: KeyRoll): Promise<KeyRollResult> {
    const layout = this.#layout
    const { replacement } = roll
    const reply = await this.#run(
      ROLL_KEY,
      [
        layout.keyRecord(roll.id),
        layout.keyRecord(replacement.id),
        layout.keyHash(replacement.hash),
        layout.projectKeys(replacement.projectId),
        layout.keySequence,
      ],
      [
        layout.keyHashNamespace,
        replacement.id,
        orEmpty(replacement.expiresAt),
        String(roll.oldExpiresAt),
        String(this.#clock()),
        this.#keyRetention,
        layout.channel,
        ...keyToFields(replacement),
      ],
    )
    const [status, oldFields, newFields] = Array.isArray(reply) ? reply : []
    switch (replyText(status)) {
      case 'rolled': {
        const previous = fieldsToKey(oldFields)
        const stored = fieldsToKey(newFields)
        return previous === null || stored === null
          ? unexpected(ROLL_KEY, reply)
          : { outcome: 'rolled', previous, replacement: stored }
      }
      case 'not_found':
        return { outcome: 'not_found' }
      case 'already_rolled':
        return { outcome: 'already_rolled' }
      case 'conflict':
        throw new ConflictError('conflict', 'A key with this id or hash already exists')
      default:
        return unexpected(ROLL_KEY, reply)
    }
  }

  async deleteKey(id: string): Promise<boolean> {
    const layout = this.#layout
    const reply = await this.#run(
      DELETE_KEY,
      [layout.keyRecord(id)],
      [layout.keyHashNamespace, layout.projectNamespace, layout.channel],
    )
    if (reply !== 0 && reply !== 1) unexpected(DELETE_KEY, reply)
    return reply === 1
  }

  async recordKeyUsage(usage: readonly KeyUsage[]): Promise<void> {
    for (let start = 0; start < usage.length; start += USAGE_BATCH) {
      const batch = usage.slice(start, start + USAGE_BATCH)
      await this.#run(
        RECORD_KEY_USAGE,
        batch.map(({ id }) => this.#layout.keyRecord(id)),
        batch.map(({ lastUsedAt }) => String(lastUsedAt)),
      )
    }
  }

  /**
   * Two steps, because a session and its client's index live in different cluster slots: the
   * id joins the index first, so a session can never exist unindexed (and escape a client-wide
   * revocation). An id whose insert then fails stays in the index harmlessly: readers check
   * every session against the scope, and the index expires after its last session's cap.
   */
  async insertSession(session: StoredSession): Promise<void> {
    const now = String(this.#clock())
    await this.#run(
      INDEX_CLIENT_SESSION,
      [this.#layout.client(session)],
      [session.id, String(session.maxExpiresAt), now, this.#sessionRetention],
    )
    const reply = await this.#run(
      INSERT_SESSION,
      [this.#layout.session(session.id)],
      [String(session.expiresAt), now, this.#sessionRetention, ...sessionToFields(session)],
    )
    const status = replyText(reply)
    if (status === 'conflict') {
      throw new ConflictError('conflict', 'A session with this id already exists')
    }
    if (status !== 'ok') unexpected(INSERT_SESSION, reply)
  }

  async getSession(id: string): Promise<StoredSession | null> {
    return fieldsToSession(await this.#run(READ_HASH, [this.#layout.session(id)], []))
  }

  async touchSession(id: string, now: number): Promise<StoredSession | null> {
    return fieldsToSession(
      await this.#run(
        TOUCH_SESSION,
        [this.#layout.session(id)],
        [String(now), this.#sessionRetention],
      ),
    )
  }

  async revokeSession(id: string, now: number): Promise<StoredSession | null> {
    const reply = await this.#run(
      REVOKE_SESSION,
      [this.#layout.session(id)],
      [String(now), this.#layout.channel, sessionChangeMessage(id)],
    )
    return fieldsToSession(this.#revocation(reply).fields)
  }

  /**
   * Reads the client's index, then revokes each session in its own atomic script (each on its
   * own slot), then announces the client change once, after the last revocation: one message
   * for the whole client, however many sessions it had. Announced also when some revocations
   * failed, for those that were made.
   */
  async revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    const ids = await this.#clientSessionIds(scope)
    const settled = await Promise.allSettled(
      ids.map((id) =>
        this.#run(
          REVOKE_SESSION,
          [this.#layout.session(id)],
          [String(now), '', '', scope.projectId, scope.mode, scope.clientId],
        ),
      ),
    )
    let revoked = 0
    let failure: { reason: unknown } | undefined
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') revoked += this.#revocation(outcome.value).revoked
      else failure ??= outcome
    }
    if (revoked > 0) {
      await this.#run(
        ANNOUNCE,
        [this.#layout.client(scope)],
        [this.#layout.channel, clientChangeMessage(scope)],
      )
    }
    if (failure !== undefined) throw failure.reason
    return revoked
  }

  async listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    const ids = await this.#clientSessionIds(scope)
    const sessions = await Promise.all(ids.map((id) => this.getSession(id)))
    return sessions
      .filter(
        (session): session is StoredSession =>
          session !== null &&
          session.projectId === scope.projectId &&
          session.mode === scope.mode &&
          session.clientId === scope.clientId,
      )
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  /**
   * Delivers every change made through any RedisStore with this prefix on this Redis (this one
   * included), via pub/sub on the `subscriber` connection (given, or opened from
   * `client.duplicate()` by the first watcher). Resolves once subscribed; rejects with
   * `StoreUnavailableError` if it cannot subscribe. Changes published while the subscriber is
   * disconnected are not replayed: a `reset` change is delivered when it is back.
   *
   * @example
   * ```ts
   * const unwatch = await store.watch((change) => cache.invalidate(change))
   * // later
   * await unwatch()
   * ```
   */
  async watch(listener: (change: StoreChange) => void): Promise<Unwatch> {
    if (this.#feed === null) {
      throw new TypeError(
        'RedisStore: watch() needs a subscriber connection, and options.client has no ' +
          'duplicate() to open one: pass options.subscriber, a second connection to the same Redis (connected)',
      )
    }
    return this.#feed.watch(listener)
  }

  /**
   * Ends every `watch()` and closes the subscriber connection the store opened itself, if any.
   * Never closes your `client` or a `subscriber` you passed (it only unsubscribes from it).
   * Commands keep working; a later `watch()` subscribes again. Call it after the gate's
   * `close()` (which already ends the gate's own watch).
   *
   * @example
   * ```ts
   * await gate.close()
   * await store.close()
   * await client.close() // node-redis; ioredis: client.quit()
   * ```
   */
  async close(): Promise<void> {
    await this.#feed?.close()
  }

  async #clientSessionIds(scope: ClientScope): Promise<string[]> {
    const reply = await this.#run(READ_MEMBERS, [this.#layout.client(scope)], [])
    if (!Array.isArray(reply)) unexpected(READ_MEMBERS, reply)
    return reply.map((id) => replyText(id) ?? unexpected(READ_MEMBERS, reply))
  }

  #revocation(reply: unknown): { revoked: number; fields: unknown } {
    if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1)) {
      unexpected(REVOKE_SESSION, reply)
    }
    return { revoked: reply[0] as number, fields: reply[1] }
  }
}
