import { randomBytes } from 'node:crypto'
import { SignJWT, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import {
  type AuthResult,
  createPortcullis,
  type ErrorCode,
  StoreUnavailableError,
  toHttpError,
} from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import {
  bearer,
  DAY_MS,
  faultyStore,
  HOUR_MS,
  hung,
  makeGate,
  overriding,
  refused,
  secretAuth,
} from './helpers.js'

function expectError(result: AuthResult, code: ErrorCode, status: number) {
  expect(result.ok).toBe(false)
  if (result.ok) return
  expect(result.error.code).toBe(code)
  expect(result.error.status).toBe(status)
  return result.error
}

describe('authenticate: API keys', () => {
  it('accepts a secret key and tags the request with its project and mode', async () => {
    const { gate } = makeGate()
    const { live } = await gate.projects.provision('proj_a')
    const result = await gate.authenticate(bearer(live.secretKey.key), { credential: 'secret' })
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.auth).toEqual({
      mode: 'live',
      livemode: true,
      projectId: 'proj_a',
      credential: 'secret',
      keyId: live.secretKey.record.id,
      keyType: 'secret',
      metadata: {},
    })
    expect(Object.isFrozen(result.auth)).toBe(true)
  })

  it('accepts a publishable key where one is required', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const result = await gate.authenticate(bearer(test.publishableKey.key), {
      credential: 'publishable',
    })
    expect(result.ok && result.auth).toMatchObject({
      mode: 'test',
      livemode: false,
      credential: 'publishable',
    })
  })

  it('answers api_key_missing when no credential is sent', async () => {
    const { gate } = makeGate()
    for (const headers of [{}, { authorization: '' }, { authorization: '   ' }]) {
      expectError(
        await gate.authenticate({ headers }, { credential: 'secret' }),
        'api_key_missing',
        401,
      )
    }
  })

  it('refuses malformed keys and bad checksums without touching the store', async () => {
    const { gate, calls } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    calls.length = 0
    const key = test.secretKey.key
    const flipped = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21)
    const candidates = [
      'Basic dXNlcjpwYXNz',
      `Bearer ${key} extra`,
      'Bearer sk_test_short',
      `Bearer ${flipped}`,
      `Bearer ${key.slice(0, -1)}`,
      `Bearer ${key}0`,
      `Bearer ${'x'.repeat(10_000)}`,
      `Bearer ${key.replace('sk_test_', 'sk_prod_')}`,
    ]
    for (const authorization of candidates) {
      const result = await gate.authenticate(
        { headers: { authorization } },
        { credential: 'secret' },
      )
      expectError(result, 'api_key_invalid', 401)
    }
    expect(calls).toEqual([])
  })

  it('answers api_key_invalid for a well-formed key that does not exist', async () => {
    const other = makeGate()
    const { test } = await other.gate.projects.provision('proj_a')
    const { gate, calls } = makeGate()
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' }),
      'api_key_invalid',
      401,
    )
    expect(calls.filter((call) => call !== 'watch')).toEqual(['findKeyByHash'])
  })

  it('answers wrong_key_type for a secret key on a publishable route and the reverse', async () => {
    const { gate, calls } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    calls.length = 0
    const leak = expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'publishable' }),
      'wrong_key_type',
      401,
    )
    expect(leak?.message).toMatch(/secret key .*publishable key/i)
    expect(leak?.message).not.toContain(test.secretKey.key)
    expectError(
      await gate.authenticate(bearer(test.publishableKey.key), { credential: 'secret' }),
      'wrong_key_type',
      401,
    )
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'session' }),
      'wrong_key_type',
      401,
    )
    expect(calls).toEqual([])
  })

  it('answers wrong_key_type for a client session token sent as an API key', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const { token } = await gate.sessions.create(await secretAuth(gate, test.secretKey.key), {
      clientId: 'u1',
    })
    expectError(
      await gate.authenticate(bearer(token), { credential: 'secret' }),
      'wrong_key_type',
      401,
    )
  })

  it('answers api_key_expired for a key past its expiry', async () => {
    const { gate, clock } = makeGate()
    const { key } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'test',
      expiresAt: clock.now() + HOUR_MS,
    })
    expect((await gate.authenticate(bearer(key), { credential: 'secret' })).ok).toBe(true)
    clock.advance(HOUR_MS)
    expectError(
      await gate.authenticate(bearer(key), { credential: 'secret' }),
      'api_key_expired',
      401,
    )
  })

  it('answers mode_mismatch when a route requires the other mode', async () => {
    const { gate } = makeGate()
    const { test, live } = await gate.projects.provision('proj_a')
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret', mode: 'live' }),
      'mode_mismatch',
      403,
    )
    const ok = await gate.authenticate(bearer(live.secretKey.key), {
      credential: 'secret',
      mode: 'live',
    })
    expect(ok.ok).toBe(true)
  })

  it('reads the key from a configured header, with or without the Bearer scheme', async () => {
    const { gate } = makeGate({ headers: { apiKey: 'X-Api-Key' } })
    const { test } = await gate.projects.provision('proj_a')
    for (const value of [test.secretKey.key, `Bearer ${test.secretKey.key}`]) {
      const result = await gate.authenticate(
        { headers: { 'x-api-key': value } },
        { credential: 'secret' },
      )
      expect(result.ok).toBe(true)
    }
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' }),
      'api_key_missing',
      401,
    )
  })

  it('accepts a fetch Headers object', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const headers = new Headers({ Authorization: `Bearer ${test.secretKey.key}` })
    expect((await gate.authenticate({ headers }, { credential: 'secret' })).ok).toBe(true)
  })
})

