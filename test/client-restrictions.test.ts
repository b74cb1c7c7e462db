import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { AuthResult, ErrorCode } from '../src/index.js'
import { makeGate } from './helpers.js'

// A signing certificate's SHA-256, in the three spellings people paste: colons and uppercase
// (as keytool and the Play Console show it), bare lowercase hex, and colons in lowercase.
const HEX = createHash('sha256').update('release signing certificate').digest('hex')
const FINGERPRINT = (HEX.match(/../g) as string[]).join(':').toUpperCase()
const FINGERPRINT_BARE = HEX.toLowerCase()
const FINGERPRINT_LOWER_COLONS = FINGERPRINT.toLowerCase()
const OTHER_FINGERPRINT = createHash('sha256').update('debug certificate').digest('hex')

type Headers = Record<string, string>

async function setup(options: Parameters<typeof makeGate>[0] = {}) {
  const made = makeGate({ usageFlushIntervalMs: 60_000, ...options })
  const { test } = await made.gate.projects.provision('proj_a')
  /** Authenticates the key as `requirePublishableKey` does: 'ok' or the error code. */
  const use = async (key: string, headers: Headers = {}) =>
    outcome(
      await made.gate.authenticate(
        { headers: { authorization: `Bearer ${key}`, ...headers }, remoteAddress: '203.0.113.7' },
        { credential: 'publishable' },
      ),
    )
  const publishable = (fields: Record<string, unknown>) =>
    made.gate.keys.create({ projectId: 'proj_a', type: 'publishable', mode: 'test', ...fields })
  return { ...made, test, use, publishable }
}

function outcome(result: AuthResult): { code: 'ok' | ErrorCode; status: number; message: string } {
  return result.ok
    ? { code: 'ok', status: 200, message: '' }
    : { code: result.error.code, status: result.error.status, message: result.error.message }
}

async function refusal(pending: Promise<unknown>) {
  try {
    await pending
  } catch (error) {
    return error as { code: string; param?: string; message: string }
  }
  throw new Error('expected a refusal')
}

describe('publishable keys limited to web origins', () => {
  it('admits the origins it lists and refuses others with 403 origin_not_allowed naming them', async () => {
    const { publishable, use } = await setup()
    const { key, record } = await publishable({
      allowedOrigins: ['https://shop.example.com', 'https://*.example.org', 'http://localhost:*'],
    })
    expect(record.allowedOrigins).toEqual([
      'https://shop.example.com',
      'https://*.example.org',
      'http://localhost:*',
    ])
    expect(record.allowedAndroidApps).toEqual([])
    expect(record.allowedIosBundleIds).toEqual([])
    for (const origin of [
      'https://shop.example.com',
      'https://admin.example.org',
      'http://localhost:3000',
      'http://localhost:5173',
    ]) {
      expect((await use(key, { origin })).code, origin).toBe('ok')
    }
    const refused = await use(key, { origin: 'https://shop.example.com.evil.net' })
    expect(refused).toEqual({
      code: 'origin_not_allowed',
      status: 403,
      message: 'This publishable key cannot be used from https://shop.example.com.evil.net.',
    })
    // The origin is named as compared: canonical, so a caller sees which one was refused.
    expect((await use(key, { origin: 'HTTPS://Evil.Example.NET:443' })).message).toContain(
      'from https://evil.example.net.',
    )
    expect((await use(key, { origin: 'https://example.org' })).code).toBe('origin_not_allowed')
    expect((await use(key, { origin: 'https://a.b.example.org' })).code).toBe('origin_not_allowed')
    expect((await use(key, { origin: 'http://shop.example.com' })).code).toBe('origin_not_allowed')
  })

  it('reads the Referer when there is no Origin, and refuses "null" and no header at all', async () => {
    const { publishable, use } = await setup()
    const { key } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
    expect((await use(key, { referer: 'https://shop.example.com/cart?item=3' })).code).toBe('ok')
    const lookalike = await use(key, { referer: 'https://evil.net/?https://shop.example.com' })
    expect(lookalike.code).toBe('origin_not_allowed')
    expect(lookalike.message).toContain('https://evil.net')
    for (const headers of [
      { origin: 'null' },
      {},
      { origin: 'null', referer: 'https://shop.example.com/' },
    ]) {
      const none = await use(key, headers)
      expect(none.code, JSON.stringify(headers)).toBe('origin_not_allowed')
      expect(none.status).toBe(403)
      expect(none.message).toContain('named none (no Origin or Referer, or "null")')
    }
  })

  it('answers each origin for itself when the same key is called from several, cached or not', async () => {
    for (const cache of [undefined, false] as const) {
      const { publishable, use } = await setup(cache === false ? { cache: false } : {})
      const { key } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
      const sequence = [
        'https://shop.example.com',
        'https://evil.net',
        'https://evil.net',
        'https://shop.example.com',
        'https://shop.example.com',
        'https://evil.net',
      ]
      const codes = []
      for (const origin of sequence) codes.push((await use(key, { origin })).code)
      expect(codes).toEqual(
        sequence.map((origin) => (origin === 'https://evil.net' ? 'origin_not_allowed' : 'ok')),
      )
    }
  })

  it('names the entry it refuses', async () => {
    const { publishable } = await setup()
    const bad = await refusal(
      publishable({ allowedOrigins: ['https://shop.example.com', 'https://*.com'] }),
    )
    expect(bad).toMatchObject({ code: 'invalid_request', param: 'allowedOrigins[1]' })
    expect(bad.message).toContain('"https://*.com"')
    expect(
      await refusal(publishable({ allowedOrigins: 'https://shop.example.com' })),
    ).toMatchObject({ code: 'invalid_request', param: 'allowedOrigins' })
  })
})

