import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { createPortcullis, InvalidRequestError } from '../src/index.js'
import { bearer, DAY_MS, HOUR_MS, makeGate } from './helpers.js'

const KEY_SHAPE = /^(sk|pk)_(test|live)_[0-9A-Za-z]{49}$/

describe('projects.provision', () => {
  it('creates the four default keys, each shown once, and stores only their hashes', async () => {
    const { gate, memory } = makeGate()
    const project = await gate.projects.provision('proj_a')
    const created = [
      project.test.secretKey,
      project.test.publishableKey,
      project.live.secretKey,
      project.live.publishableKey,
    ]
    expect(created.map(({ key }) => key.slice(0, 8))).toEqual([
      'sk_test_',
      'pk_test_',
      'sk_live_',
      'pk_live_',
    ])
    for (const { key, record } of created) {
      expect(key).toMatch(KEY_SHAPE)
      expect(record.redacted).toBe(`${key.slice(0, 7)}_…${key.slice(-4)}`)
      expect(JSON.stringify(record)).not.toContain(key.slice(8, 30))
    }
    const stored = JSON.stringify(memory.entries())
    for (const { key } of created) expect(stored).not.toContain(key)
    expect(
      (await gate.keys.list('proj_a')).map((record) => `${record.type}/${record.mode}`),
    ).toEqual(['secret/test', 'publishable/test', 'secret/live', 'publishable/live'])
  })

  it('refuses to provision a project twice', async () => {
    const { gate } = makeGate()
    await gate.projects.provision('proj_a')
    await expect(gate.projects.provision('proj_a')).rejects.toMatchObject({
      code: 'project_exists',
      status: 409,
    })
    expect(await gate.keys.list('proj_a')).toHaveLength(4)
  })
})

