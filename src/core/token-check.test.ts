import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createTokenCheck } from './token-check.js'

describe('createTokenCheck', () => {
  const token = randomBytes(32).toString('hex')

  it('refuses to start without a token, with an empty one or a short one', () => {
    const generate = "require('crypto').randomBytes(32).toString('hex')"
    expect(() => createTokenCheck(undefined, 'ADMIN_TOKEN')).toThrow(TypeError)
    expect(() => createTokenCheck(undefined, 'ADMIN_TOKEN')).toThrow(/^ADMIN_TOKEN is not set/)
    expect(() => createTokenCheck(undefined, 'ADMIN_TOKEN')).toThrow(generate)
    expect(() => createTokenCheck('')).toThrow(/^the operator token is not set/)
    expect(() => createTokenCheck('x'.repeat(31), 'ADMIN_TOKEN')).toThrow(
      /^ADMIN_TOKEN is shorter than 32 characters/,
    )
    // The message never carries the (short) token itself.
    expect(() => createTokenCheck('hunter2-hunter2-hunter2', 'ADMIN_TOKEN')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    )
    expect(() => createTokenCheck(randomBytes(16).toString('hex'))).not.toThrow()
  })

  it('accepts the token and nothing else', () => {
    const check = createTokenCheck(token, 'ADMIN_TOKEN')
    expect(check(token)).toBe(true)
    expect(check(`${token.slice(0, -1)}${token.endsWith('a') ? 'b' : 'a'}`)).toBe(false)
    expect(check(token.slice(0, -1))).toBe(false)
    expect(check(`${token}x`)).toBe(false)
    expect(check('')).toBe(false)
    expect(check(undefined)).toBe(false)
    expect(check(null)).toBe(false)
    expect(check([token])).toBe(false)
    expect(check([token, token])).toBe(false)
    expect(check(Buffer.from(token))).toBe(false)
    expect(check({ toString: () => token })).toBe(false)
  })
})
