import { describe, expect, it } from 'vitest'
import { bearer, HOUR_MS, makeGate, secretAuth } from './helpers.js'

const codeOf = (result: { ok: boolean; error?: { code: string } }) =>
  result.ok ? 'ok' : result.error?.code

describe('what a refusal reveals outside a key’s allowlist', () => {
  it('answers ip_not_allowed whether the key is live, expired, rolled or of the other mode', async () => {
    const { gate, clock } = makeGate()
    const allowedIps = ['198.51.100.0/24']
    const make = (mode: 'test' | 'live', expiresAt: number | null = null) =>
      gate.keys.create({ projectId: 'proj_a', type: 'secret', mode, allowedIps, expiresAt })
    const live = await make('live')
    const expiring = await make('test', clock.now() + HOUR_MS)
    const rolledAway = await make('test')
    await gate.keys.roll(rolledAway.record.id)
    clock.advance(2 * HOUR_MS)
    const outside = '203.0.113.7'
    const inside = '198.51.100.9'
    const ask = (key: string, from: string, mode?: 'test' | 'live') =>
      gate.authenticate(bearer(key, from), { credential: 'secret', ...(mode ? { mode } : {}) })
    // From inside the list each one gets its real answer...
    expect(codeOf(await ask(live.key, inside))).toBe('ok')
    expect(codeOf(await ask(live.key, inside, 'test'))).toBe('mode_mismatch')
    expect(codeOf(await ask(expiring.key, inside))).toBe('api_key_expired')
    expect(codeOf(await ask(rolledAway.key, inside))).toBe('api_key_expired')
    // ...from outside, all the same one.
    expect(codeOf(await ask(live.key, outside))).toBe('ip_not_allowed')
    expect(codeOf(await ask(live.key, outside, 'test'))).toBe('ip_not_allowed')
    expect(codeOf(await ask(expiring.key, outside))).toBe('ip_not_allowed')
    expect(codeOf(await ask(rolledAway.key, outside))).toBe('ip_not_allowed')
  })
})

describe('revoking a client', () => {
  it('revokes its sessions, not its development client keys, as documented', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const auth = await secretAuth(gate, test.secretKey.key)
    const { token } = await gate.sessions.create(auth, { clientId: 'user_1' })
    const devKey = await gate.keys.create({
      projectId: 'proj_a',
      type: 'client',
      mode: 'test',
      clientId: 'user_1',
    })
    expect(await gate.sessions.revokeClient(auth, 'user_1')).toBe(1)
    expect(codeOf(await gate.authenticate(bearer(token), { credential: 'session' }))).toBe(
      'session_revoked',
    )
    expect(codeOf(await gate.authenticate(bearer(devKey.key), { credential: 'session' }))).toBe(
      'ok',
    )
    await gate.keys.delete(devKey.record.id)
    expect(codeOf(await gate.authenticate(bearer(devKey.key), { credential: 'session' }))).toBe(
      'session_invalid',
    )
  })

  it('revokes a customer’s session only within its project when given its auth', async () => {
    const { gate } = makeGate()
    const a = await gate.projects.provision('proj_a')
    const b = await gate.projects.provision('proj_b')
    const authA = await secretAuth(gate, a.test.secretKey.key)
    const authB = await secretAuth(gate, b.test.secretKey.key)
    const { session, token } = await gate.sessions.create(authB, { clientId: 'user_1' })
    await expect(gate.sessions.revoke(session.id, { auth: authA })).rejects.toMatchObject({
      code: 'resource_missing',
    })
    expect(codeOf(await gate.authenticate(bearer(token), { credential: 'session' }))).toBe('ok')
  })
})