describe('publishable keys limited to mobile apps', () => {
  it('admits the Android apps it lists, by package and signing certificate, however the fingerprint is spelt', async () => {
    const { publishable, use } = await setup()
    const { key, record } = await publishable({
      allowedAndroidApps: [
        { packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT_BARE },
        { packageName: 'com.example.shop.beta', sha256CertFingerprint: FINGERPRINT },
      ],
    })
    // Shown canonical: uppercase pairs joined by colons.
    expect(record.allowedAndroidApps).toEqual([
      { packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT },
      { packageName: 'com.example.shop.beta', sha256CertFingerprint: FINGERPRINT },
    ])
    expect(record.allowedOrigins).toEqual([])
    const app = (packageName: string, cert: string) => ({
      'x-android-package': packageName,
      'x-android-cert': cert,
    })
    for (const cert of [FINGERPRINT, FINGERPRINT_BARE, FINGERPRINT_LOWER_COLONS]) {
      expect((await use(key, app('com.example.shop', cert))).code, cert).toBe('ok')
    }
    expect((await use(key, app('com.example.shop.beta', FINGERPRINT_BARE))).code).toBe('ok')
    const refusals: Headers[] = [
      app('com.example.shop', OTHER_FINGERPRINT),
      app('com.example.evil', FINGERPRINT),
      app('com.example', FINGERPRINT),
      { 'x-android-package': 'com.example.shop' },
      { 'x-android-cert': FINGERPRINT },
      { origin: 'https://shop.example.com' },
      {},
    ]
    for (const headers of refusals) {
      const refused = await use(key, headers)
      expect(refused.code, JSON.stringify(headers)).toBe('app_not_allowed')
      expect(refused.status).toBe(403)
      expect(refused.message).toContain('Android apps')
    }
  })

  it('admits the iOS bundle ids it lists and refuses every other app', async () => {
    const { publishable, use } = await setup()
    const { key, record } = await publishable({
      allowedIosBundleIds: ['com.example.shop', 'com.example.shop.widget'],
    })
    expect(record.allowedIosBundleIds).toEqual(['com.example.shop', 'com.example.shop.widget'])
    expect(record.allowedAndroidApps).toEqual([])
    const ios = (bundleId: string) => ({ 'x-ios-bundle-identifier': bundleId })
    expect((await use(key, ios('com.example.shop'))).code).toBe('ok')
    expect((await use(key, ios('com.example.shop.widget'))).code).toBe('ok')
    for (const headers of [
      ios('com.example.shop.evil'),
      ios('com.example'),
      { 'x-android-package': 'com.example.shop', 'x-android-cert': FINGERPRINT },
      {},
    ]) {
      const refused = await use(key, headers)
      expect(refused.code, JSON.stringify(headers)).toBe('app_not_allowed')
      expect(refused.status).toBe(403)
      expect(refused.message).toContain('iOS apps')
    }
  })

  it('names the entry it refuses', async () => {
    const { publishable } = await setup()
    const cases: [Record<string, unknown>, string][] = [
      [
        {
          allowedAndroidApps: [
            { packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT },
            { packageName: 'com.example.shop', sha256CertFingerprint: 'AB:CD' },
          ],
        },
        'allowedAndroidApps[1].sha256CertFingerprint',
      ],
      [
        { allowedAndroidApps: [{ packageName: 'shop', sha256CertFingerprint: FINGERPRINT }] },
        'allowedAndroidApps[0].packageName',
      ],
      [{ allowedAndroidApps: ['com.example.shop'] }, 'allowedAndroidApps[0]'],
      [{ allowedIosBundleIds: ['com.example.shop', 'not a bundle'] }, 'allowedIosBundleIds[1]'],
    ]
    for (const [fields, param] of cases) {
      expect(await refusal(publishable(fields)), param).toMatchObject({
        code: 'invalid_request',
        param,
      })
    }
  })

  it('reads the app from the header names given in appHeaders', async () => {
    const { gate, use } = await setup({
      appHeaders: {
        androidPackage: 'X-Client-Package',
        androidCert: 'X-Client-Cert',
        iosBundleId: 'X-Client-Bundle',
      },
    })
    const create = (fields: Record<string, unknown>) =>
      gate.keys.create({ projectId: 'proj_a', type: 'publishable', mode: 'test', ...fields })
    const android = await create({
      allowedAndroidApps: [{ packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT }],
    })
    const ios = await create({ allowedIosBundleIds: ['com.example.shop'] })
    expect(
      (
        await use(android.key, {
          'x-client-package': 'com.example.shop',
          'x-client-cert': FINGERPRINT,
        })
      ).code,
    ).toBe('ok')
    expect((await use(ios.key, { 'x-client-bundle': 'com.example.shop' })).code).toBe('ok')
    // The default names mean nothing now.
    expect(
      (
        await use(android.key, {
          'x-android-package': 'com.example.shop',
          'x-android-cert': FINGERPRINT,
        })
      ).code,
    ).toBe('app_not_allowed')
    expect((await use(ios.key, { 'x-ios-bundle-identifier': 'com.example.shop' })).code).toBe(
      'app_not_allowed',
    )
  })

  it('refuses an appHeaders name that is no header name', () => {
    expect(() => makeGate({ appHeaders: { iosBundleId: 'X Bundle' } })).toThrow(
      /appHeaders\.iosBundleId must be an HTTP header name/,
    )
  })
})

