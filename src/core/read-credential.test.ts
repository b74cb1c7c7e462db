import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CredentialRead,
  MAX_CREDENTIAL_HEADER_LENGTH,
  readCredential,
  readHeader,
} from './read-credential.js'

const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

function auth(value: string | readonly string[] | undefined): CredentialRead {
  return readCredential({ authorization: value }, 'authorization')
}

function custom(value: string | readonly string[] | undefined): CredentialRead {
  return readCredential({ 'x-api-key': value }, 'x-api-key')
}

const present = (token: string): CredentialRead => ({ status: 'present', token })
const MALFORMED: CredentialRead = { status: 'malformed' }
const MISSING: CredentialRead = { status: 'missing' }

const tokenChar = fc.constantFrom(
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/'.split(''),
)
const tokenArb = fc
  .tuple(
    fc.string({ unit: tokenChar, minLength: 1, maxLength: 60 }),
    fc.string({ unit: fc.constant('='), maxLength: 3 }),
  )
  .map(([body, padding]) => body + padding)

describe('readCredential on Authorization', () => {
  it('reads a Bearer token, with the scheme in any case', () => {
    expect(auth('Bearer x')).toEqual(present('x'))
    expect(auth('bearer x')).toEqual(present('x'))
    expect(auth('BEARER   x')).toEqual(present('x'))
    expect(auth('bEaReR sk_test_abc')).toEqual(present('sk_test_abc'))
  })

  it('tolerates surrounding spaces', () => {
    expect(auth('Bearer x   ')).toEqual(present('x'))
    expect(auth('   Bearer x')).toEqual(present('x'))
    expect(auth('\tBearer x\t')).toEqual(present('x'))
  })

  it('accepts the full b64token alphabet, with trailing padding', () => {
    expect(auth('Bearer aZ09-._~+/')).toEqual(present('aZ09-._~+/'))
    expect(auth('Bearer abc==')).toEqual(present('abc=='))
  })

  it('refuses other schemes and malformed values', () => {
    for (const value of [
      'Basic x',
      'Bearer',
      'Bearer ',
      'Bearer a b',
      'Bearerx',
      'Bearer\tx',
      'Bearer x,y',
      'Bearer "x"',
      'Bearer =abc',
      'Bearer ab=c',
      'Bearer ab=c=',
      'Bearer é',
      'Bearer x\u0000',
      'Bearer x\ny',
      'Token x',
      'x',
      'sk_test_abc',
      'Bearer Bearer x',
      'Bearer: x',
      'Bearer x, Bearer y',
    ]) {
      expect(auth(value), JSON.stringify(value)).toEqual(MALFORMED)
    }
  })

  it('reports a missing or empty header as missing', () => {
    expect(auth(undefined)).toEqual(MISSING)
    expect(auth('')).toEqual(MISSING)
    expect(auth('    ')).toEqual(MISSING)
    expect(auth([])).toEqual(MISSING)
    expect(readCredential({}, 'authorization')).toEqual(MISSING)
    expect(readCredential({ 'x-api-key': 'abc' }, 'authorization')).toEqual(MISSING)
  })

  it('refuses a header sent twice, and reads an array of one', () => {
    expect(auth(['Bearer x', 'Bearer y'])).toEqual(MALFORMED)
    expect(auth(['Bearer x', 'Bearer x'])).toEqual(MALFORMED)
    expect(auth(['Bearer x', ''])).toEqual(MALFORMED)
    expect(auth(['Bearer x'])).toEqual(present('x'))
    expect(auth([''])).toEqual(MISSING)
    expect(auth(['Basic x'])).toEqual(MALFORMED)
  })

  it(`refuses a value longer than ${MAX_CREDENTIAL_HEADER_LENGTH} characters`, () => {
    expect(MAX_CREDENTIAL_HEADER_LENGTH).toBe(8192)
    const fits = `Bearer ${'a'.repeat(MAX_CREDENTIAL_HEADER_LENGTH - 'Bearer '.length)}`
    expect(fits).toHaveLength(8192)
    expect(auth(fits).status).toBe('present')
    expect(auth(`${fits}a`)).toEqual(MALFORMED)
    expect(auth(`Bearer ${'a'.repeat(1_000_000)}`)).toEqual(MALFORMED)
    expect(custom('a'.repeat(MAX_CREDENTIAL_HEADER_LENGTH + 1))).toEqual(MALFORMED)
  })

  it('does not take the bare token on Authorization', () => {
    expect(auth('abcdef')).toEqual(MALFORMED)
  })
})

