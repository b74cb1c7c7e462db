/**
 * Redis Cluster clients for the cluster suite: node-redis `createCluster` and ioredis `Cluster`,
 * configured like their single-node counterparts in `drivers.ts`.
 */
import { Cluster as IoRedisCluster } from 'ioredis'
import { createCluster } from 'redis'
import type { Driver } from './drivers.js'
import { ioRedisOptions, nodeRedisOptions } from './drivers.js'

const ignore = () => {}

/** `url` lists the seed nodes, comma-separated: `redis://127.0.0.1:7101,redis://127.0.0.1:7102`. */
const seeds = (url: string) => url.split(',')

function nodeRedisClusterOf(url: string, connectionName?: string) {
  const { socket, disableOfflineQueue } = nodeRedisOptions(url)
  const cluster = createCluster({
    rootNodes: seeds(url).map((seed) => ({ url: seed })),
    defaults: {
      disableOfflineQueue,
      socket,
      ...(connectionName === undefined ? {} : { name: connectionName }),
    },
  })
  cluster.on('error', ignore)
  return cluster
}

export const nodeRedisCluster: Driver = {
  name: 'node-redis cluster',
  async connect(url) {
    const client = nodeRedisClusterOf(url)
    const subscriber = client.duplicate()
    subscriber.on('error', ignore)
    await Promise.all([client.connect(), subscriber.connect()])
    return {
      client,
      subscriber,
      close: async () => {
        await Promise.all([client.close(), subscriber.close()])
      },
    }
  },
  async connectClient(url, options = {}) {
    const client = nodeRedisClusterOf(url, options.connectionName)
    await client.connect()
    return { client, close: () => client.close() }
  },
  unreachable(url) {
    const client = nodeRedisClusterOf(url)
    client.connect().catch(ignore)
    return { client, close: async () => client.destroy() }
  },
}

function ioRedisClusterOf(url: string, connectionName?: string) {
  const { enableOfflineQueue, lazyConnect, retryStrategy, ...shared } = ioRedisOptions
  const redisOptions = { ...shared, connectionName }
  const cluster = new IoRedisCluster(
    seeds(url).map((seed) => {
      const { hostname, port } = new URL(seed)
      return { host: hostname, port: Number(port) }
    }),
    { enableOfflineQueue, lazyConnect, clusterRetryStrategy: retryStrategy, redisOptions },
  )
  cluster.on('error', ignore)
  return cluster
}

export const ioRedisCluster: Driver = {
  name: 'ioredis cluster',
  async connect(url) {
    const client = ioRedisClusterOf(url)
    const subscriber = client.duplicate()
    subscriber.on('error', ignore)
    await Promise.all([client.connect(), subscriber.connect()])
    return {
      client,
      subscriber,
      close: async () => {
        await Promise.all([client.quit(), subscriber.quit()])
      },
    }
  },
  async connectClient(url, options = {}) {
    const client = ioRedisClusterOf(url, options.connectionName)
    await client.connect()
    return {
      client,
      close: async () => {
        await client.quit()
      },
    }
  },
  unreachable(url) {
    const client = ioRedisClusterOf(url)
    client.connect().catch(ignore)
    return { client, close: async () => client.disconnect() }
  },
}

export const CLUSTER_DRIVERS: readonly Driver[] = [nodeRedisCluster, ioRedisCluster]
