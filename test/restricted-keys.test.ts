import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { createPortcullis, isPortcullisError, type PermissionLevel } from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'
import { bearer } from './helpers.js'

function makeGate() {
  const clock = createManualClock()
  const gate = createPortcullis({
    store: new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }),
    sessionSecret: randomBytes(32),
    clock: clock.now,
    resources: ['charges', 'customers', 'refunds'],
  })
  return { gate, clock }
}

type Gate = ReturnType<typeof makeGate>['gate']

const restricted = (
  gate: Gate,
  permissions: Record<string, PermissionLevel>,
  mode = 'test' as const,
) => gate.keys.create({ projectId: 'proj_a', type: 'restricted', mode, permissions })

const ask = (gate: Gate, key: string, permission?: string | readonly string[]) =>
  gate.authenticate(bearer(key), {
    credential: 'secret',
    ...(permission === undefined ? {} : { permission }),
  })

const codeOf = (result: { ok: boolean; error?: { code: string } }) =>
  result.ok ? 'ok' : result.error?.code

async function refusal(
  call: Promise<unknown>,
): Promise<{ code: string; message: string; param?: string | undefined }> {
  try {
    await call
  } catch (error) {
    if (isPortcullisError(error)) {
      return {
        code: error.code,
        message: error.message,
        param: (error as { param?: string }).param,
      }
    }
    throw error
  }
  throw new Error('the call was not refused')
}

describe('restricted keys', () => {
  it('are rk_{mode}_ keys of the same format, checksum and hashing as secret keys', async () => {
    const { gate } = makeGate()
    const live = await restricted(gate, { charges: 'read' }, 'live' as 'test')
    expect(live.key).toMatch(/^rk_live_[0-9A-Za-z]{49}$/)
    expect(live.record).toMatchObject({
      type: 'restricted',
      mode: 'live',
      name: 'Restricted key',
      permissions: { charges: 'read' },
      metadata: {},
    })
    expect(live.record.redacted).toMatch(/^rk_live_…[0-9A-Za-z]{4}$/)
    // A mistyped key is refused by its checksum before the store.
    const mistyped = `${live.key.slice(0, -1)}${live.key.endsWith('a') ? 'b' : 'a'}`
    expect(codeOf(await ask(gate, mistyped, 'charges:read'))).toBe('api_key_invalid')
  })

  it('grant every level against every requirement: write implies read, none nothing', async () => {
    const { gate } = makeGate()
    const table: [PermissionLevel, 'read' | 'write', string][] = [
      ['none', 'read', 'permission_denied'],
      ['none', 'write', 'permission_denied'],
      ['read', 'read', 'ok'],
      ['read', 'write', 'permission_denied'],
      ['write', 'read', 'ok'],
      ['write', 'write', 'ok'],
    ]
    for (const [granted, required, expected] of table) {
      const { key } = await restricted(gate, { charges: granted })
      const result = await ask(gate, key, `charges:${required}`)
      expect(codeOf(result), `${granted} against charges:${required}`).toBe(expected)
    }
  })

  it('need every permission of a list, and are refused by name for the first one missing', async () => {
    const { gate } = makeGate()
    const { key, record } = await restricted(gate, { charges: 'write', customers: 'read' })
    expect(codeOf(await ask(gate, key, ['charges:write', 'customers:read']))).toBe('ok')
    const refused = await ask(gate, key, ['charges:read', 'customers:write', 'refunds:read'])
    expect(refused.ok).toBe(false)
    if (refused.ok) return
    expect(refused.error.status).toBe(403)
    expect(refused.error.message).toBe(
      `The provided key 'rk_test_…${record.redacted.slice(-4)}' does not have the required permissions for this endpoint. Having the 'customers:write' permission would allow this request to continue.`,
    )
  })

  it('are refused where a route names no permission: fail closed', async () => {
    const { gate } = makeGate()
    const { key } = await restricted(gate, {
      charges: 'write',
      customers: 'write',
      refunds: 'write',
    })
    const result = await ask(gate, key)
    expect(codeOf(result)).toBe('permission_denied')
    if (!result.ok) expect(result.error.message).toMatch(/this endpoint accepts secret keys only/)
  })

  it('leave secret keys their full access, and publishable keys out', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_b')
    expect(codeOf(await ask(gate, test.secretKey.key, ['charges:write', 'refunds:write']))).toBe(
      'ok',
    )
    expect(codeOf(await ask(gate, test.publishableKey.key, 'charges:read'))).toBe('wrong_key_type')
    const { key } = await restricted(gate, { charges: 'write' })
    const asPublishable = await gate.authenticate(bearer(key), { credential: 'publishable' })
    expect(codeOf(asPublishable)).toBe('wrong_key_type')
    if (!asPublishable.ok) expect(asPublishable.error.message).toMatch(/roll this key/)
    expect(codeOf(await gate.authenticate(bearer(key), { credential: 'session' }))).toBe(
      'wrong_key_type',
    )
  })

  it('tell the handler what was granted: key type, frozen permissions, metadata', async () => {
    const { gate } = makeGate()
    const { key, record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'restricted',
      mode: 'live',
      permissions: { charges: 'write', refunds: 'none' },
      metadata: { owner: 'ci', limits: { daily: 10 } },
    })
    const result = await ask(gate, key, 'charges:read')
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.auth).toEqual({
      mode: 'live',
      livemode: true,
      projectId: 'proj_a',
      credential: 'secret',
      keyId: record.id,
      keyType: 'restricted',
      permissions: { charges: 'write' },
      metadata: { owner: 'ci', limits: { daily: 10 } },
    })
    expect(Object.isFrozen(result.auth.permissions)).toBe(true)
    const { test } = await gate.projects.provision('proj_b')
    const secret = await ask(gate, test.secretKey.key)
    expect(secret.ok && secret.auth.keyType).toBe('secret')
    expect(secret.ok && secret.auth.permissions).toBeUndefined()
  })

  it('keep their modes apart: a test restricted key never passes a live route', async () => {
    const { gate } = makeGate()
    const { key } = await restricted(gate, { charges: 'write' })
    const result = await gate.authenticate(bearer(key), {
      credential: 'secret',
      mode: 'live',
      permission: 'charges:write',
    })
    expect(codeOf(result)).toBe('mode_mismatch')
  })

  it('enforce their IP allowlist, first', async () => {
    const { gate } = makeGate()
    const { key } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'restricted',
      mode: 'test',
      permissions: { charges: 'read' },
      allowedIps: ['198.51.100.0/24'],
    })
    const from = (address: string) =>
      gate.authenticate(bearer(key, address), { credential: 'secret', permission: 'charges:write' })
    expect(codeOf(await from('203.0.113.7'))).toBe('ip_not_allowed')
    expect(codeOf(await from('198.51.100.7'))).toBe('permission_denied')
  })
})

