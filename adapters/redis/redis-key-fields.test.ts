import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StoreChange } from '../../src/index.js'
import { createManualClock, makeKey } from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import {
  type AdminClient,
  type Connections,
  connectAdmin,
  DRIVERS,
  deleteUnder,
  randomPrefix,
} from './test-support/drivers.js'

const available = await serviceAvailable('redis')
const url = serviceUrls.redis

describe.skipIf(!available)('RedisStore: permissions, metadata and updateKey', () => {
  const runPrefix = randomPrefix('portcullis-key-fields-test')
  let admin: AdminClient
  const opened: Connections[] = []
  let stores = 0

  beforeAll(async () => {
    admin = await connectAdmin(url)
  })
  afterAll(async () => {
    await Promise.all(opened.map((connections) => connections.close()))
    await deleteUnder(admin, runPrefix)
    await admin.close()
  })

  async function openStore(driver = DRIVERS[0]) {
    const connections = await driver?.connect(url)
    if (connections === undefined) throw new Error('no driver')
    opened.push(connections)
    const clock = createManualClock()
    const store = new RedisStore({
      client: connections.client,
      subscriber: connections.subscriber,
      prefix: `${runPrefix}${++stores}:`,
      clock: clock.now,
    })
    return { store, clock }
  }

  it('reads a key hash written before permissions and metadata existed as null for both', async () => {
    const { store, clock } = await openStore()
    const key = makeKey(clock.now(), { name: 'Old key', allowedIps: ['10.0.0.0/8'] })
    // The record exactly as an earlier release wrote it: no permissions, no metadata field.
    const record = `${store.prefix}{keys}:key:${key.id}`
    await admin.hSet(record, {
      id: key.id,
      projectId: key.projectId,
      type: key.type,
      mode: key.mode,
      name: key.name,
      hash: key.hash,
      prefix: key.prefix,
      last4: key.last4,
      allowedIps: JSON.stringify(key.allowedIps),
      createdAt: String(key.createdAt),
    })
    await admin.set(`${store.prefix}{keys}:hash:${key.hash}`, key.id)
    await admin.zAdd(`${store.prefix}{keys}:project:${key.projectId}`, { score: 1, value: key.id })

    const expected = { ...key, permissions: null, metadata: null }
    expect(await store.getKey(key.id)).toEqual(expected)
    expect(await store.findKeyByHash(key.hash)).toEqual(expected)
    expect(await store.listKeys(key.projectId)).toEqual([expected])

    const updated = await store.updateKey(key.id, { metadata: { team: 'billing' } })
    expect(updated).toEqual({ ...expected, metadata: { team: 'billing' } })
    expect(await admin.hGet(record, 'permissions')).toBeNull()
    expect(await admin.hGet(record, 'metadata')).toBe('{"team":"billing"}')
  })

  for (const driver of DRIVERS) {
    it(`${driver.name}: sets the fields given, deletes those set to null, and announces once`, async () => {
      const { store, clock } = await openStore(driver)
      const heard: StoreChange[] = []
      let arrived: () => void = () => {}
      const unwatch = await store.watch((change) => {
        heard.push(change)
        arrived()
      })
      const key = makeKey(clock.now(), {
        type: 'restricted',
        prefix: 'rk_test',
        permissions: { charges: 'read' },
        metadata: { team: 'billing' },
      })
      await store.insertKey(key)
      const record = `${store.prefix}{keys}:key:${key.id}`
      const announced = new Promise<void>((resolve) => {
        arrived = resolve
      })
      const updated = await store.updateKey(key.id, {
        name: 'Renamed',
        permissions: { charges: 'write' },
        metadata: null,
      })
      await announced
      expect(updated).toEqual({
        ...key,
        name: 'Renamed',
        permissions: { charges: 'write' },
        metadata: null,
      })
      expect(Number(await admin.hExists(record, 'metadata'))).toBe(0)
      expect(await admin.hGet(record, 'permissions')).toBe('{"charges":"write"}')
      expect(heard).toEqual([{ type: 'key', keyId: key.id, hash: key.hash }])
      // Records are frozen: a reader of a cached record cannot change it for the others.
      expect(Object.isFrozen(updated?.permissions)).toBe(true)
      await unwatch()
    })
  }

  it('refuses a stored permissions or metadata field that is not the JSON it should be', async () => {
    const { store, clock } = await openStore()
    const key = makeKey(clock.now())
    await store.insertKey(key)
    const record = `${store.prefix}{keys}:key:${key.id}`
    for (const [field, value] of [
      ['permissions', '{"charges":"admin"}'],
      ['permissions', '["charges"]'],
      ['metadata', '"text"'],
      ['metadata', 'not json'],
    ] as const) {
      await admin.hSet(record, field, value)
      await expect(store.getKey(key.id)).rejects.toThrow(
        `RedisStore: the stored key ${key.id} has a missing or malformed ${field} field`,
      )
      await admin.hDel(record, field)
    }
    expect(await store.getKey(key.id)).toEqual(key)
  })
})