describe('one kind of client restriction, on publishable keys only', () => {
  it('refuses two kinds at once, at creation and in an update, and writes nothing', async () => {
    const { gate, publishable } = await setup()
    const twoKinds = {
      allowedOrigins: ['https://shop.example.com'],
      allowedIosBundleIds: ['com.example.shop'],
    }
    const before = await gate.keys.list('proj_a')
    const created = await refusal(publishable(twoKinds))
    expect(created).toMatchObject({ code: 'invalid_request', param: 'allowedIosBundleIds' })
    expect(created.message).toContain('one kind of client at most')
    expect(await gate.keys.list('proj_a')).toEqual(before)

    const { record } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
    const updated = await refusal(
      gate.keys.update(record.id, {
        allowedOrigins: [],
        allowedAndroidApps: [
          { packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT },
        ],
      }),
    )
    expect(updated).toMatchObject({ code: 'invalid_request', param: 'allowedAndroidApps' })
    expect((await gate.keys.get(record.id))?.allowedOrigins).toEqual(['https://shop.example.com'])
  })

  it('replaces one kind with another in an update, and lifts it with an empty list', async () => {
    const { gate, publishable, use } = await setup()
    const { key, record } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
    const switched = await gate.keys.update(record.id, {
      allowedIosBundleIds: ['com.example.shop'],
    })
    expect(switched).toMatchObject({
      allowedOrigins: [],
      allowedAndroidApps: [],
      allowedIosBundleIds: ['com.example.shop'],
    })
    expect((await use(key, { origin: 'https://shop.example.com' })).code).toBe('app_not_allowed')
    expect((await use(key, { 'x-ios-bundle-identifier': 'com.example.shop' })).code).toBe('ok')
    // Any of the three, empty, lifts whichever kind the key has.
    const lifted = await gate.keys.update(record.id, { allowedOrigins: [] })
    expect(lifted).toMatchObject({
      allowedOrigins: [],
      allowedAndroidApps: [],
      allowedIosBundleIds: [],
    })
    expect((await use(key, { origin: 'https://anywhere.example' })).code).toBe('ok')
    expect((await use(key)).code).toBe('ok')
  })

  it('refuses restrictions on secret, restricted and client keys', async () => {
    const { gate, test } = await setup({ resources: ['charges'] })
    const restricted = await gate.keys.create({
      projectId: 'proj_a',
      type: 'restricted',
      mode: 'test',
      permissions: { charges: 'read' },
    })
    const before = await gate.keys.list('proj_a')
    const attempts: [Promise<unknown>, string][] = [
      [
        gate.keys.create({
          projectId: 'proj_a',
          type: 'secret',
          mode: 'test',
          allowedOrigins: ['https://shop.example.com'],
        }),
        'allowedOrigins',
      ],
      [
        gate.keys.create({
          projectId: 'proj_a',
          type: 'restricted',
          mode: 'test',
          allowedIosBundleIds: ['com.example.shop'],
        }),
        'allowedIosBundleIds',
      ],
      [
        gate.keys.create({
          projectId: 'proj_a',
          type: 'client',
          mode: 'test',
          clientId: 'user_1',
          allowedOrigins: ['https://shop.example.com'],
        }),
        'allowedOrigins',
      ],
      [
        gate.keys.update(test.secretKey.record.id, {
          allowedAndroidApps: [
            { packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT },
          ],
        }),
        'allowedAndroidApps',
      ],
      [
        gate.keys.update(restricted.record.id, { allowedOrigins: ['https://shop.example.com'] }),
        'allowedOrigins',
      ],
    ]
    for (const [pending, param] of attempts) {
      const refused = await refusal(pending)
      expect(refused, param).toMatchObject({ code: 'invalid_request', param })
      expect(refused.message).toContain('publishable keys only')
    }
    expect(await gate.keys.list('proj_a')).toEqual(before)
  })
})

