import zlib from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BASE62_ALPHABET, encodeBase62Fixed, randomBase62 } from './base62.js'
import { crc32 } from './crc32.js'
import {
  assertProductPrefix,
  createKeyFormat,
  KEY_CHECKSUM_LENGTH,
  KEY_RANDOM_LENGTH,
} from './key-format.js'
import type { KeyType, Mode } from './types.js'

// Written out independently of the module under test.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const TAGS: Record<KeyType, string> = {
  secret: 'sk',
  publishable: 'pk',
  client: 'ck',
  restricted: 'rk',
}
const TYPES: readonly KeyType[] = ['secret', 'publishable', 'client', 'restricted']
const MODES: readonly Mode[] = ['test', 'live']
const BODY_LENGTH = 43 + 6

function decodeBase62(text: string): number {
  let value = 0
  for (const char of text) {
    const digit = ALPHABET.indexOf(char)
    if (digit === -1) throw new Error(`not base62: ${char}`)
    value = value * 62 + digit
  }
  return value
}

/** Key shape as the spec states it, checked without the module's regular expression. */
function oracleIsValid(input: string, prefix: string | undefined): boolean {
  const lead = prefix === undefined ? '' : `${prefix}_`
  if (!input.startsWith(lead)) return false
  const rest = input.slice(lead.length)
  const parts = rest.split('_')
  if (parts.length !== 3) return false
  const [tag, mode, body] = parts as [string, string, string]
  if (!['sk', 'pk', 'ck'].includes(tag) || !['test', 'live'].includes(mode)) return false
  if (body.length !== BODY_LENGTH || [...body].some((c) => !ALPHABET.includes(c))) return false
  const payload = input.slice(0, input.length - 6)
  return decodeBase62(input.slice(-6)) === crc32(payload)
}

const typeArb = fc.constantFrom(...TYPES)
const modeArb = fc.constantFrom(...MODES)
const base62Char = fc.constantFrom(...ALPHABET.split(''))
const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })

describe('crc32', () => {
  it('matches the standard CRC-32/ISO-HDLC check vectors', () => {
    expect(crc32('')).toBe(0)
    expect(crc32('123456789')).toBe(0xcbf43926)
    expect(crc32('a')).toBe(0xe8b7be43)
    expect(crc32('abc')).toBe(0x352441c2)
    expect(crc32('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339)
  })

  it('always returns an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 64 }), (text) => {
        const value = crc32(text)
        return Number.isInteger(value) && value >= 0 && value <= 0xffffffff
      }),
      { numRuns: 5_000 },
    )
  })

  it.skipIf(typeof zlib.crc32 !== 'function')(
    'agrees with node:zlib on every Latin-1 string',
    () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary-ascii', maxLength: 80 }), (text) => {
          expect(crc32(text)).toBe(zlib.crc32(Buffer.from(text, 'latin1')))
        }),
        { numRuns: 5_000 },
      )
    },
  )
})

