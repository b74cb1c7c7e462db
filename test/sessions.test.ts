import { randomBytes } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { type AuthContext, createPortcullis } from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import { bearer, DAY_MS, makeGate, secretAuth } from './helpers.js'

describe('sessions.create', () => {
  it('issues a signed token carrying only ids, project and mode', async () => {
    const { gate, clock } = makeGate()
    const { live } = await gate.projects.provision('proj_a')
    const { token, session } = await gate.sessions.create(
      await secretAuth(gate, live.secretKey.key),
      {
        clientId: 'user_1',
      },
    )
    expect(session).toMatchObject({
      projectId: 'proj_a',
      mode: 'live',
      livemode: true,
      clientId: 'user_1',
      createdAt: clock.now(),
      expiresAt: clock.now() + DAY_MS,
      maxExpiresAt: clock.now() + 7 * DAY_MS,
      revokedAt: null,
    })
    const header = decodeProtectedHeader(token)
    expect(header).toMatchObject({ alg: 'HS256', typ: 'pcst+jwt' })
    expect(typeof header.kid).toBe('string')
    expect(decodeJwt(token)).toEqual({
      sid: session.id,
      pid: 'proj_a',
      mode: 'live',
      sub: 'user_1',
      iat: Math.floor(clock.now() / 1000),
      exp: Math.ceil((clock.now() + 7 * DAY_MS) / 1000),
    })
  })

  it('needs a secret-key authentication issued by this gate', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const publishable = await gate.authenticate(bearer(test.publishableKey.key), {
      credential: 'publishable',
    })
    expect(publishable.ok).toBe(true)
    if (!publishable.ok) return
    await expect(gate.sessions.create(publishable.auth, { clientId: 'u1' })).rejects.toMatchObject({
      code: 'wrong_key_type',
    })
    const forged: AuthContext = {
      mode: 'live',
      livemode: true,
      projectId: 'proj_a',
      credential: 'secret',
    }
    await expect(gate.sessions.create(forged, { clientId: 'u1' })).rejects.toThrow(TypeError)
    // A hand-made object of another credential is refused as that credential.
    await expect(
      gate.sessions.create({ ...forged, credential: 'publishable' }, { clientId: 'u1' }),
    ).rejects.toMatchObject({ code: 'wrong_key_type' })
    const elsewhere = makeGate()
    await expect(
      elsewhere.gate.sessions.create(await secretAuth(gate, test.secretKey.key), {
        clientId: 'u1',
      }),
    ).rejects.toThrow(TypeError)
  })

  it('refuses an empty, over-long or control-character clientId', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const auth = await secretAuth(gate, test.secretKey.key)
    for (const clientId of ['', 'x'.repeat(256), 'a\nb', 42 as unknown as string]) {
      await expect(gate.sessions.create(auth, { clientId })).rejects.toMatchObject({
        code: 'invalid_request',
        param: 'clientId',
      })
    }
    expect(await gate.sessions.list(auth, 'x'.repeat(255))).toEqual([])
  })
})