describe('client restrictions over time', () => {
  it('holds from the very next request after an update, through the cache', async () => {
    const { gate, publishable, use } = await setup()
    const { key, record } = await publishable({ allowedOrigins: ['https://old.example.com'] })
    const from = (origin: string) => use(key, { origin })
    // Warm the cache with both answers.
    expect((await from('https://old.example.com')).code).toBe('ok')
    expect((await from('https://new.example.com')).code).toBe('origin_not_allowed')
    await gate.keys.update(record.id, { allowedOrigins: ['https://new.example.com'] })
    expect((await from('https://old.example.com')).code).toBe('origin_not_allowed')
    expect((await from('https://new.example.com')).code).toBe('ok')
    await gate.keys.update(record.id, { allowedIosBundleIds: ['com.example.shop'] })
    expect((await from('https://new.example.com')).code).toBe('app_not_allowed')
    await gate.keys.update(record.id, { allowedIosBundleIds: [] })
    expect((await from('https://elsewhere.example')).code).toBe('ok')
    // And the other way: an unrestricted key, cached, is limited at once.
    await gate.keys.update(record.id, { allowedOrigins: ['https://new.example.com'] })
    expect((await from('https://elsewhere.example')).code).toBe('origin_not_allowed')
  })

  it('does not count a refused request as a use (lastUsedAt)', async () => {
    const { gate, clock, publishable, use } = await setup()
    const { key, record } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
    const lastUsedAt = async () => {
      await gate.flush()
      return (await gate.keys.get(record.id))?.lastUsedAt
    }
    clock.advance(1000)
    expect((await use(key, { origin: 'https://evil.net' })).code).toBe('origin_not_allowed')
    expect((await use(key)).code).toBe('origin_not_allowed')
    expect(await lastUsedAt()).toBeNull()
    clock.advance(1000)
    const admittedAt = clock.now()
    expect((await use(key, { origin: 'https://shop.example.com' })).code).toBe('ok')
    expect(await lastUsedAt()).toBe(admittedAt)
    clock.advance(1000)
    expect((await use(key, { origin: 'https://evil.net' })).code).toBe('origin_not_allowed')
    expect(await lastUsedAt()).toBe(admittedAt)
    // The same for apps.
    const ios = await publishable({ allowedIosBundleIds: ['com.example.shop'] })
    clock.advance(1000)
    expect((await use(ios.key, { 'x-ios-bundle-identifier': 'com.evil' })).code).toBe(
      'app_not_allowed',
    )
    await gate.flush()
    expect((await gate.keys.get(ios.record.id))?.lastUsedAt).toBeNull()
  })

  it('is inherited by the key a roll issues', async () => {
    const { gate, publishable, use } = await setup()
    const { record } = await publishable({ allowedOrigins: ['https://shop.example.com'] })
    const rolled = await gate.keys.roll(record.id)
    expect(rolled.record.allowedOrigins).toEqual(['https://shop.example.com'])
    expect((await use(rolled.key, { origin: 'https://evil.net' })).code).toBe('origin_not_allowed')
    expect((await use(rolled.key, { origin: 'https://shop.example.com' })).code).toBe('ok')
  })

  it('leaves an unrestricted publishable key usable from anywhere', async () => {
    const { test, use } = await setup()
    expect(test.publishableKey.record).toMatchObject({
      allowedOrigins: [],
      allowedAndroidApps: [],
      allowedIosBundleIds: [],
    })
    for (const headers of [{}, { origin: 'null' }, { origin: 'https://anything.example' }]) {
      expect((await use(test.publishableKey.key, headers)).code).toBe('ok')
    }
  })
})