describe('readCredential on a custom header', () => {
  it('accepts a bare token or a Bearer token', () => {
    expect(custom('sk_test_abc')).toEqual(present('sk_test_abc'))
    expect(custom('  sk_test_abc  ')).toEqual(present('sk_test_abc'))
    expect(custom('Bearer sk_test_abc')).toEqual(present('sk_test_abc'))
    expect(custom('bearer  abc==')).toEqual(present('abc=='))
  })

  it('refuses values that are neither', () => {
    for (const value of ['Basic x', 'a b', 'a,b', 'é', 'abc=d', '"abc"', 'Bearer a b']) {
      expect(custom(value), JSON.stringify(value)).toEqual(MALFORMED)
    }
    expect(custom(undefined)).toEqual(MISSING)
    expect(custom(['a', 'b'])).toEqual(MALFORMED)
  })

  it('round-trips any b64token (property)', () => {
    fc.assert(
      fc.property(tokenArb, fc.nat({ max: 3 }), (token, extraSpaces) => {
        const spaces = ' '.repeat(1 + extraSpaces)
        return (
          custom(token).status === 'present' &&
          (custom(token) as { token: string }).token === token &&
          (auth(`Bearer${spaces}${token}`) as { token?: string }).token === token &&
          (auth(`bearer${spaces}${token} `) as { token?: string }).token === token
        )
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('readCredential with a fetch Headers object', () => {
  it('reads the Authorization header case-insensitively', () => {
    expect(readCredential(new Headers({ Authorization: 'Bearer abc' }), 'authorization')).toEqual(
      present('abc'),
    )
    expect(readCredential(new Headers(), 'authorization')).toEqual(MISSING)
    expect(readCredential(new Headers({ 'X-Api-Key': 'abc' }), 'x-api-key')).toEqual(present('abc'))
  })

  it('refuses a header appended twice', () => {
    const headers = new Headers()
    headers.append('authorization', 'Bearer a')
    headers.append('authorization', 'Bearer b')
    expect(readCredential(headers, 'authorization')).toEqual(MALFORMED)
  })

  it('readHeader returns undefined, not null, for a missing header', () => {
    expect(readHeader(new Headers(), 'authorization')).toBeUndefined()
    expect(readHeader({ get: () => null }, 'authorization')).toBeUndefined()
  })
})

describe('readCredential on arbitrary input', () => {
  const valueArb = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: 'binary-ascii', maxLength: 60 }),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    fc
      .tuple(
        fc.constantFrom('Bearer ', 'bearer', 'BEARER  ', 'Basic ', ' Bearer ', 'Bearer\t'),
        fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), tokenArb),
        fc.string({ unit: fc.constantFrom(' ', '=', '\t', '\u00a0', ',', '\n'), maxLength: 3 }),
      )
      .map(([scheme, token, tail]) => scheme + token + tail),
  )

  it('never throws and only returns a b64token as present (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(valueArb, fc.array(valueArb, { maxLength: 3 }), fc.constant(undefined)),
        fc.constantFrom('authorization', 'x-api-key'),
        (value, headerName) => {
          const result = readCredential({ [headerName]: value }, headerName)
          if (result.status === 'present') {
            expect(result.token).toMatch(TOKEN)
            const text = typeof value === 'string' ? value : (value?.[0] ?? '')
            expect(text.includes(result.token)).toBe(true)
          }
          return ['missing', 'malformed', 'present'].includes(result.status)
        },
      ),
      { numRuns: 20_000 },
    )
  })

  it('on Authorization, returns present exactly for "Bearer" 1*SP b64token (property)', () => {
    const reference = /^bearer +[A-Za-z0-9\-._~+/]+=*$/i
    fc.assert(
      fc.property(valueArb, (value) => {
        const result = auth(value)
        const trimmed = value.trim()
        if (trimmed === '') return result.status === 'missing'
        const expected = trimmed.length <= 8192 && reference.test(trimmed)
        return (result.status === 'present') === expected
      }),
      { numRuns: 20_000 },
    )
  })
})
