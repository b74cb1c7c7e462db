import { optionalMilliseconds } from '../../src/core/option-checks.js'
import { createKeyLayout, type KeyLayout } from './key-layout.js'
import { createCommandSender, type RedisClient } from './redis-client.js'
import type { RedisStore } from './redis-store.js'
import { createScriptRunner, type ScriptRunner } from './script-runner.js'
import { canDuplicate, createOwnedChannelSubscriber } from './watch-owned-subscriber.js'
import {
  type ChannelSubscriber,
  createChannelSubscriber,
  type RedisSubscriber,
} from './watch-subscriber.js'

const DAY_MS = 24 * 60 * 60 * 1000

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
   * deleted and updated keys and revoked sessions within milliseconds.
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

/** What a RedisStore is built from: its options checked, defaulted and put to work. */
export interface ResolvedRedisStoreOptions {
  readonly layout: KeyLayout
  /** Runs the store's Lua scripts on `client`, within `commandTimeoutMs`. */
  readonly run: ScriptRunner
  /** Subscribes to the change channel; null when there is no connection to subscribe on. */
  readonly subscribe: ChannelSubscriber | null
  readonly clock: () => number
  /** `expiredKeyRetentionMs`, as the scripts take it. */
  readonly keyRetention: string
  /** `expiredSessionRetentionMs`, as the scripts take it. */
  readonly sessionRetention: string
}

/** Checks the options (throwing `TypeError` for a bad one), fills in the defaults, and wires the connections. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
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
  const layout = createKeyLayout(options.prefix ?? 'portcullis:')
  const timeoutMs = optionalMilliseconds(
    options.commandTimeoutMs,
    1000,
    'RedisStore: commandTimeoutMs',
  )
  const run = createScriptRunner(createCommandSender(client), timeoutMs)
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
  const keyRetention = String(
    optionalMilliseconds(
      options.expiredKeyRetentionMs,
      30 * DAY_MS,
      'RedisStore: expiredKeyRetentionMs',
    ),
  )
  const sessionRetention = String(
    optionalMilliseconds(
      options.expiredSessionRetentionMs,
      DAY_MS,
      'RedisStore: expiredSessionRetentionMs',
    ),
  )
  return { layout, run, subscribe, clock, keyRetention, sessionRetention }
}
