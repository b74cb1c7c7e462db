import { describe, expect, it } from 'vitest'
import { API_KEY_CODES, CredentialHeader } from './credential-header.js'

const request = (rawHeaders: string[]) => ({ headers: {}, rawHeaders })

describe('CredentialHeader.repeated', () => {
  const authorization = new CredentialHeader('authorization', API_KEY_CODES)
  const custom = new CredentialHeader('x-api-key', API_KEY_CODES)

  it('refuses the header sent twice, whatever the spelling of either name', () => {
    const spellings = ['Authorization', 'authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn']
    for (const first of spellings) {
      for (const second of spellings) {
        const refusal = authorization.repeated(
          request([first, 'Bearer a', 'Host', 'example.com', second, 'Bearer b']),
        )
        expect(refusal?.error.code, `${first} + ${second}`).toBe('api_key_invalid')
      }
    }
    for (const [first, second] of [
      ['X-Api-Key', 'x-api-key'],
      ['X-API-KEY', 'X-Api-Key'],
    ] as const) {
      expect(custom.repeated(request([first, 'a', second, 'b']))?.error.code).toBe(
        'api_key_invalid',
      )
    }
  })

  it('accepts the header once, next to other headers of the same length', () => {
    expect(
      authorization.repeated(
        request(['Authorization', 'Bearer a', 'Content-Type', 'x', 'Authorizatiom', 'y']),
      ),
    ).toBeNull()
    expect(custom.repeated(request(['X-Api-Key', 'a', 'X-Api-Kez', 'b']))).toBeNull()
    expect(authorization.repeated({ headers: {} })).toBeNull()
  })
})

describe('CredentialHeader.usual', () => {
  const authorization = new CredentialHeader('authorization', API_KEY_CODES)
  const custom = new CredentialHeader('x-api-key', API_KEY_CODES)

  it("takes the bearer token from Node's headers and from a fetch Headers alike", () => {
    expect(authorization.usual({ headers: { authorization: 'Bearer sk_test_a' } })).toBe(
      'sk_test_a',
    )
    const fetchHeaders = new Headers({ Authorization: 'Bearer sk_test_a' })
    expect(authorization.usual({ headers: fetchHeaders })).toBe('sk_test_a')
    expect(custom.usual({ headers: { 'x-api-key': 'sk_test_b' } })).toBe('sk_test_b')
    expect(custom.usual({ headers: new Headers({ 'X-Api-Key': 'sk_test_b' }) })).toBe('sk_test_b')
  })

  it('leaves every other shape to the full read', () => {
    for (const headers of [
      {},
      { authorization: 'Basic abc' },
      { authorization: 'bearer sk_test_a' },
      { authorization: ['Bearer sk_test_a', 'Bearer sk_test_b'] },
      new Headers(),
      new Headers({ Authorization: 'Token sk_test_a' }),
    ]) {
      expect(authorization.usual({ headers })).toBeUndefined()
    }
    expect(custom.usual({ headers: {} })).toBeUndefined()
  })
})
