import { describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../src/index.js'
import { makeKey, makeSession } from '../../src/testing/index.js'
import { fieldsToKey, fieldsToSession, keyToFields, sessionToFields } from './record-codec.js'

describe('records as Redis hash fields', () => {
  it('round-trips a key, nulls and fractional instants included', () => {
    const now = Date.now() + 0.25
    const sparse = makeKey(now, { allowedIps: [] })
    const full = makeKey(now, {
      allowedIps: ['203.0.113.0/24', '2001:db8::/32'],
      type: 'client',
      clientId: 'user_1',
      expiresAt: now + 1000,
      lastUsedAt: now,
      rolledToId: 'key_next',
      rolledFromId: 'key_prev',
      sealedSecret: 'eyJhbGciOi.x.y.z.w',
    })
    for (const key of [sparse, full]) expect(fieldsToKey(keyToFields(key))).toEqual(key)
    expect(keyToFields(sparse)).not.toContain('expiresAt')
  })

  it('round-trips a session, revoked or not', () => {
    const session = makeSession(Date.now())
    expect(fieldsToSession(sessionToFields(session))).toEqual(session)
    const revoked = { ...session, revokedAt: session.createdAt + 5 }
    expect(fieldsToSession(sessionToFields(revoked))).toEqual(revoked)
  })

  it('reads Buffer replies (a client type mapping) like strings', () => {
    const session = makeSession(Date.now())
    const asBuffers = sessionToFields(session).map((field) => Buffer.from(field))
    expect(fieldsToSession(asBuffers)).toEqual(session)
  })

  it('answers null for a record that does not exist', () => {
    expect(fieldsToKey([])).toBeNull()
    expect(fieldsToSession(null)).toBeNull()
  })

  it('refuses a corrupt record with an error naming the record and the field', () => {
    const key = makeKey(Date.now())
    const fields = keyToFields(key)
    const corrupt = (name: string, value: string | null) => {
      const copy = [...fields]
      const at = copy.indexOf(name)
      if (value === null) copy.splice(at, 2)
      else copy[at + 1] = value
      return copy
    }
    const cases: [string, string | null][] = [
      ['hash', null],
      ['createdAt', 'yesterday'],
      ['mode', 'staging'],
      ['type', 'admin'],
      ['allowedIps', '{"0":"10.0.0.1"}'],
      ['allowedIps', 'not json'],
    ]
    for (const [name, value] of cases) {
      expect(() => fieldsToKey(corrupt(name, value))).toThrow(StoreUnavailableError)
      expect(() => fieldsToKey(corrupt(name, value))).toThrow(
        `RedisStore: the stored key ${key.id} has a missing or malformed ${name} field`,
      )
    }
  })
})
