import type {
  ClientScope,
  KeyChanges,
  KeyRoll,
  KeyRollResult,
  KeyUsage,
  PortcullisStore,
  StoreChange,
  StoredKey,
  StoredSession,
  Unwatch,
} from '../../src/index.js'
import { ClientSessionIndex } from './client-session-index.js'
import type { KeyLayout } from './key-layout.js'
import {
  DELETE_KEY,
  FIND_KEY_BY_HASH,
  INSERT_KEY,
  INSERT_SESSION,
  LIST_KEYS,
  READ_HASH,
  RECORD_KEY_USAGE,
  REVOKE_SESSION,
  ROLL_KEY,
  TOUCH_SESSION,
  UPDATE_KEY,
} from './lua-scripts.js'
import {
  fieldsToKey,
  fieldsToSession,
  keyChangesToFields,
  keyToFields,
  sessionToFields,
} from './record-codec.js'
import { type RedisStoreOptions, resolveRedisStoreOptions } from './redis-store-options.js'
import {
  decodeDeleted,
  decodeInsert,
  decodeKeyList,
  decodeRevocation,
  decodeRoll,
  decodeUpdatedKey,
  orEmpty,
} from './script-replies.js'
import type { ScriptRunner } from './script-runner.js'
import { sessionChangeMessage } from './store-change.js'
import { ChannelWatch } from './watch-channel.js'

export type { RedisStoreOptions } from './redis-store-options.js'

/** Keys per script in `recordKeyUsage`, so one batch never blocks Redis for long. */
const USAGE_BATCH = 256

/**
 * The shared store: keys and sessions in Redis (or Redis Cluster), for any number of app
 * instances. Every conditional write is one Lua script, so touch, revoke, roll and the inserts
 * are atomic across processes; native TTLs only collect garbage (the core still checks every
 * timestamp). Rolls, deletions, key updates and revocations are published on
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
  readonly #clients: ClientSessionIndex
  readonly #feed: ChannelWatch | null
  readonly #clock: () => number
  readonly #keyRetention: string
  readonly #sessionRetention: string

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options)
    this.#layout = resolved.layout
    this.prefix = resolved.layout.prefix
    this.#run = resolved.run
    this.#clients = new ClientSessionIndex(resolved.run, resolved.layout)
    this.#feed =
      resolved.subscribe === null
        ? null
        : new ChannelWatch(resolved.subscribe, this.#layout.channel)
    this.#clock = resolved.clock
    this.#keyRetention = resolved.keyRetention
    this.#sessionRetention = resolved.sessionRetention
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
    decodeInsert(INSERT_KEY, reply, 'key')
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
    return decodeKeyList(reply)
  }

  async updateKey(id: string, changes: KeyChanges): Promise<StoredKey | null> {
    const { set, remove } = keyChangesToFields(changes)
    const reply = await this.#run(
      UPDATE_KEY,
      [this.#layout.keyRecord(id)],
      [this.#layout.channel, String(set.length / 2), ...set, ...remove],
    )
    return decodeUpdatedKey(reply)
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
    return decodeRoll(reply)
  }

  async deleteKey(id: string): Promise<boolean> {
    const layout = this.#layout
    const reply = await this.#run(
      DELETE_KEY,
      [layout.keyRecord(id)],
      [layout.keyHashNamespace, layout.projectNamespace, layout.channel],
    )
    return decodeDeleted(reply)
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
    await this.#clients.add(session, now, this.#sessionRetention)
    const reply = await this.#run(
      INSERT_SESSION,
      [this.#layout.session(session.id)],
      [String(session.expiresAt), now, this.#sessionRetention, ...sessionToFields(session)],
    )
    decodeInsert(INSERT_SESSION, reply, 'session')
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
    return fieldsToSession(decodeRevocation(reply).fields)
  }

  /** Revokes each session of the client's index, then announces the client change once. */
  async revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    return this.#clients.revokeAll(scope, now)
  }

  async listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    return this.#clients.list(scope, (id) => this.getSession(id))
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
}