describe('the permission catalog', () => {
  it('refuses a permission naming an unknown resource at creation, naming it', async () => {
    const { gate } = makeGate()
    const refused = await refusal(restricted(gate, { payouts: 'read' }))
    expect(refused).toMatchObject({ code: 'invalid_request', param: 'permissions.payouts' })
    expect((await refusal(restricted(gate, { charges: 'admin' as PermissionLevel }))).param).toBe(
      'permissions.charges',
    )
    expect(await gate.keys.list('proj_a')).toEqual([])
  })

  it('refuses permissions on a key type that cannot carry them', async () => {
    const { gate } = makeGate()
    for (const type of ['secret', 'publishable'] as const) {
      const refused = await refusal(
        gate.keys.create({
          projectId: 'proj_a',
          type,
          mode: 'test',
          permissions: { charges: 'read' },
        }),
      )
      expect(refused).toMatchObject({ code: 'invalid_request', param: 'permissions' })
    }
  })

  it('refuses a route that names an unknown or malformed permission, as configuration', async () => {
    const { gate } = makeGate()
    const { key } = await restricted(gate, { charges: 'read' })
    await expect(ask(gate, key, 'payouts:read')).rejects.toThrow(/names no resource/)
    await expect(ask(gate, key, 'charges')).rejects.toThrow(TypeError)
    await expect(
      gate.authenticate(bearer(key), { credential: 'publishable', permission: 'charges:read' }),
    ).rejects.toThrow(/credential "secret" only/)
    expect(gate.resources).toEqual(['charges', 'customers', 'refunds', 'client_sessions'])
  })
})

describe('client_sessions, the built-in resource', () => {
  it('lets a restricted key create, refresh, list and revoke CSTs only when granted', async () => {
    const { gate } = makeGate()
    const granted = await restricted(gate, { client_sessions: 'write' })
    const reader = await restricted(gate, { client_sessions: 'read', charges: 'write' })
    const none = await restricted(gate, { charges: 'write' })
    const authOf = async (key: string) => {
      const result = await ask(gate, key, 'client_sessions:read')
      if (!result.ok) throw result.error
      return result.auth
    }
    const writer = await authOf(granted.key)
    const { token, session } = await gate.sessions.create(writer, { clientId: 'user_1' })
    expect((await gate.sessions.refresh(writer, { clientId: 'user_1' })).session.clientId).toBe(
      'user_1',
    )
    const readerAuth = await authOf(reader.key)
    expect(await gate.sessions.list(readerAuth, 'user_1')).toHaveLength(2)
    for (const call of [
      gate.sessions.create(readerAuth, { clientId: 'user_1' }),
      gate.sessions.revoke(session.id, { auth: readerAuth }),
      gate.sessions.revokeClient(readerAuth, 'user_1'),
    ]) {
      const refused = await refusal(call)
      expect(refused.code).toBe('permission_denied')
      expect(refused.message).toMatch(/Having the 'client_sessions:write' permission/)
    }
    // Without client_sessions at all it cannot even get an auth for client_sessions routes.
    expect(codeOf(await ask(gate, none.key, 'client_sessions:read'))).toBe('permission_denied')
    expect(await gate.sessions.revokeClient(writer, 'user_1')).toBe(2)
    expect(codeOf(await gate.authenticate(bearer(token), { credential: 'session' }))).toBe(
      'session_revoked',
    )
  })
})