describe('keys.create / list / get', () => {
  it('creates several named keys per project and mode and filters the list', async () => {
    const { gate } = makeGate()
    await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'live',
      name: 'Billing worker',
    })
    await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'live', name: 'CI' })
    await gate.keys.create({ projectId: 'proj_a', type: 'publishable', mode: 'test' })
    const live = await gate.keys.list('proj_a', { mode: 'live' })
    expect(live.map((record) => record.name)).toEqual(['Billing worker', 'CI'])
    expect(live.every((record) => record.livemode)).toBe(true)
    expect(await gate.keys.list('proj_a', { type: 'publishable' })).toHaveLength(1)
    const first = live[0]
    expect(first && (await gate.keys.get(first.id))).toEqual(first)
    expect(await gate.keys.get('key_doesnotexist')).toBeNull()
  })

  it('refuses bad input with a clear InvalidRequestError and writes nothing', async () => {
    const { gate, clock } = makeGate()
    const refusals: [Parameters<typeof gate.keys.create>[0], string][] = [
      [{ projectId: '', type: 'secret', mode: 'test' }, 'projectId'],
      [{ projectId: 'proj a', type: 'secret', mode: 'test' }, 'projectId'],
      [{ projectId: 'proj_a', type: 'admin' as 'secret', mode: 'test' }, 'type'],
      [{ projectId: 'proj_a', type: 'secret', mode: 'prod' as 'test' }, 'mode'],
      [{ projectId: 'proj_a', type: 'secret', mode: 'test', name: '  ' }, 'name'],
      [{ projectId: 'proj_a', type: 'secret', mode: 'test', name: 'x'.repeat(101) }, 'name'],
      [
        { projectId: 'proj_a', type: 'secret', mode: 'test', allowedIps: ['010.0.0.1'] },
        'allowedIps[0]',
      ],
      [
        { projectId: 'proj_a', type: 'publishable', mode: 'test', allowedIps: ['10.0.0.1'] },
        'allowedIps',
      ],
      [{ projectId: 'proj_a', type: 'secret', mode: 'test', expiresAt: clock.now() }, 'expiresAt'],
      [{ projectId: 'proj_a', type: 'secret', mode: 'test', expiresAt: 1.5 }, 'expiresAt'],
      [{ projectId: 'proj_a', type: 'client', mode: 'test' }, 'clientId'],
      [{ projectId: 'proj_a', type: 'secret', mode: 'test', clientId: 'u1' }, 'clientId'],
    ]
    for (const [input, param] of refusals) {
      const error = await gate.keys.create(input).catch((caught: unknown) => caught)
      expect(error, JSON.stringify(input)).toBeInstanceOf(InvalidRequestError)
      expect((error as InvalidRequestError).param).toBe(param)
      expect((error as InvalidRequestError).status).toBe(400)
    }
    expect(await gate.keys.list('proj_a')).toEqual([])
  })

  it('uses the product prefix when configured and refuses keys without it', async () => {
    const { gate } = makeGate({ keyPrefix: 'acme' })
    const { key, record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'test',
    })
    expect(key.startsWith('acme_sk_test_')).toBe(true)
    expect(record.redacted.startsWith('acme_sk_test_…')).toBe(true)
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    const bare = await gate.authenticate(bearer(key.slice('acme_'.length)), {
      credential: 'secret',
    })
    expect(!bare.ok && bare.error.code).toBe('api_key_invalid')
  })

  it('with a pepper, stores an HMAC that another pepper cannot match', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const a = createPortcullis({ store, sessionSecret: randomBytes(32), pepper: randomBytes(32) })
    const b = createPortcullis({ store, sessionSecret: randomBytes(32), pepper: randomBytes(32) })
    const plain = createPortcullis({ store, sessionSecret: randomBytes(32) })
    const { key } = await a.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    expect((await a.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    expect((await b.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(false)
    expect((await plain.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(false)
    expect(() =>
      createPortcullis({ store, sessionSecret: randomBytes(32), pepper: 'short' }),
    ).toThrow(/32 bytes/)
  })
})

describe('keys.roll', () => {
  it('retires the old key at once by default; the new one inherits name and allowlist', async () => {
    const { gate } = makeGate()
    const old = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'live',
      name: 'Backend',
      allowedIps: ['203.0.113.0/24'],
    })
    const rolled = await gate.keys.roll(old.record.id)
    expect(rolled.record).toMatchObject({
      name: 'Backend',
      allowedIps: ['203.0.113.0/24'],
      rolledFromId: old.record.id,
    })
    expect(rolled.previous.rolledToId).toBe(rolled.record.id)
    const refused = await gate.authenticate(bearer(old.key), { credential: 'secret' })
    expect(!refused.ok && refused.error.code).toBe('api_key_expired')
    expect(
      (await gate.authenticate(bearer(rolled.key, '203.0.113.9'), { credential: 'secret' })).ok,
    ).toBe(true)
    expect(
      (await gate.authenticate(bearer(rolled.key, '198.51.100.1'), { credential: 'secret' })).ok,
    ).toBe(false)
  })

  it('keeps the old key working through the grace period, never past its own expiry', async () => {
    const { gate, clock } = makeGate()
    const old = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'test',
      expiresAt: clock.now() + HOUR_MS,
    })
    const rolled = await gate.keys.roll(old.record.id, { gracePeriodMs: DAY_MS })
    expect(rolled.previous.expiresAt).toBe(clock.now() + HOUR_MS)
    clock.advance(HOUR_MS - 1)
    expect((await gate.authenticate(bearer(old.key), { credential: 'secret' })).ok).toBe(true)
    clock.advance(1)
    expect((await gate.authenticate(bearer(old.key), { credential: 'secret' })).ok).toBe(false)
    expect((await gate.authenticate(bearer(rolled.key), { credential: 'secret' })).ok).toBe(true)
  })

  it('refuses a second roll, an over-long grace period and an unknown key', async () => {
    const { gate } = makeGate({ maxGracePeriodMs: DAY_MS })
    const { record } = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    await expect(gate.keys.roll(record.id, { gracePeriodMs: DAY_MS + 1 })).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'gracePeriodMs',
    })
    await expect(gate.keys.roll(record.id, { gracePeriodMs: -1 })).rejects.toMatchObject({
      code: 'invalid_request',
    })
    expect(await gate.keys.list('proj_a')).toHaveLength(1)
    await gate.keys.roll(record.id, { gracePeriodMs: HOUR_MS })
    await expect(gate.keys.roll(record.id)).rejects.toMatchObject({
      code: 'key_already_rolled',
      status: 409,
    })
    await expect(gate.keys.roll('key_unknown')).rejects.toMatchObject({
      code: 'resource_missing',
      status: 404,
    })
    expect(await gate.keys.list('proj_a')).toHaveLength(2)
  })

  it('lets exactly one of several concurrent rolls win', async () => {
    const { gate } = makeGate()
    const { record } = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => gate.keys.roll(record.id)),
    )
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1)
    expect(await gate.keys.list('proj_a')).toHaveLength(2)
  })
})

describe('keys.delete / setAllowedIps', () => {
  it('deletes a key so it stops authenticating', async () => {
    const { gate } = makeGate()
    const { key, record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'test',
    })
    expect(await gate.keys.delete(record.id)).toBe(true)
    expect(await gate.keys.delete(record.id)).toBe(false)
    const result = await gate.authenticate(bearer(key), { credential: 'secret' })
    expect(!result.ok && result.error.code).toBe('api_key_invalid')
  })

  it('normalises allowlists, refuses bad ones without changing the stored list', async () => {
    const { gate } = makeGate()
    const { record } = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    const updated = await gate.keys.setAllowedIps(record.id, [
      '2001:DB8::/32',
      '::ffff:203.0.113.0/120',
      '198.51.100.7/32',
    ])
    expect(updated.allowedIps).toEqual(['2001:db8::/32', '203.0.113.0/24', '198.51.100.7'])
    for (const bad of [['::ffff:10.0.0.0/8'], ['10.0.0.1/8'], ['0x7f.1'], ['fe80::1%eth0']]) {
      await expect(gate.keys.setAllowedIps(record.id, bad)).rejects.toBeInstanceOf(
        InvalidRequestError,
      )
    }
    expect((await gate.keys.get(record.id))?.allowedIps).toEqual(updated.allowedIps)
    const pk = await gate.keys.create({ projectId: 'proj_a', type: 'publishable', mode: 'test' })
    await expect(gate.keys.setAllowedIps(pk.record.id, ['10.0.0.1'])).rejects.toMatchObject({
      code: 'invalid_request',
    })
    await expect(gate.keys.setAllowedIps('key_unknown', [])).rejects.toMatchObject({
      code: 'resource_missing',
    })
  })
})