describe('base62', () => {
  it('uses the 0-9A-Za-z alphabet', () => {
    expect(BASE62_ALPHABET).toBe(ALPHABET)
  })

  it('encodes known values, left-padded with zeros to the width', () => {
    expect(encodeBase62Fixed(0, 6)).toBe('000000')
    expect(encodeBase62Fixed(1, 6)).toBe('000001')
    expect(encodeBase62Fixed(10, 6)).toBe('00000A')
    expect(encodeBase62Fixed(36, 6)).toBe('00000a')
    expect(encodeBase62Fixed(61, 6)).toBe('00000z')
    expect(encodeBase62Fixed(62, 6)).toBe('000010')
    expect(encodeBase62Fixed(62 * 62 - 1, 6)).toBe('0000zz')
    expect(encodeBase62Fixed(62 * 62, 6)).toBe('000100')
    expect(encodeBase62Fixed(62 ** 5, 6)).toBe('100000')
    expect(encodeBase62Fixed(0, 1)).toBe('0')
    expect(encodeBase62Fixed(0, 0)).toBe('')
  })

  it('never truncates a value wider than the width', () => {
    expect(encodeBase62Fixed(62 ** 3, 2)).toBe('1000')
  })

  it('fits every unsigned 32-bit value in exactly 6 characters and round-trips', () => {
    expect(encodeBase62Fixed(0xffffffff, 6)).toHaveLength(6)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (value) => {
        const text = encodeBase62Fixed(value, 6)
        return text.length === 6 && decodeBase62(text) === value
      }),
      { numRuns: 10_000 },
    )
  })

  it('is injective on 32-bit values (distinct values give distinct text)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (a, b) => (a === b) === (encodeBase62Fixed(a, 6) === encodeBase62Fixed(b, 6)),
      ),
      { numRuns: 5_000 },
    )
  })

  it('randomBase62 returns exactly the requested length from the alphabet', () => {
    for (const length of [0, 1, 2, 43, 100, 1000]) {
      const text = randomBase62(length)
      expect(text).toHaveLength(length)
      expect(text).toMatch(/^[0-9A-Za-z]*$/)
    }
  })

  it('randomBase62 is uniform over the alphabet (no modulo bias)', () => {
    // 124,000 draws: 2,000 expected per character, standard deviation about 44. Without the
    // rejection of bytes >= 248 the first 8 characters would get about 2,500 each.
    const perChar = 2_000
    const text = randomBase62(62 * perChar)
    const counts = new Map<string, number>()
    for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1)
    expect(counts.size).toBe(62)
    for (const char of ALPHABET) {
      const count = counts.get(char) ?? 0
      expect(Math.abs(count - perChar), `count of ${char}`).toBeLessThan(300)
    }
  })

  it('randomBase62 puts a prefix before the random characters', () => {
    for (const length of [0, 1, 24, 300]) {
      const text = randomBase62(length, 'key_')
      expect(text).toHaveLength(4 + length)
      expect(text).toMatch(/^key_[0-9A-Za-z]*$/)
    }
    expect(() => randomBase62(4, 'clé_')).toThrow(/printable ASCII/)
  })

  it('randomBase62 does not repeat itself', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 1000; i++) seen.add(randomBase62(22))
    expect(seen.size).toBe(1000)
  })
})

