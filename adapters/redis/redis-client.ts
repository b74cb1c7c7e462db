/**
 * The few things RedisStore needs from a Redis client, described as local interfaces so that it
 * works with node-redis and ioredis alike and depends on neither. The store only ever sends
 * `EVALSHA` and `EVAL`, each routed by its first key (which is what a cluster client needs).
 */

/** A node-redis v5 client from `createClient()`, connected by you. Only `sendCommand` is used. */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>
}

/** A node-redis v5 cluster from `createCluster()`, connected by you. */
export interface NodeRedisCluster {
  /** Present on a cluster only; tells it apart from a single-node client. */
  readonly masters: readonly unknown[]
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
  ): Promise<unknown>
}

/** An ioredis v5 or v6 `Redis` or `Cluster` instance. Only `call` is used. */
export interface IoRedisClient {
  readonly isCluster: boolean
  call(command: string, ...args: string[]): Promise<unknown>
}

/**
 * Any client RedisStore accepts for its commands. RedisStore tells them apart at runtime.
 *
 * @example
 * ```ts
 * new RedisStore({ client: createClient({ disableOfflineQueue: true }) }) // node-redis
 * new RedisStore({ client: createCluster({ rootNodes }) }) // node-redis cluster
 * new RedisStore({ client: new Redis({ enableOfflineQueue: false }) }) // ioredis
 * new RedisStore({ client: new Cluster(nodes, { enableOfflineQueue: false }) }) // ioredis cluster
 * ```
 */
export type RedisClient = NodeRedisClient | NodeRedisCluster | IoRedisClient

/** Sends one command; `firstKey` is the first key it touches, which routes it on a cluster. */
export type CommandSender = (args: string[], firstKey: string) => Promise<unknown>

/** True for ioredis (`Redis` and `Cluster`), which also has a `sendCommand` of its own. */
export function isIoRedis(value: unknown): value is IoRedisClient {
  const candidate = value as Partial<IoRedisClient> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.call === 'function' &&
    typeof candidate.isCluster === 'boolean'
  )
}

function isNodeRedisCluster(value: object): value is NodeRedisCluster {
  const candidate = value as Partial<NodeRedisCluster>
  return typeof candidate.sendCommand === 'function' && Array.isArray(candidate.masters)
}

/** ioredis would prefix the declared keys but not those a script derives, so it must not. */
function assertNoIoRedisKeyPrefix(client: IoRedisClient): void {
  const options = (client as { options?: { keyPrefix?: unknown; redisOptions?: unknown } }).options
  const redisOptions = options?.redisOptions as { keyPrefix?: unknown } | undefined
  if (options?.keyPrefix || redisOptions?.keyPrefix) {
    throw new TypeError(
      'RedisStore: the ioredis keyPrefix option is not supported; ' +
        'leave it unset and pass RedisStore the prefix option instead',
    )
  }
}

/** Adapts whichever client was given to a {@link CommandSender}; throws `TypeError` for others. */
export function createCommandSender(client: RedisClient): CommandSender {
  if (isIoRedis(client)) {
    assertNoIoRedisKeyPrefix(client)
    // ioredis finds the keys of EVAL/EVALSHA itself (numkeys) and routes by them.
    return ([command, ...args]) => client.call(command as string, ...args)
  }
  if (typeof client === 'object' && client !== null && isNodeRedisCluster(client)) {
    return (args, firstKey) => client.sendCommand(firstKey, false, args)
  }
  if (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as Partial<NodeRedisClient>).sendCommand === 'function'
  ) {
    return (args) => (client as NodeRedisClient).sendCommand(args)
  }
  throw new TypeError(
    'RedisStore: options.client must be a node-redis client or cluster (createClient, ' +
      'createCluster) or an ioredis Redis or Cluster instance',
  )
}
