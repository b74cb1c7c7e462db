/**
 * Run as a child process by redis-owned-subscriber.test.ts: an app that builds a gate on
 * `new RedisStore({ client })`, closes its client at the end and forgets `gate.close()`. It must
 * exit by itself: the subscriber the store opened is background work.
 *
 *   node --import tsx forgotten-close.ts <node-redis | ioredis> <redis url> <prefix>
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { createPortcullis } from '../../../src/index.js'
import { RedisStore } from '../index.js'

const [driver, url, prefix] = process.argv.slice(2) as [string, string, string]

async function main(): Promise<void> {
  if (driver === 'ioredis') {
    const client = new Redis(url, { lazyConnect: true })
    client.on('error', () => {})
    await client.connect()
    const store = new RedisStore({ client, prefix })
    createPortcullis({ store, sessionSecret: randomBytes(32) })
    await store.watch(() => {}) // subscribed, on the connection the store opened
    console.log('subscribed')
    await client.quit()
    return
  }
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  const store = new RedisStore({ client, prefix })
  createPortcullis({ store, sessionSecret: randomBytes(32) })
  await store.watch(() => {})
  console.log('subscribed')
  await client.close()
}

await main()