describe('createKeyFormat: generate', () => {
  it('the random part carries at least 256 bits', () => {
    expect(KEY_RANDOM_LENGTH).toBe(43)
    expect(KEY_CHECKSUM_LENGTH).toBe(6)
    expect(KEY_RANDOM_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(256)
  })

  it('generates keys of the documented shape for every type and mode', () => {
    const format = createKeyFormat()
    for (const type of TYPES) {
      for (const mode of MODES) {
        const key = format.generate(type, mode)
        expect(key).toMatch(new RegExp(`^${TAGS[type]}_${mode}_[0-9A-Za-z]{49}$`))
        expect(key.startsWith(`${format.head(type, mode)}_`)).toBe(true)
        expect(format.head(type, mode)).toBe(`${TAGS[type]}_${mode}`)
        const payload = key.slice(0, -6)
        expect(decodeBase62(key.slice(-6))).toBe(crc32(payload))
        expect(format.parse(key)).toEqual({ ok: true, type, mode })
      }
    }
  })

  it('with a product prefix, generates and parses prefixed keys', () => {
    const format = createKeyFormat('acme')
    expect(format.head('secret', 'live')).toBe('acme_sk_live')
    expect(format.head('client', 'test')).toBe('acme_ck_test')
    for (const type of TYPES) {
      for (const mode of MODES) {
        const key = format.generate(type, mode)
        expect(key).toMatch(new RegExp(`^acme_${TAGS[type]}_${mode}_[0-9A-Za-z]{49}$`))
        expect(format.parse(key)).toEqual({ ok: true, type, mode })
      }
    }
  })

  it('every generated key parses back to its type and mode (property)', () => {
    const plain = createKeyFormat()
    const prefixed = createKeyFormat('zz9')
    fc.assert(
      fc.property(typeArb, modeArb, fc.boolean(), (type, mode, usePrefix) => {
        const format = usePrefix ? prefixed : plain
        expect(format.parse(format.generate(type, mode))).toEqual({ ok: true, type, mode })
      }),
      { numRuns: 5_000 },
    )
  })

  it('generates distinct keys, with every random position well spread', () => {
    const format = createKeyFormat()
    const keys = new Set<string>()
    const bodies: string[] = []
    for (let i = 0; i < 5_000; i++) {
      const key = format.generate('secret', 'live')
      keys.add(key)
      bodies.push(key.slice('sk_live_'.length, 'sk_live_'.length + 43))
    }
    expect(keys.size).toBe(5_000)
    for (let position = 0; position < 43; position++) {
      const distinct = new Set(bodies.map((body) => body[position]))
      // 5,000 uniform draws over 62 symbols hit every one with overwhelming probability.
      expect(distinct.size, `position ${position}`).toBeGreaterThanOrEqual(60)
    }
  })
})

describe('createKeyFormat: parse', () => {
  const plain = createKeyFormat()
  const acme = createKeyFormat('acme')

  it('detects any single-character substitution, anywhere in the key', () => {
    fc.assert(
      fc.property(
        typeArb,
        modeArb,
        fc.boolean(),
        fc.nat(),
        fc.oneof(base62Char, anyChar, fc.constantFrom('_', '-', ' ', '\0', 'é')),
        (type, mode, usePrefix, at, replacement) => {
          const format = usePrefix ? acme : plain
          const key = format.generate(type, mode)
          const index = at % key.length
          fc.pre(key[index] !== replacement)
          const mutated = key.slice(0, index) + replacement + key.slice(index + 1)
          const result = format.parse(mutated)
          expect(result.ok).toBe(false)
          if (!result.ok) expect(['malformed', 'checksum']).toContain(result.reason)
        },
      ),
      { numRuns: 20_000 },
    )
  })

  it('reports a base62 substitution in the body as a checksum failure', () => {
    fc.assert(
      fc.property(typeArb, modeArb, fc.nat(), base62Char, (type, mode, at, replacement) => {
        const key = plain.generate(type, mode)
        const bodyStart = key.length - BODY_LENGTH
        const index = bodyStart + (at % BODY_LENGTH)
        fc.pre(key[index] !== replacement)
        const mutated = key.slice(0, index) + replacement + key.slice(index + 1)
        expect(plain.parse(mutated)).toEqual({ ok: false, reason: 'checksum' })
      }),
      { numRuns: 10_000 },
    )
  })

  it('reports a changed type or mode tag as a checksum failure, not a different key', () => {
    const key = plain.generate('publishable', 'test')
    const asSecret = `sk${key.slice(2)}`
    const asLive = key.replace('_test_', '_live_')
    expect(plain.parse(asSecret)).toEqual({ ok: false, reason: 'checksum' })
    expect(plain.parse(asLive)).toEqual({ ok: false, reason: 'checksum' })
  })

  it('detects any transposition of two adjacent different characters', () => {
    fc.assert(
      fc.property(typeArb, modeArb, fc.nat(), (type, mode, at) => {
        const key = plain.generate(type, mode)
        const index = at % (key.length - 1)
        fc.pre(key[index] !== key[index + 1])
        const mutated = key.slice(0, index) + key[index + 1] + key[index] + key.slice(index + 2)
        expect(plain.parse(mutated).ok).toBe(false)
      }),
      { numRuns: 10_000 },
    )
  })

  it('refuses a key with a character deleted, inserted or appended, as malformed', () => {
    fc.assert(
      fc.property(typeArb, modeArb, fc.nat(), anyChar, (type, mode, at, extra) => {
        const key = plain.generate(type, mode)
        const index = at % key.length
        const deleted = key.slice(0, index) + key.slice(index + 1)
        const inserted = key.slice(0, index) + extra + key.slice(index)
        expect(plain.parse(deleted)).toEqual({ ok: false, reason: 'malformed' })
        expect(plain.parse(inserted)).toEqual({ ok: false, reason: 'malformed' })
        expect(plain.parse(key + extra)).toEqual({ ok: false, reason: 'malformed' })
      }),
      { numRuns: 3_000 },
    )
  })

  it('never throws on arbitrary strings, and accepts exactly the well-formed checksummed ones', () => {
    const arbitraries = [
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'binary-ascii', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
    ]
    for (const arbitrary of arbitraries) {
      fc.assert(
        fc.property(arbitrary, (input) => {
          expect(plain.parse(input).ok).toBe(oracleIsValid(input, undefined))
          expect(acme.parse(input).ok).toBe(oracleIsValid(input, 'acme'))
        }),
        { numRuns: 2_500 },
      )
    }
  })

  it('on well-shaped inputs with a random body, accepts exactly those whose checksum is right', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('sk', 'pk', 'ck'),
        modeArb,
        fc.string({ unit: base62Char, minLength: 43, maxLength: 43 }),
        fc.oneof(fc.constant(null), fc.string({ unit: base62Char, minLength: 6, maxLength: 6 })),
        (tag, mode, random, checksum) => {
          const payload = `${tag}_${mode}_${random}`
          const correct = encodeBase62Fixed(crc32(payload), 6)
          const input = payload + (checksum ?? correct)
          const result = plain.parse(input)
          if (checksum === null || checksum === correct) {
            expect(result.ok).toBe(true)
          } else {
            expect(result).toEqual({ ok: false, reason: 'checksum' })
          }
        },
      ),
      { numRuns: 10_000 },
    )
  })

  it('refuses very long strings, quickly and without throwing', () => {
    const key = plain.generate('secret', 'live')
    const inputs = [
      'a'.repeat(1_000_000),
      key.repeat(10_000),
      `${key}${'0'.repeat(100_000)}`,
      `sk_live_${'A'.repeat(1_000_000)}`,
      '\u{1F600}'.repeat(100_000),
    ]
    const started = performance.now()
    for (const input of inputs) {
      expect(plain.parse(input)).toEqual({ ok: false, reason: 'malformed' })
      expect(acme.parse(input)).toEqual({ ok: false, reason: 'malformed' })
    }
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('refuses near-misses of the shape', () => {
    const key = plain.generate('secret', 'test')
    const body = key.slice('sk_test_'.length)
    const malformed = [
      '',
      'sk_test_',
      'sk_test',
      `sk_test_${body.slice(1)}`,
      `sk_test_${body}0`,
      `SK_test_${body}`,
      `sk_TEST_${body}`,
      `xk_test_${body}`,
      `sk_prod_${body}`,
      `sk-test-${body}`,
      `sk_test__${body.slice(1)}`,
      ` ${key}`,
      `${key} `,
      `${key}\n`,
      `sk_test_${body.slice(0, 20)}-${body.slice(21)}`,
      `sk_test_${body.slice(0, 20)}_${body.slice(21)}`,
    ]
    for (const input of malformed) {
      expect(plain.parse(input), JSON.stringify(input)).toEqual({ ok: false, reason: 'malformed' })
    }
  })

  it('refuses a key of another product prefix, or with the prefix missing or added', () => {
    const other = createKeyFormat('other')
    const plainKey = plain.generate('secret', 'live')
    const acmeKey = acme.generate('secret', 'live')
    expect(other.parse(acmeKey)).toEqual({ ok: false, reason: 'malformed' })
    expect(plain.parse(acmeKey)).toEqual({ ok: false, reason: 'malformed' })
    expect(acme.parse(plainKey)).toEqual({ ok: false, reason: 'malformed' })
    expect(acme.parse(`acme${plainKey}`)).toEqual({ ok: false, reason: 'malformed' })
    expect(acme.parse(`ACME_${plainKey}`)).toEqual({ ok: false, reason: 'malformed' })
    // The checksum covers the prefix: stripping it (or adding one) does not yield a valid key.
    expect(plain.parse(acmeKey.slice('acme_'.length))).toEqual({ ok: false, reason: 'checksum' })
    expect(acme.parse(`acme_${plainKey}`)).toEqual({ ok: false, reason: 'checksum' })
  })
})

