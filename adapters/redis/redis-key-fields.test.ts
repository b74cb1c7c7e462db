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

describe.skipIf(!available)('RedisStore: JSON key fields and updateKey', () => {
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

  it('reads a key hash written before permissions, metadata and client restrictions existed as null for each', async () => {
    const { store, clock } = await openStore()
    const key = makeKey(clock.now(), { name: 'Old key', allowedIps: ['10.0.0.0/8'] })
    // The record exactly as an earlier release wrote it: no permissions, metadata or
    // clientRestrictions field.
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
    await admin.zAdd(`${store.prefix}{keys}:project:${key.projectId}`, {
      score: 1,
      value: key.id,
    })

    const expected = { ...key, permissions: null, metadata: null, clientRestrictions: null }
    expect(await store.getKey(key.id)).toEqual(expected)
    expect(await store.findKeyByHash(key.hash)).toEqual(expected)
    expect(await store.listKeys(key.projectId)).toEqual([expected])

    const updated = await store.updateKey(key.id, { metadata: { team: 'billing' } })
    expect(updated).toEqual({ ...expected, metadata: { team: 'billing' } })
    expect(await admin.hGet(record, 'permissions')).toBeNull()
    expect(await admin.hGet(record, 'metadata')).toBe('{"team":"billing"}')
    expect(await admin.hGet(record, 'clientRestrictions')).toBeNull()
  })

  it('keeps client restrictions as a JSON field, deleted when set to null, and rolls it with the key', async () => {
    const { store, clock } = await openStore()
    const key = makeKey(clock.now(), {
      type: 'publishable',
      prefix: 'pk_test',
      clientRestrictions: { kind: 'origins', origins: ['https://app.example.com'] },
    })
    await store.insertKey(key)
    const record = `${store.prefix}{keys}:key:${key.id}`
    expect(await admin.hGet(record, 'clientRestrictions')).toBe(
      '{"kind":"origins","origins":["https://app.example.com"]}',
    )
    const ios = { kind: 'ios', bundleIds: ['com.example.app'] } as const
    expect(await store.updateKey(key.id, { clientRestrictions: ios })).toEqual({
      ...key,
      clientRestrictions: ios,
    })
    expect(await admin.hGet(record, 'clientRestrictions')).toBe(JSON.stringify(ios))

    // ROLL_KEY copies the field from the old record as the script finds it (INHERITED_KEY_FIELDS).
    const replacement = makeKey(clock.now(), {
      type: 'publishable',
      prefix: 'pk_test',
      projectId: key.projectId,
      rolledFromId: key.id,
    })
    const rolled = await store.rollKey({ id: key.id, replacement, oldExpiresAt: clock.now() })
    expect(rolled.outcome === 'rolled' && rolled.replacement.clientRestrictions).toEqual(ios)
    const next = `${store.prefix}{keys}:key:${replacement.id}`
    expect(await admin.hGet(next, 'clientRestrictions')).toBe(JSON.stringify(ios))

    const cleared = await store.updateKey(replacement.id, { clientRestrictions: null })
    expect(cleared?.clientRestrictions).toBeNull()
    expect(Number(await admin.hExists(next, 'clientRestrictions'))).toBe(0)
    // Absent on the old record, absent on its replacement, whatever the caller's copy says.
    const third = makeKey(clock.now(), {
      type: 'publishable',
      prefix: 'pk_test',
      projectId: key.projectId,
      rolledFromId: replacement.id,
      clientRestrictions: ios,
    })
    const again = await store.rollKey({
      id: replacement.id,
      replacement: third,
      oldExpiresAt: clock.now(),
    })
    expect(again.outcome === 'rolled' && again.replacement.clientRestrictions).toBeNull()
    expect(
      Number(await admin.hExists(`${store.prefix}{keys}:key:${third.id}`, 'clientRestrictions')),
    ).toBe(0)
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

  it('refuses a stored permissions, metadata or clientRestrictions field that is not the JSON it should be', async () => {
    const { store, clock } = await openStore()
    const key = makeKey(clock.now())
    await store.insertKey(key)
    const record = `${store.prefix}{keys}:key:${key.id}`
    for (const [field, value] of [
      ['permissions', '{"charges":"admin"}'],
      ['permissions', '["charges"]'],
      ['metadata', '"text"'],
      ['metadata', 'not json'],
      // Fails closed: never read as an unrestricted key.
      ['clientRestrictions', '{"kind":"referrers","referrers":["https://app.example.com"]}'],
      ['clientRestrictions', '{"kind":"origins","origins":[42]}'],
      ['clientRestrictions', '{"kind":"android","apps":[{"packageName":"com.example.shop"}]}'],
      ['clientRestrictions', 'null'],
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
