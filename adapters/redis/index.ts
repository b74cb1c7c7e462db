export type {
  IoRedisClient,
  NodeRedisClient,
  NodeRedisCluster,
  RedisClient,
} from './redis-client.js'
export { RedisStore, type RedisStoreOptions } from './redis-store.js'
export type {
  IoRedisSubscriber,
  NodeRedisSubscriber,
  RedisSubscriber,
} from './watch-subscriber.js'