describe('assertProductPrefix', () => {
  it('accepts 2-16 lowercase letters or digits starting with a letter', () => {
    for (const prefix of [
      'ab',
      'acme',
      'a1',
      'x9z',
      'abcdefghijklmnop',
      'skx',
      'tests',
      'lives',
      'constructor',
      'tostring',
    ]) {
      expect(() => assertProductPrefix(prefix), prefix).not.toThrow()
      expect(() => createKeyFormat(prefix), prefix).not.toThrow()
    }
  })

  it('refuses prefixes that are reserved, mis-cased, too short or long, or not alphanumeric', () => {
    const bad = [
      'sk',
      'pk',
      'ck',
      'rk',
      'test',
      'live',
      'A',
      'a',
      '',
      'Acme',
      'ACME',
      '1acme',
      'abcdefghijklmnopq',
      'ac_me',
      'acme_',
      '_acme',
      'ac-me',
      'ac me',
      'acmé',
      ' acme',
      'acme\n',
    ]
    for (const prefix of bad) {
      expect(() => assertProductPrefix(prefix), JSON.stringify(prefix)).toThrow(TypeError)
      expect(() => createKeyFormat(prefix), JSON.stringify(prefix)).toThrow(TypeError)
    }
  })

  it('accepts a string exactly when it matches the documented rule (property)', () => {
    // The four key type tags and the two modes.
    const reserved = new Set(['sk', 'pk', 'ck', 'rk', 'test', 'live'])
    const prefixChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_A-'.split(''))
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: prefixChar, maxLength: 18 }), fc.string({ maxLength: 18 })),
        (prefix) => {
          const valid = /^[a-z][a-z0-9]{1,15}$/.test(prefix) && !reserved.has(prefix)
          let threw = false
          try {
            assertProductPrefix(prefix)
          } catch (error) {
            expect(error).toBeInstanceOf(TypeError)
            threw = true
          }
          expect(threw).toBe(!valid)
        },
      ),
      { numRuns: 5_000 },
    )
  })
})