describe('keys.reveal', () => {
  it('shows a test key again when revealKey is configured, never a live key', async () => {
    const { gate, memory } = makeGate({ revealKey: randomBytes(32) })
    const { test, live } = await gate.projects.provision('proj_a')
    expect(test.secretKey.record.revealable).toBe(true)
    expect(live.secretKey.record.revealable).toBe(false)
    expect(await gate.keys.reveal(test.secretKey.record.id)).toBe(test.secretKey.key)
    await expect(gate.keys.reveal(live.secretKey.record.id)).rejects.toMatchObject({
      code: 'key_not_revealable',
    })
    const stored = memory.entries().keys
    expect(stored.filter((key) => key.sealedSecret !== null).map((key) => key.mode)).toEqual([
      'test',
      'test',
    ])
    expect(JSON.stringify(stored)).not.toContain(test.secretKey.key)
  })

  it('refuses without revealKey, or with another one', async () => {
    const { gate, memory } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    await expect(gate.keys.reveal(test.secretKey.record.id)).rejects.toMatchObject({
      code: 'key_not_revealable',
    })
    const sealer = createPortcullis({
      store: memory,
      sessionSecret: randomBytes(32),
      revealKey: randomBytes(32),
    })
    const other = createPortcullis({
      store: memory,
      sessionSecret: randomBytes(32),
      revealKey: randomBytes(32),
    })
    const { record } = await sealer.keys.create({
      projectId: 'proj_b',
      type: 'secret',
      mode: 'test',
    })
    await expect(other.keys.reveal(record.id)).rejects.toMatchObject({ code: 'key_not_revealable' })
    expect(() =>
      createPortcullis({
        store: memory,
        sessionSecret: randomBytes(32),
        revealKey: randomBytes(16),
      }),
    ).toThrow(/32 bytes/)
  })
})

describe('lastUsedAt', () => {
  it('is kept without a store write per request and written in one batch', async () => {
    const { gate, clock, calls } = makeGate({ usageFlushIntervalMs: 60_000 })
    const { test } = await gate.projects.provision('proj_a')
    calls.length = 0
    for (let i = 0; i < 50; i++) {
      clock.advance(100)
      expect(
        (await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })).ok,
      ).toBe(true)
    }
    expect(calls.filter((call) => call === 'recordKeyUsage')).toEqual([])
    // This instance already reports the use...
    expect((await gate.keys.get(test.secretKey.record.id))?.lastUsedAt).toBe(clock.now())
    await gate.flush()
    expect(calls.filter((call) => call === 'recordKeyUsage')).toHaveLength(1)
    // ...and after the flush, so does any instance reading the store.
    const [stored] = await gate.keys.list('proj_a', { type: 'secret', mode: 'test' })
    expect(stored?.lastUsedAt).toBe(clock.now())
  })

  it('flushes on its own once the interval has passed', async () => {
    const { gate, clock, calls } = makeGate({ usageFlushIntervalMs: 60_000 })
    const { test } = await gate.projects.provision('proj_a')
    await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    clock.advance(60_000)
    await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls.filter((call) => call === 'recordKeyUsage')).toHaveLength(1)
    await gate.close()
  })
})

describe('createPortcullis options', () => {
  it('refuses misconfiguration at construction, without mutating the options', () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const options = { store, sessionSecret: randomBytes(32), trustedProxies: ['loopback'] }
    const frozen = Object.freeze({ ...options, trustedProxies: Object.freeze(['loopback']) })
    expect(() => createPortcullis(frozen)).not.toThrow()
    expect(() => createPortcullis({ ...options, sessionSecret: 'too short' })).toThrow(/32 bytes/)
    expect(() => createPortcullis({ ...options, trustedProxies: ['::ffff:10.0.0.0/8'] })).toThrow(
      /trustedProxies/,
    )
    expect(() => createPortcullis({ ...options, idleTimeoutMs: 0 })).toThrow(/idleTimeoutMs/)
    expect(() =>
      createPortcullis({ ...options, idleTimeoutMs: 2 * DAY_MS, maxLifetimeMs: DAY_MS }),
    ).toThrow()
    expect(() => createPortcullis({ ...options, keyPrefix: 'sk' })).toThrow(/keyPrefix/)
    expect(() => createPortcullis({ ...options, store: {} as typeof store })).toThrow(/insertKey/)
  })
})