describe('sessions.refresh / revoke / revokeClient', () => {
  it('refreshes a known client with a new token and refuses an unknown one', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const auth = await secretAuth(gate, test.secretKey.key)
    await expect(gate.sessions.refresh(auth, { clientId: 'user_1' })).rejects.toMatchObject({
      code: 'resource_missing',
      status: 404,
    })
    const first = await gate.sessions.create(auth, { clientId: 'user_1' })
    const second = await gate.sessions.refresh(auth, { clientId: 'user_1' })
    expect(second.session.id).not.toBe(first.session.id)
    expect((await gate.authenticate(bearer(second.token), { credential: 'session' })).ok).toBe(true)
    expect(await gate.sessions.list(auth, 'user_1')).toHaveLength(2)
  })

  it('revokes within the scope of a key and refuses across modes', async () => {
    const { gate } = makeGate()
    const { test, live } = await gate.projects.provision('proj_a')
    const testAuth = await secretAuth(gate, test.secretKey.key)
    const liveAuth = await secretAuth(gate, live.secretKey.key)
    const { session } = await gate.sessions.create(liveAuth, { clientId: 'user_1' })
    await expect(gate.sessions.revoke(session.id, { auth: testAuth })).rejects.toMatchObject({
      code: 'mode_mismatch',
      status: 403,
    })
    expect((await gate.sessions.list(liveAuth, 'user_1'))[0]?.revokedAt).toBeNull()
    const revoked = await gate.sessions.revoke(session.id, { auth: liveAuth })
    expect(revoked.revokedAt).not.toBeNull()
    await expect(gate.sessions.revoke('cs_unknown')).rejects.toMatchObject({
      code: 'resource_missing',
    })
    await expect(gate.sessions.revoke('../etc')).rejects.toMatchObject({ code: 'invalid_request' })
  })

  it('revokeClient touches only that client in that mode', async () => {
    const { gate } = makeGate()
    const { test, live } = await gate.projects.provision('proj_a')
    const testAuth = await secretAuth(gate, test.secretKey.key)
    const liveAuth = await secretAuth(gate, live.secretKey.key)
    const a = await gate.sessions.create(testAuth, { clientId: 'user_1' })
    const b = await gate.sessions.create(liveAuth, { clientId: 'user_1' })
    const c = await gate.sessions.create(testAuth, { clientId: 'user_2' })
    expect(await gate.sessions.revokeClient(testAuth, 'user_1')).toBe(1)
    expect((await gate.authenticate(bearer(a.token), { credential: 'session' })).ok).toBe(false)
    expect((await gate.authenticate(bearer(b.token), { credential: 'session' })).ok).toBe(true)
    expect((await gate.authenticate(bearer(c.token), { credential: 'session' })).ok).toBe(true)
  })
})

describe('session signing keys', () => {
  it('rotates: the first key signs, every listed key verifies', async () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const oldSecret = randomBytes(32)
    const newSecret = randomBytes(32)
    const before = createPortcullis({ store, sessionSecret: oldSecret })
    const during = createPortcullis({ store, sessionSecret: [newSecret, oldSecret] })
    const after = createPortcullis({ store, sessionSecret: newSecret })
    const { test } = await before.projects.provision('proj_a')
    const oldToken = (
      await before.sessions.create(await secretAuth(before, test.secretKey.key), { clientId: 'u' })
    ).token
    const newToken = (
      await during.sessions.create(await secretAuth(during, test.secretKey.key), { clientId: 'u' })
    ).token
    expect((await during.authenticate(bearer(oldToken), { credential: 'session' })).ok).toBe(true)
    expect((await after.authenticate(bearer(newToken), { credential: 'session' })).ok).toBe(true)
    const retired = await after.authenticate(bearer(oldToken), { credential: 'session' })
    expect(!retired.ok && retired.error.code).toBe('session_invalid')
  })

  it('accepts an asymmetric key pair and refuses HS256 forged with its public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true })
    const clock = createManualClock()
    const store = new MemoryStore({ sweepIntervalMs: 0 })
    const gate = createPortcullis({
      store,
      clock: clock.now,
      sessionSecret: { alg: 'EdDSA', kid: 'ed-1', publicKey, privateKey },
    })
    const { test } = await gate.projects.provision('proj_a')
    const { token, session } = await gate.sessions.create(
      await secretAuth(gate, test.secretKey.key),
      {
        clientId: 'u',
      },
    )
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: 'ed-1' })
    expect((await gate.authenticate(bearer(token), { credential: 'session' })).ok).toBe(true)

    const jwk = await exportJWK(publicKey)
    const now = Math.floor(clock.now() / 1000)
    const confused = await new SignJWT({ sid: session.id, pid: 'proj_a', mode: 'test' })
      .setProtectedHeader({ alg: 'HS256', kid: 'ed-1', typ: 'pcst+jwt' })
      .setSubject('u')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(JSON.stringify(jwk)))
    const refused = await gate.authenticate(bearer(confused), { credential: 'session' })
    expect(!refused.ok && refused.error.code).toBe('session_invalid')
    expect(() =>
      createPortcullis({ store, sessionSecret: { alg: 'EdDSA', kid: 'v', publicKey } }),
    ).toThrow(/private key/)
  })
})
