/**
 * The connection `watch()` listens on. Redis puts a connection that subscribes into pub/sub
 * mode, where it can run no other command, so this is a second connection: the one you pass as
 * `subscriber` (`client.duplicate()`, connected), or else the one RedisStore opens itself with
 * `client.duplicate()` (owned-subscriber.ts). Both clients resubscribe by themselves after a
 * reconnect; what was published while the connection was down is lost, so the store announces
 * a `reset` on every reconnect (on a node-redis cluster, which emits no such event, the
 * cache's `ttlMs` bounds it instead).
 */

/** A listener as node-redis calls it: strings, or Buffers in its buffer mode. */
type NodeRedisListener = (message: string | Uint8Array, channel: string | Uint8Array) => unknown

/** A node-redis v5 client or cluster, used for `subscribe`, `unsubscribe` and its `ready` event. */
export interface NodeRedisSubscriber {
  subscribe(channel: string, listener: NodeRedisListener): Promise<void>
  unsubscribe(channel: string, listener: NodeRedisListener): Promise<void>
  /** A client emits `ready` after every (re)connect; a cluster does not. */
  on?(event: 'ready', listener: () => void): unknown
  off?(event: 'ready', listener: () => void): unknown
}

/** An ioredis v5 or v6 `Redis` or `Cluster`, used for `subscribe` and its `message` and `ready` events. */
export interface IoRedisSubscriber {
  readonly isCluster: boolean
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  off(event: 'message', listener: (channel: string, message: string) => void): unknown
  off(event: 'ready', listener: () => void): unknown
}

/**
 * Any connection RedisStore accepts as `subscriber`: a second connection of the same client.
 * Optional: without it RedisStore opens its own with `client.duplicate()`. Pass one to own its
 * life yourself (or to share one subscriber between several stores).
 *
 * @example
 * ```ts
 * const subscriber = client.duplicate()
 * subscriber.on('error', (error) => console.error('redis subscriber', error.message))
 * await subscriber.connect()
 * const store = new RedisStore({ client, subscriber })
 * ```
 */
export type RedisSubscriber = NodeRedisSubscriber | IoRedisSubscriber

/**
 * Starts listening to one channel; resolves, once subscribed, to the function that stops it.
 * `onReconnect` is called each time the connection is ready again after it was lost: what was
 * published meanwhile is gone (pub/sub keeps nothing), so listeners must assume they missed it.
 */
export type ChannelSubscriber = (
  channel: string,
  onMessage: (message: string) => void,
  onReconnect: () => void,
) => Promise<() => Promise<void>>

/**
 * Calls `onReconnect` on every `ready` the connection emits once `arm()` was called (the first
 * `ready`, before the subscription existed, is not a reconnect). Returns `arm` and `stop`.
 */
function watchReconnects(
  connection: {
    on?(event: 'ready', listener: () => void): unknown
    off?(event: 'ready', listener: () => void): unknown
  },
  onReconnect: () => void,
): { arm(): void; stop(): void } {
  let armed = false
  const ready = () => {
    if (armed) onReconnect()
  }
  if (typeof connection.on !== 'function') return { arm() {}, stop() {} }
  connection.on('ready', ready)
  return {
    arm: () => {
      armed = true
    },
    stop: () => {
      armed = false
      connection.off?.('ready', ready)
    },
  }
}

function isIoRedisSubscriber(value: RedisSubscriber): value is IoRedisSubscriber {
  const candidate = value as Partial<IoRedisSubscriber>
  return typeof candidate.isCluster === 'boolean' && typeof candidate.on === 'function'
}

/**
 * ioredis unsubscribes a channel for the whole connection, so count the subscriptions each
 * connection holds per channel (several stores may share one subscriber) and send UNSUBSCRIBE
 * only when the last one stops. node-redis counts its listeners itself.
 */
const ioRedisSubscriptions = new WeakMap<IoRedisSubscriber, Map<string, number>>()

async function ioRedisSubscribe(subscriber: IoRedisSubscriber, channel: string): Promise<void> {
  let counts = ioRedisSubscriptions.get(subscriber)
  if (counts === undefined) {
    counts = new Map()
    ioRedisSubscriptions.set(subscriber, counts)
  }
  counts.set(channel, (counts.get(channel) ?? 0) + 1)
  try {
    await subscriber.subscribe(channel)
  } catch (error) {
    await ioRedisUnsubscribe(subscriber, channel, false)
    throw error
  }
}

async function ioRedisUnsubscribe(
  subscriber: IoRedisSubscriber,
  channel: string,
  send = true,
): Promise<void> {
  const counts = ioRedisSubscriptions.get(subscriber)
  const remaining = (counts?.get(channel) ?? 1) - 1
  if (remaining > 0) {
    counts?.set(channel, remaining)
    return
  }
  counts?.delete(channel)
  if (send) await subscriber.unsubscribe(channel)
}

/** Adapts whichever connection was given; throws `TypeError` for anything else. */
export function createChannelSubscriber(subscriber: RedisSubscriber): ChannelSubscriber {
  if (
    typeof subscriber !== 'object' ||
    subscriber === null ||
    typeof subscriber.subscribe !== 'function' ||
    typeof subscriber.unsubscribe !== 'function'
  ) {
    throw new TypeError(
      'RedisStore: options.subscriber must be a node-redis or ioredis connection ' +
        '(for example client.duplicate()), separate from options.client',
    )
  }
  if (isIoRedisSubscriber(subscriber)) {
    return async (channel, onMessage, onReconnect) => {
      const listener = (from: string, message: string) => {
        if (from === channel) onMessage(message)
      }
      const reconnects = watchReconnects(subscriber, onReconnect)
      subscriber.on('message', listener)
      try {
        await ioRedisSubscribe(subscriber, channel)
      } catch (error) {
        subscriber.off('message', listener)
        reconnects.stop()
        throw error
      }
      reconnects.arm()
      return async () => {
        reconnects.stop()
        subscriber.off('message', listener)
        await ioRedisUnsubscribe(subscriber, channel)
      }
    }
  }
  return async (channel, onMessage, onReconnect) => {
    const listener: NodeRedisListener = (message) => {
      onMessage(typeof message === 'string' ? message : Buffer.from(message).toString('utf8'))
    }
    const reconnects = watchReconnects(subscriber, onReconnect)
    try {
      await subscriber.subscribe(channel, listener)
    } catch (error) {
      reconnects.stop()
      throw error
    }
    reconnects.arm()
    return async () => {
      reconnects.stop()
      await subscriber.unsubscribe(channel, listener)
    }
  }
}
