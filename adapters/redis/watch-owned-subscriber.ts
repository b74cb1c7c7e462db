/**
 * The subscriber connection RedisStore opens itself when it is given none: a `duplicate()` of
 * the command client, so it inherits your URL, credentials, TLS and reconnect settings. It is
 * opened when the first `watch()` subscribes and closed when the last one stops (the gate's
 * `close()`) or by `store.close()`; it never touches your client.
 */
import { isIoRedis, type RedisClient } from './redis-client.js'
import {
  type ChannelSubscriber,
  createChannelSubscriber,
  type RedisSubscriber,
} from './watch-subscriber.js'

/** How long `watch()` waits for the connection it opens (connect, then SUBSCRIBE). */
export const OWNED_SUBSCRIBER_OPEN_TIMEOUT_MS = 5000

/** What RedisStore uses of a connection it opened, common to node-redis and ioredis. */
interface OwnedConnection {
  connect(): Promise<unknown>
  on(event: 'error', listener: (error: Error) => void): unknown
  off(event: 'error', listener: (error: Error) => void): unknown
  /** node-redis v5 (client and cluster): closes the socket at once. */
  destroy?(): void
  /** ioredis (`Redis` and `Cluster`): closes the socket at once, without reconnecting. */
  disconnect?(): unknown
  /** node-redis client: the socket no longer keeps the process alive. */
  unref?(): void
}

type Duplicate = (...args: unknown[]) => unknown

/** The client's `duplicate`, if it has one (node-redis client and cluster, ioredis Redis and Cluster). */
function duplicateOf(client: RedisClient): Duplicate | null {
  const duplicate = (client as { duplicate?: unknown }).duplicate
  return typeof duplicate === 'function' ? (duplicate as Duplicate).bind(client) : null
}

/** True when RedisStore can open its own subscriber from this client. */
export function canDuplicate(client: RedisClient): boolean {
  return duplicateOf(client) !== null
}

function isOwnedConnection(value: unknown): value is OwnedConnection {
  const candidate = value as Partial<OwnedConnection> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.connect === 'function' &&
    typeof candidate.on === 'function' &&
    typeof candidate.off === 'function' &&
    (typeof candidate.destroy === 'function' || typeof candidate.disconnect === 'function')
  )
}

function duplicateConnection(client: RedisClient, duplicate: Duplicate): OwnedConnection {
  // ioredis connects a new instance at once unless told otherwise; connect it here instead,
  // so that a failure is seen by watch() rather than retried unnoticed.
  const connection = isIoRedis(client)
    ? client.isCluster
      ? duplicate([], { lazyConnect: true })
      : duplicate({ lazyConnect: true })
    : duplicate()
  if (!isOwnedConnection(connection)) {
    throw new TypeError(
      'RedisStore: client.duplicate() did not return a connection it can open; ' +
        'pass options.subscriber (a second connection, connected) instead',
    )
  }
  return connection
}

function closeConnection(connection: OwnedConnection): void {
  try {
    if (typeof connection.destroy === 'function') connection.destroy()
    else connection.disconnect?.()
  } catch {
    // Already closed.
  }
}

/**
 * Connects, failing at the first connection error: node-redis would otherwise retry for as
 * long as its reconnect strategy allows, and `watch()` would not answer meanwhile.
 */
function connectOnce(connection: OwnedConnection): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => {
      connection.off('error', failed)
      reject(error)
    }
    connection.on('error', failed)
    connection.connect().then(
      () => {
        connection.off('error', failed)
        resolve()
      },
      (error: unknown) => failed(error instanceof Error ? error : new Error(String(error))),
    )
  })
}

/** Rejects after `ms` unless `promise` settled first (a frozen server answers nothing). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    timer.unref()
  })
  // Settles after a timeout too (the connection is closed then); nobody awaits it any more.
  promise.catch(() => {})
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Lets the process exit while only this background connection is open, as SqlStore's poll
 * timer does. node-redis clients have `unref()`; an ioredis `Redis` opens a new socket on every
 * (re)connect. Clusters offer neither: there the gate's `close()` (or `store.close()`) ends it.
 */
function unrefConnection(connection: OwnedConnection): void {
  if (typeof connection.unref === 'function') {
    connection.unref()
    return
  }
  const ioredis = connection as unknown as {
    stream?: { unref?(): void }
    on(event: 'connect', listener: () => void): unknown
  }
  const unrefStream = () => ioredis.stream?.unref?.()
  ioredis.on('connect', unrefStream)
  unrefStream()
}

/**
 * A {@link ChannelSubscriber} over a connection of its own: each subscription opens a
 * `duplicate()` of `client`, connects it and subscribes; stopping unsubscribes and closes it.
 * Errors the connection emits later (it reconnects by itself) go to `onError`, so an unheard
 * `error` event can never crash the process. Throws `TypeError` if the client has no `duplicate()`.
 */
export function createOwnedChannelSubscriber(
  client: RedisClient,
  onError: (error: unknown) => void,
): ChannelSubscriber {
  const duplicate = duplicateOf(client)
  if (duplicate === null) {
    throw new TypeError('RedisStore: options.client has no duplicate() to open a subscriber with')
  }
  return async (channel, onMessage, onReconnect) => {
    const connection = duplicateConnection(client, duplicate)
    connection.on('error', (error) => {
      try {
        onError(error)
      } catch {
        // A throwing onError must not become an unhandled 'error' event.
      }
    })
    let stop: () => Promise<void>
    try {
      stop = await within(
        (async () => {
          await connectOnce(connection)
          unrefConnection(connection)
          const subscribe = createChannelSubscriber(connection as unknown as RedisSubscriber)
          return subscribe(channel, onMessage, onReconnect)
        })(),
        OWNED_SUBSCRIBER_OPEN_TIMEOUT_MS,
      )
    } catch (error) {
      closeConnection(connection)
      throw error
    }
    return async () => {
      try {
        await stop()
      } finally {
        closeConnection(connection)
      }
    }
  }
}