describe('authenticate: IP allowlists', () => {
  async function restricted(allowedIps: string[], options = {}) {
    const made = makeGate(options)
    const { key } = await made.gate.keys.create({
      projectId: 'proj_a',
      type: 'secret',
      mode: 'live',
      allowedIps,
    })
    return { ...made, key }
  }

  it('lets listed addresses and ranges in, IPv4 and IPv6', async () => {
    const { gate, key } = await restricted(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7'])
    for (const address of [
      '203.0.113.1',
      '203.0.113.255',
      '2001:db8::1',
      '198.51.100.7',
      '::ffff:203.0.113.9',
    ]) {
      expect(
        (await gate.authenticate(bearer(key, address), { credential: 'secret' })).ok,
        address,
      ).toBe(true)
    }
  })

  it('answers 403 ip_not_allowed with the fixed message for anyone else', async () => {
    const { gate, key } = await restricted(['203.0.113.0/24'])
    for (const address of ['203.0.114.1', '2001:db8::1', '::ffff:10.0.0.1', 'not-an-ip']) {
      const error = expectError(
        await gate.authenticate(bearer(key, address), { credential: 'secret' }),
        'ip_not_allowed',
        403,
      )
      expect(error?.toJSON()).toEqual({
        error: {
          type: 'invalid_request_error',
          code: 'ip_not_allowed',
          message: 'Access is limited for this address',
        },
      })
    }
    expectError(
      await gate.authenticate({ headers: bearer(key).headers }, { credential: 'secret' }),
      'ip_not_allowed',
      403,
    )
  })

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    const { gate, key } = await restricted(['203.0.113.0/24'])
    const spoofed = {
      headers: { ...bearer(key).headers, 'x-forwarded-for': '203.0.113.5' },
      remoteAddress: '10.1.1.1',
    }
    expectError(await gate.authenticate(spoofed, { credential: 'secret' }), 'ip_not_allowed', 403)
  })

  it('walks X-Forwarded-For from the right through trusted proxies only', async () => {
    const { gate, key } = await restricted(['203.0.113.0/24'], {
      trustedProxies: ['loopback', '10.0.0.0/8'],
    })
    const via = (xff: string, remoteAddress = '127.0.0.1') => ({
      headers: { ...bearer(key).headers, 'x-forwarded-for': xff },
      remoteAddress,
    })
    expect(
      (await gate.authenticate(via('203.0.113.5, 10.0.0.2'), { credential: 'secret' })).ok,
    ).toBe(true)
    // The client forged the leftmost entry; the untrusted hop to its right is the client.
    expectError(
      await gate.authenticate(via('203.0.113.5, 198.51.100.1, 10.0.0.2'), { credential: 'secret' }),
      'ip_not_allowed',
      403,
    )
    // The same header from an untrusted peer is ignored.
    expectError(
      await gate.authenticate(via('203.0.113.5', '198.51.100.1'), { credential: 'secret' }),
      'ip_not_allowed',
      403,
    )
  })

  it('applies a changed allowlist at once', async () => {
    const { gate, key } = await restricted(['203.0.113.0/24'])
    const [record] = await gate.keys.list('proj_a')
    await gate.keys.setAllowedIps(record?.id ?? '', ['198.51.100.0/24'])
    expectError(
      await gate.authenticate(bearer(key, '203.0.113.1'), { credential: 'secret' }),
      'ip_not_allowed',
      403,
    )
    expect(
      (await gate.authenticate(bearer(key, '198.51.100.1'), { credential: 'secret' })).ok,
    ).toBe(true)
  })
})