describe('keys.update', () => {
  it('changes only the fields given, and the very next request sees it', async () => {
    const { gate } = makeGate()
    const { key, record } = await restricted(gate, { charges: 'read' })
    expect(codeOf(await ask(gate, key, 'charges:write'))).toBe('permission_denied')
    const updated = await gate.keys.update(record.id, {
      permissions: { charges: 'write' },
      metadata: { owner: 'ops' },
    })
    expect(updated).toMatchObject({
      name: 'Restricted key',
      permissions: { charges: 'write' },
      metadata: { owner: 'ops' },
    })
    expect(codeOf(await ask(gate, key, 'charges:write'))).toBe('ok')
    const renamed = await gate.keys.update(record.id, { name: 'CI' })
    expect(renamed).toMatchObject({
      name: 'CI',
      permissions: { charges: 'write' },
      metadata: { owner: 'ops' },
    })
    const cleared = await gate.keys.update(record.id, { metadata: null })
    expect(cleared.metadata).toEqual({})
  })

  it('refuses bad input without writing anything', async () => {
    const { gate } = makeGate()
    const { record } = await restricted(gate, { charges: 'read' })
    const { test } = await gate.projects.provision('proj_b')
    const cases: [Promise<unknown>, string | undefined][] = [
      [gate.keys.update(record.id, {}), undefined],
      [gate.keys.update(record.id, { permissions: { payouts: 'read' } }), 'permissions.payouts'],
      [gate.keys.update(record.id, { metadata: { run: (() => 1) as never } }), 'metadata.run'],
      [gate.keys.update(record.id, { name: '  ' }), 'name'],
      [
        gate.keys.update(test.secretKey.record.id, { permissions: { charges: 'read' } }),
        'permissions',
      ],
      [
        gate.keys.update(test.publishableKey.record.id, { allowedIps: ['10.0.0.0/8'] }),
        'allowedIps',
      ],
    ]
    for (const [call, param] of cases) {
      const refused = await refusal(call)
      expect(refused.code).toBe('invalid_request')
      expect(refused.param).toBe(param)
    }
    expect(await gate.keys.get(record.id)).toMatchObject({
      permissions: { charges: 'read' },
      metadata: {},
    })
    expect((await refusal(gate.keys.update('key_missing', { name: 'x' }))).code).toBe(
      'resource_missing',
    )
  })

  it('rolls copy permissions and metadata to the successor', async () => {
    const { gate } = makeGate()
    const { record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'restricted',
      mode: 'test',
      permissions: { refunds: 'write' },
      metadata: { owner: 'finance' },
    })
    const rolled = await gate.keys.roll(record.id)
    expect(rolled.record).toMatchObject({
      type: 'restricted',
      permissions: { refunds: 'write' },
      metadata: { owner: 'finance' },
    })
    expect(codeOf(await ask(gate, rolled.key, 'refunds:write'))).toBe('ok')
  })
})

describe('metadata on every key', () => {
  it('is stored, returned on records and on auth.metadata, and never interpreted', async () => {
    const { gate } = makeGate()
    const { key, record } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'publishable',
      mode: 'test',
      metadata: { site: 'https://shop.example', plan: 'pro' },
    })
    expect(record.metadata).toEqual({ site: 'https://shop.example', plan: 'pro' })
    const result = await gate.authenticate(bearer(key), { credential: 'publishable' })
    expect(result.ok && result.auth.metadata).toEqual({ site: 'https://shop.example', plan: 'pro' })
  })

  it('refuses 5 KiB, functions and cycles at creation, and creates nothing', async () => {
    const { gate } = makeGate()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const metadata of [{ blob: 'x'.repeat(5 * 1024) }, { fn: () => 1 }, cyclic]) {
      const refused = await refusal(
        gate.keys.create({
          projectId: 'proj_a',
          type: 'secret',
          mode: 'test',
          metadata: metadata as never,
        }),
      )
      expect(refused.code).toBe('invalid_request')
      expect(refused.param).toMatch(/^metadata/)
    }
    expect(await gate.keys.list('proj_a')).toEqual([])
  })
})