describe('authenticate: Client Session Tokens', () => {
  async function withSession(options = {}) {
    const made = makeGate(options)
    const { test, live } = await made.gate.projects.provision('proj_a')
    const auth = await secretAuth(made.gate, test.secretKey.key)
    const created = await made.gate.sessions.create(auth, { clientId: 'user_1' })
    return { ...made, test, live, auth, ...created }
  }

  it('accepts a fresh token and tags the request with client, session and mode', async () => {
    const { gate, token, session } = await withSession()
    const result = await gate.authenticate(bearer(token), { credential: 'session' })
    expect(result.ok && result.auth).toEqual({
      mode: 'test',
      livemode: false,
      projectId: 'proj_a',
      credential: 'session',
      clientId: 'user_1',
      sessionId: session.id,
    })
  })

  it('answers session_missing and session_invalid', async () => {
    const { gate, token, calls } = await withSession()
    expectError(
      await gate.authenticate({ headers: {} }, { credential: 'session' }),
      'session_missing',
      401,
    )
    calls.length = 0
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, pid: 'proj_b' })).toString(
      'base64url',
    )
    const tampered = [
      `${header}.${forgedPayload}.${signature}`,
      `${header}.${payload}.${signature.slice(0, -2)}AA`,
      'not-a-token',
      `${header}.${payload}`,
      `Bearer${token}`,
    ]
    for (const candidate of tampered) {
      expectError(
        await gate.authenticate(bearer(candidate), { credential: 'session' }),
        'session_invalid',
        401,
      )
    }
    expect(calls).toEqual([])
  })

  it('refuses alg none, algorithm confusion and another instance’s signature before any store read', async () => {
    const { gate, session, calls } = await withSession()
    calls.length = 0
    const claims = { sid: session.id, pid: 'proj_a', mode: 'test', sub: 'user_1' }
    const now = Math.floor(Date.now() / 1000)
    const unsecured = new UnsecuredJWT(claims)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .encode()
    const otherSecret = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'pcst+jwt' })
      .setSubject('user_1')
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(randomBytes(32))
    for (const token of [unsecured, otherSecret]) {
      expectError(
        await gate.authenticate(bearer(token), { credential: 'session' }),
        'session_invalid',
        401,
      )
    }
    expect(calls).toEqual([])
  })

  it('slides on use, expires after the idle timeout, and stops at the cap', async () => {
    const { gate, clock, token } = await withSession({
      idleTimeoutMs: HOUR_MS,
      maxLifetimeMs: 3 * HOUR_MS,
    })
    clock.advance(HOUR_MS - 1)
    expect((await gate.authenticate(bearer(token), { credential: 'session' })).ok).toBe(true)
    clock.advance(HOUR_MS - 1)
    expect((await gate.authenticate(bearer(token), { credential: 'session' })).ok).toBe(true)
    clock.advance(HOUR_MS - 1)
    expect((await gate.authenticate(bearer(token), { credential: 'session' })).ok).toBe(true)
    clock.advance(3)
    expectError(
      await gate.authenticate(bearer(token), { credential: 'session' }),
      'session_expired',
      401,
    )
  })

  it('answers session_expired once idle for the whole timeout', async () => {
    const { gate, clock, token } = await withSession()
    clock.advance(DAY_MS)
    expectError(
      await gate.authenticate(bearer(token), { credential: 'session' }),
      'session_expired',
      401,
    )
  })

  it('answers session_expired for a token whose record was swept', async () => {
    const { gate, clock, token, memory } = await withSession()
    clock.advance(DAY_MS + 1)
    await memory.sweep()
    expectError(
      await gate.authenticate(bearer(token), { credential: 'session' }),
      'session_expired',
      401,
    )
  })

  it('answers session_revoked after revoke and revokeClient', async () => {
    const { gate, token, session, auth } = await withSession()
    await gate.sessions.revoke(session.id)
    expectError(
      await gate.authenticate(bearer(token), { credential: 'session' }),
      'session_revoked',
      401,
    )
    const second = await gate.sessions.create(auth, { clientId: 'user_1' })
    expect(await gate.sessions.revokeClient(auth, 'user_1')).toBe(1)
    expectError(
      await gate.authenticate(bearer(second.token), { credential: 'session' }),
      'session_revoked',
      401,
    )
  })

  it('answers mode_mismatch for a test session on a live-only route, without touching it', async () => {
    const { gate, token, calls } = await withSession()
    calls.length = 0
    expectError(
      await gate.authenticate(bearer(token), { credential: 'session', mode: 'live' }),
      'mode_mismatch',
      403,
    )
    expect(calls).toEqual([])
  })

  it('reads the token from a configured session header', async () => {
    const { gate, token } = await withSession({ headers: { session: 'x-client-session' } })
    const result = await gate.authenticate(
      { headers: { 'x-client-session': token } },
      { credential: 'session' },
    )
    expect(result.ok).toBe(true)
  })
})

describe('authenticate: development client keys', () => {
  it('accepts a test-mode client key where a session is required', async () => {
    const { gate, clock } = makeGate()
    const { key, record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'client',
      mode: 'test',
      clientId: 'dev_1',
    })
    expect(key.startsWith('ck_test_')).toBe(true)
    clock.advance(30 * DAY_MS)
    const result = await gate.authenticate(bearer(key), { credential: 'session' })
    expect(result.ok && result.auth).toEqual({
      mode: 'test',
      livemode: false,
      projectId: 'proj_a',
      credential: 'session',
      keyId: record.id,
      clientId: 'dev_1',
    })
    expectError(
      await gate.authenticate(bearer(key), { credential: 'secret' }),
      'wrong_key_type',
      401,
    )
    expectError(
      await gate.authenticate(bearer(key), { credential: 'session', mode: 'live' }),
      'mode_mismatch',
      403,
    )
  })

  it('is refused once it expired while its record was being read', async () => {
    const clock = createManualClock()
    const memory = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
    // A slow store: the key expires between the request and the store's answer.
    const slow = overriding(memory, {
      findKeyByHash: async (hash) => {
        clock.advance(2_000)
        return memory.findKeyByHash(hash)
      },
    })
    const gate = createPortcullis({ store: slow, sessionSecret: randomBytes(32), clock: clock.now })
    const { key } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'client',
      mode: 'test',
      clientId: 'dev_1',
      expiresAt: clock.now() + 1_000,
    })
    expectError(
      await gate.authenticate(bearer(key), { credential: 'session' }),
      'session_expired',
      401,
    )
  })

  it('cannot exist in live mode', async () => {
    const { gate } = makeGate()
    await expect(
      gate.keys.create({ projectId: 'proj_a', type: 'client', mode: 'live', clientId: 'dev_1' }),
    ).rejects.toMatchObject({ code: 'invalid_request', param: 'mode' })
  })
})

describe('authenticate: store failures fail closed', () => {
  it('answers store_unavailable (503), never 401, when the store throws', async () => {
    const source = makeGate()
    const { test } = await source.gate.projects.provision('proj_a')
    const auth = await secretAuth(source.gate, test.secretKey.key)
    const { token } = await source.gate.sessions.create(auth, { clientId: 'u1' })
    const gate = createPortcullis({ store: faultyStore(refused), sessionSecret: randomBytes(32) })
    const error = expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' }),
      'store_unavailable',
      503,
    )
    expect(error).toBeInstanceOf(StoreUnavailableError)
    expect(error?.cause).toBeInstanceOf(Error)
    expect(toHttpError(error as StoreUnavailableError).headers['retry-after']).toBe('1')
    // Sessions too: a token signed by a gate that shares the secret, checked against a dead store.
    const sharing = createPortcullis({
      store: faultyStore(refused),
      sessionSecret: randomBytes(32),
    })
    expect((await sharing.authenticate(bearer(token), { credential: 'session' })).ok).toBe(false)
  })

  it('answers store_unavailable within storeTimeoutMs when the store hangs', async () => {
    const source = makeGate()
    const { test } = await source.gate.projects.provision('proj_a')
    const gate = createPortcullis({
      store: faultyStore(hung),
      sessionSecret: randomBytes(32),
      storeTimeoutMs: 50,
    })
    const started = performance.now()
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' }),
      'store_unavailable',
      503,
    )
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('recovers as soon as the store answers again', async () => {
    let down = true
    const flaky = faultyStore(refused, () => down)
    const gate = createPortcullis({ store: flaky, sessionSecret: randomBytes(32) })
    down = false
    const { test } = await gate.projects.provision('proj_a')
    down = true
    expectError(
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' }),
      'store_unavailable',
      503,
    )
    down = false
    expect((await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })).ok).toBe(
      true,
    )
  })
})

describe('authenticate: a repeated credential header', () => {
  it('is refused when the raw header list shows it twice, even for a cached credential', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_twice')
    const auth = await secretAuth(gate, test.secretKey.key)
    const { token } = await gate.sessions.create(auth, { clientId: 'user_1' })
    for (const [credential, value, code] of [
      ['secret', `Bearer ${test.secretKey.key}`, 'api_key_invalid'],
      ['session', `Bearer ${token}`, 'session_invalid'],
    ] as const) {
      const once = { authorization: value }
      const single = await gate.authenticate(
        { headers: once, remoteAddress: '203.0.113.7', rawHeaders: ['Authorization', value] },
        { credential },
      )
      expect(single.ok).toBe(true)
      const twice = await gate.authenticate(
        {
          headers: once,
          remoteAddress: '203.0.113.7',
          rawHeaders: ['Authorization', value, 'Host', 'x', 'AUTHORIZATION', 'Bearer other'],
        },
        { credential },
      )
      expect(twice.ok ? 'ok' : twice.error.code).toBe(code)
    }
  })
})
