import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from './errors.js'
import {
  compileAllowlist,
  MAX_ALLOWLIST_ENTRIES,
  normalizeAllowlist,
  normalizeAllowlistEntry,
  parseAddress,
} from './ip.js'

// --- independent bit arithmetic -----------------------------------------------------------

function v4ToInt(text: string): number {
  const parts = text.split('.').map(Number)
  return (
    (((parts[0] ?? 0) << 24) |
      ((parts[1] ?? 0) << 16) |
      ((parts[2] ?? 0) << 8) |
      (parts[3] ?? 0)) >>>
    0
  )
}

function intToV4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

function v6Text(bytes: Uint8Array): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) {
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  }
  return groups.join(':')
}

function v6Network(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(16)
  for (let bit = 0; bit < prefix; bit++) {
    const byte = bit >> 3
    const mask = 0x80 >> (bit & 7)
    out[byte] = (out[byte] ?? 0) | ((bytes[byte] ?? 0) & mask)
  }
  return out
}

function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit++) {
    const mask = 0x80 >> (bit & 7)
    if (((a[bit >> 3] ?? 0) & mask) !== ((b[bit >> 3] ?? 0) & mask)) return false
  }
  return true
}

/** In ::ffff:0:0/96, where the library rewrites addresses as IPv4. */
function isMappedSpace(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

function address(text: string) {
  const parsed = parseAddress(text, true)
  if (parsed === null) throw new Error(`test fixture ${text} does not parse`)
  return parsed
}

function refusal(run: () => unknown): InvalidRequestError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    return error as InvalidRequestError
  }
  throw new Error('expected an InvalidRequestError, nothing was thrown')
}

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 })
const v6Unmapped = bytes16.filter((bytes) => !isMappedSpace(bytes))
const uint32 = fc.integer({ min: 0, max: 0xffffffff })
const ipLikeChar = fc.constantFrom(...'0123456789abcdefABCDEFx:./% \t'.split(''))

// --- parseAddress ---------------------------------------------------------------------------

describe('parseAddress', () => {
  it('parses IPv4 and IPv6 and rewrites IPv4-mapped IPv6 as IPv4', () => {
    expect(parseAddress('203.0.113.5')?.toString()).toBe('203.0.113.5')
    expect(parseAddress('203.0.113.5')?.kind()).toBe('ipv4')
    expect(parseAddress('::1')?.toString()).toBe('::1')
    expect(parseAddress('2001:DB8:0:0:0:0:0:1')?.toString()).toBe('2001:db8::1')
    expect(parseAddress('1:2:3:4:5:6:7:8')?.toString()).toBe('1:2:3:4:5:6:7:8')
    const mapped = parseAddress('::ffff:203.0.113.9')
    expect(mapped?.kind()).toBe('ipv4')
    expect(mapped?.toString()).toBe('203.0.113.9')
    expect(parseAddress('::FFFF:cb00:7109')?.toString()).toBe('203.0.113.9')
  })

  it('refuses ambiguous or non-decimal IPv4 forms', () => {
    for (const text of [
      '010.0.0.1',
      '0x7f.0.0.1',
      '127.1',
      '127.0.1',
      '2130706433',
      '256.0.0.1',
      '1.2.3.4.5',
      '1.2.3.',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '',
      '::ffff:010.0.0.1',
      '::ffff:0x7f.0.0.1',
      '::ffff:127.1',
      '1:2:3:4:5:6:1.2.3.04',
      'fe80::1%eth0',
      '1::2::3',
      '12345::',
      `::${'0:'.repeat(40)}1`,
    ]) {
      expect(parseAddress(text), JSON.stringify(text)).toBeNull()
    }
  })

  it('reads the deprecated IPv4-compatible form as IPv6, not as IPv4-mapped', () => {
    expect(parseAddress('::1.2.3.4')?.toString()).toBe('::102:304')
    expect(parseAddress('::ffff:1.2.3.4')?.toString()).toBe('1.2.3.4')
    expect(parseAddress('::0.0.0.0')?.kind()).toBe('ipv6')
  })

  it('accepts a zone id only when asked to', () => {
    expect(parseAddress('fe80::1%eth0')).toBeNull()
    expect(parseAddress('fe80::1%eth0', true)?.toString()).toBe('fe80::1%eth0')
  })

  it('accepts every IPv4 fast-check produces, canonically', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => parseAddress(text)?.toString() === text),
      { numRuns: 5_000 },
    )
  })

  it('accepts every IPv6 fast-check produces, with the same 128 bits', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const parsed = parseAddress(text)
        expect(parsed, text).not.toBeNull()
        // WHATWG URL parsing is the independent reference: it rewrites any dotted tail into hex.
        const reference = ipaddr.IPv6.parse(new URL(`http://[${text}]`).hostname.slice(1, -1))
        const expected = reference.isIPv4MappedAddress()
          ? reference.toIPv4Address().toByteArray()
          : reference.toByteArray()
        expect(parsed?.toByteArray()).toEqual(expected)
      }),
      { numRuns: 5_000 },
    )
  })

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 70 }),
          fc.string({ unit: ipLikeChar, maxLength: 50 }),
        ),
        fc.boolean(),
        (text, allowZone) => {
          const parsed = parseAddress(text, allowZone)
          return parsed === null || parsed.kind() === 'ipv4' || parsed.kind() === 'ipv6'
        },
      ),
      { numRuns: 4_000 },
    )
  })
})

// --- normalizeAllowlistEntry ----------------------------------------------------------------

describe('normalizeAllowlistEntry', () => {
  it('returns the canonical text', () => {
    const cases: [string, string][] = [
      ['2001:DB8::/32', '2001:db8::/32'],
      ['2001:0db8:0000:0000:0000:0000:0000:0000/32', '2001:db8::/32'],
      ['2001:db8::1', '2001:db8::1'],
      ['2001:db8::1/128', '2001:db8::1'],
      ['::1', '::1'],
      ['::/0', '::/0'],
      ['fe80::/10', 'fe80::/10'],
      ['203.0.113.5/32', '203.0.113.5'],
      ['203.0.113.5', '203.0.113.5'],
      ['10.0.0.0/8', '10.0.0.0/8'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
      ['::ffff:203.0.113.9', '203.0.113.9'],
      ['::ffff:203.0.113.9/128', '203.0.113.9'],
      ['::ffff:0.0.0.0/96', '0.0.0.0/0'],
      ['::FFFF:a00:0/104', '10.0.0.0/8'],
      ['  192.168.0.0/16  ', '192.168.0.0/16'],
    ]
    for (const [input, expected] of cases) {
      expect(normalizeAllowlistEntry(input), input).toBe(expected)
    }
  })

  it('refuses bad entries with an InvalidRequestError naming the parameter', () => {
    const bad = [
      '010.0.0.1',
      '0x7f.0.0.1',
      '127.1',
      '::ffff:010.0.0.1',
      '::ffff:10.0.0.0/8',
      '::ffff:10.0.0.0/95',
      '10.0.0.1/8',
      '2001:db8::1/32',
      '::ffff:10.0.0.1/104',
      '10.0.0.0/33',
      '2001:db8::/129',
      '::ffff:10.0.0.0/129',
      '10.0.0.0/08',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/+8',
      '10.0.0.0/8/8',
      '10.0.0.0/ 8',
      '10.0.0.0 /8',
      '10.0.0.0/8.0',
      '10.0.0.0/1000',
      'fe80::1%eth0',
      'fe80::%eth0/10',
      'fe80::/10%eth0',
      '',
      '   ',
      'localhost',
      '*',
      '10.0.0.*',
      '10.0.0.0-10.0.0.255',
    ]
    for (const entry of bad) {
      const error = refusal(() => normalizeAllowlistEntry(entry, 'allowedIps[3]'))
      expect(error.code, entry).toBe('invalid_request')
      expect(error.param, entry).toBe('allowedIps[3]')
    }
  })

  it('refuses the proxy-addr mapped-CIDR pitfall rather than widening it to ::/8', () => {
    const error = refusal(() => normalizeAllowlistEntry('::ffff:10.0.0.0/8'))
    expect(error.message).toMatch(/\/96/)
    // The meaningful spelling of the same intent is accepted.
    expect(normalizeAllowlistEntry('::ffff:10.0.0.0/104')).toBe('10.0.0.0/8')
  })

  it('refuses values that are not strings', () => {
    for (const value of [undefined, null, 42, {}, ['10.0.0.1'], new String('10.0.0.1')]) {
      const error = refusal(() => normalizeAllowlistEntry(value as unknown as string))
      expect(error.code).toBe('invalid_request')
    }
  })

  it('is idempotent on IPv4 and IPv6 addresses (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const once = normalizeAllowlistEntry(text)
        return normalizeAllowlistEntry(once) === once && once === once.toLowerCase()
      }),
      { numRuns: 10_000 },
    )
  })

  it('is idempotent on IPv4 and IPv6 network ranges (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(uint32, fc.integer({ min: 0, max: 32 })).map(([value, prefix]) => {
            return `${intToV4((value & v4Mask(prefix)) >>> 0)}/${prefix}`
          }),
          fc.tuple(v6Unmapped, fc.integer({ min: 0, max: 128 })).map(([bytes, prefix]) => {
            return `${v6Text(v6Network(bytes, prefix)).toUpperCase()}/${prefix}`
          }),
          fc.tuple(uint32, fc.integer({ min: 96, max: 128 })).map(([value, prefix]) => {
            return `::ffff:${intToV4((value & v4Mask(prefix - 96)) >>> 0)}/${prefix}`
          }),
        ),
        (entry) => {
          const once = normalizeAllowlistEntry(entry)
          return normalizeAllowlistEntry(once) === once
        },
      ),
      { numRuns: 10_000 },
    )
  })

  it('drops only a full-length prefix, and otherwise keeps it', () => {
    fc.assert(
      fc.property(uint32, fc.integer({ min: 0, max: 32 }), (value, prefix) => {
        const network = intToV4((value & v4Mask(prefix)) >>> 0)
        const expected = prefix === 32 ? network : `${network}/${prefix}`
        return (
          normalizeAllowlistEntry(`${network}/${prefix}`) === expected &&
          normalizeAllowlistEntry(`::ffff:${network}/${prefix + 96}`) === expected
        )
      }),
      { numRuns: 5_000 },
    )
  })

  it('refuses a range with any host bit set (property)', () => {
    fc.assert(
      fc.property(uint32, fc.integer({ min: 0, max: 31 }), (value, prefix) => {
        fc.pre((value & ~v4Mask(prefix)) >>> 0 !== 0)
        const error = refusal(() => normalizeAllowlistEntry(`${intToV4(value)}/${prefix}`))
        return error.code === 'invalid_request'
      }),
      { numRuns: 5_000 },
    )
  })

  it('never throws anything but InvalidRequestError, and what it accepts is canonical (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.string({ unit: ipLikeChar, maxLength: 50 }),
          fc
            .tuple(
              fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()),
              fc.string({ unit: ipLikeChar, maxLength: 5 }),
            )
            .map(([ip, tail]) => `${ip}/${tail}`),
        ),
        (entry) => {
          let once: string
          try {
            once = normalizeAllowlistEntry(entry)
          } catch (error) {
            return error instanceof InvalidRequestError && error.code === 'invalid_request'
          }
          expect(normalizeAllowlistEntry(once)).toBe(once)
          expect(() => compileAllowlist([once])).not.toThrow()
          return true
        },
      ),
      { numRuns: 10_000 },
    )
  })
})

// --- normalizeAllowlist ---------------------------------------------------------------------

describe('normalizeAllowlist', () => {
  it('normalizes every entry, removes duplicates and keeps the first order', () => {
    expect(
      normalizeAllowlist([
        '10.0.0.1',
        '2001:DB8::/32',
        '10.0.0.1/32',
        '::ffff:10.0.0.1',
        '2001:db8:0::/32',
        '192.168.0.0/16',
      ]),
    ).toEqual(['10.0.0.1', '2001:db8::/32', '192.168.0.0/16'])
  })

  it('accepts an empty list', () => {
    expect(normalizeAllowlist([])).toEqual([])
  })

  it('names the index of the first bad entry', () => {
    const error = refusal(() => normalizeAllowlist(['10.0.0.1', '10.0.0.1/8', 'nope']))
    expect(error.param).toBe('allowedIps[1]')
    const custom = refusal(() => normalizeAllowlist(['x'], 'ips'))
    expect(custom.param).toBe('ips[0]')
  })

  it('refuses a non-array', () => {
    for (const value of ['10.0.0.1', null, undefined, { 0: '10.0.0.1', length: 1 }]) {
      const error = refusal(() => normalizeAllowlist(value as unknown as string[]))
      expect(error.code).toBe('invalid_request')
    }
  })

  it(`accepts ${MAX_ALLOWLIST_ENTRIES} entries and refuses one more`, () => {
    expect(MAX_ALLOWLIST_ENTRIES).toBe(1000)
    const entries = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
    expect(normalizeAllowlist(entries)).toHaveLength(1000)
    const error = refusal(() => normalizeAllowlist([...entries, '10.9.9.9']))
    expect(error.param).toBe('allowedIps')
    // The bound is on the input, so duplicates do not sneak past it.
    refusal(() => normalizeAllowlist(Array.from({ length: 1001 }, () => '10.0.0.1')))
  })

  it('dedupes exactly the entries with the same canonical text (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 20 }), (entries) => {
        const result = normalizeAllowlist(entries)
        const expected = [...new Set(entries.map((entry) => normalizeAllowlistEntry(entry)))]
        expect(result).toEqual(expected)
      }),
      { numRuns: 2_000 },
    )
  })
})

// --- compileAllowlist -----------------------------------------------------------------------

describe('compileAllowlist', () => {
  it('matches single addresses and ranges of both families', () => {
    const matches = compileAllowlist(
      normalizeAllowlist(['203.0.113.5', '10.0.0.0/8', '2001:db8::/32', '::1']),
    )
    expect(matches(address('203.0.113.5'))).toBe(true)
    expect(matches(address('203.0.113.6'))).toBe(false)
    expect(matches(address('10.255.255.255'))).toBe(true)
    expect(matches(address('11.0.0.0'))).toBe(false)
    expect(matches(address('9.255.255.255'))).toBe(false)
    expect(matches(address('2001:db8::1'))).toBe(true)
    expect(matches(address('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe(true)
    expect(matches(address('2001:db9::'))).toBe(false)
    expect(matches(address('::1'))).toBe(true)
    expect(matches(address('::2'))).toBe(false)
  })

  it('matches IPv4-mapped IPv6 client addresses against IPv4 ranges', () => {
    const matches = compileAllowlist(normalizeAllowlist(['10.0.0.0/8', '203.0.113.5']))
    expect(matches(address('::ffff:10.1.2.3'))).toBe(true)
    expect(matches(address('::ffff:a01:203'))).toBe(true)
    expect(matches(address('::ffff:203.0.113.5'))).toBe(true)
    expect(matches(address('::ffff:11.1.2.3'))).toBe(false)
  })

  it('matches IPv4 clients against a range written as mapped IPv6', () => {
    const matches = compileAllowlist(normalizeAllowlist(['::ffff:192.168.0.0/112']))
    expect(matches(address('192.168.4.5'))).toBe(true)
    expect(matches(address('::ffff:192.168.4.5'))).toBe(true)
    expect(matches(address('192.169.0.0'))).toBe(false)
  })

  it('keeps the families apart: an IPv6 range never matches an IPv4 client', () => {
    const matches = compileAllowlist(normalizeAllowlist(['::/0']))
    expect(matches(address('2001:db8::1'))).toBe(true)
    expect(matches(address('10.0.0.1'))).toBe(false)
    const v4only = compileAllowlist(normalizeAllowlist(['0.0.0.0/0']))
    expect(v4only(address('10.0.0.1'))).toBe(true)
    expect(v4only(address('::1'))).toBe(false)
  })

  it('matches link-local addresses with a zone id by their address', () => {
    const matches = compileAllowlist(normalizeAllowlist(['fe80::/10']))
    expect(matches(address('fe80::1%eth0'))).toBe(true)
  })

  it('never matches a null address, even with a catch-all list', () => {
    expect(compileAllowlist(normalizeAllowlist(['0.0.0.0/0', '::/0']))(null)).toBe(false)
  })

  it('agrees with ipaddr.js range matching for any range and address of either family', () => {
    const v4 = fc.tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 }))
    const v6 = fc.tuple(
      fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }),
      fc.integer({ min: 0, max: 128 }),
    )
    const v4Text = (word: number) => [24, 16, 8, 0].map((shift) => (word >>> shift) & 255).join('.')
    const v6Text = (parts: number[]) => parts.map((part) => part.toString(16)).join(':')
    fc.assert(
      fc.property(
        fc.oneof(
          v4.map(([word, bits]) => ({ range: ipaddr.IPv4.parse(v4Text(word)), bits })),
          v6.map(([parts, bits]) => ({ range: ipaddr.IPv6.parse(v6Text(parts)), bits })),
        ),
        fc.oneof(
          fc.nat(0xffffffff).map(v4Text),
          fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map(v6Text),
        ),
        fc.boolean(),
        ({ range, bits }, other, near) => {
          // The network address of the range, as the canonical entry names it.
          const cidr = `${range.toString()}/${bits}`
          const base =
            range.kind() === 'ipv4'
              ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
              : ipaddr.IPv6.networkAddressFromCIDR(cidr)
          const entry = normalizeAllowlistEntry(`${base.toString()}/${bits}`)
          const matches = compileAllowlist([entry])
          // Half the time, the client is the range's own network address with its last bit
          // flipped (inside or just outside a /31 or /127, far outside a wide range).
          const bytes = base.toByteArray()
          bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
          const client = parseAddress(near ? ipaddr.fromByteArray(bytes).toString() : other)
          if (client === null) return
          const expected =
            client.kind() === base.kind() &&
            (client.kind() === 'ipv4'
              ? (client as ipaddr.IPv4).match(base as ipaddr.IPv4, bits)
              : (client as ipaddr.IPv6).match(base as ipaddr.IPv6, bits))
          expect(matches(client)).toBe(expected)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('fails closed on entries that are not canonical (a corrupted stored list)', () => {
    const matches = compileAllowlist([
      '10.0.0.0/',
      '10.0.0.0/x',
      '2001:db8::/abc',
      '10.0.0.1/8',
      '010.0.0.1',
    ])
    for (const text of ['8.8.8.8', '10.0.0.1', '2001:db8::1', '::1']) {
      expect(matches(address(text)), text).toBe(false)
    }
    expect(compileAllowlist(['garbage', '203.0.113.0/24'])(address('203.0.113.9'))).toBe(true)
  })

  it('an empty allowlist matcher matches nothing', () => {
    const matches = compileAllowlist([])
    for (const text of ['10.0.0.1', '127.0.0.1', '0.0.0.0', '::1', '::', '2001:db8::1']) {
      expect(matches(address(text)), text).toBe(false)
    }
    expect(matches(null)).toBe(false)
  })

  it('the network of any IPv4 a/p matches a (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (text, prefix) => {
        const network = intToV4((v4ToInt(text) & v4Mask(prefix)) >>> 0)
        const matches = compileAllowlist(normalizeAllowlist([`${network}/${prefix}`]))
        return matches(address(text)) && matches(address(`::ffff:${text}`))
      }),
      { numRuns: 10_000 },
    )
  })

  it('an IPv4 address matches a /p range iff its first p bits are equal (property)', () => {
    fc.assert(
      fc.property(
        uint32,
        fc.integer({ min: 0, max: 32 }),
        // Either any address, or the range's own address with one bit flipped, so that both
        // outcomes occur often.
        fc.oneof(
          uint32.map((random) => ({ random })),
          fc.integer({ min: 0, max: 31 }).map((bit) => ({ bit })),
        ),
        (rangeValue, prefix, pick) => {
          const mask = v4Mask(prefix)
          const network = (rangeValue & mask) >>> 0
          const client = 'random' in pick ? pick.random : (rangeValue ^ (1 << pick.bit)) >>> 0
          const matches = compileAllowlist([
            normalizeAllowlistEntry(`${intToV4(network)}/${prefix}`),
          ])
          const expected = (client & mask) >>> 0 === network
          return (
            matches(address(intToV4(client))) === expected &&
            matches(address(`::ffff:${intToV4(client)}`)) === expected
          )
        },
      ),
      { numRuns: 10_000 },
    )
  })

  it('an IPv6 address matches a /p range iff its first p bits are equal (property)', () => {
    fc.assert(
      fc.property(
        v6Unmapped,
        fc.integer({ min: 0, max: 128 }),
        fc.oneof(
          v6Unmapped.map((b) => ({ random: b })),
          fc.integer({ min: 0, max: 127 }).map((bit) => ({ bit })),
        ),
        (rangeBytes, prefix, pick) => {
          const network = v6Network(rangeBytes, prefix)
          let client: Uint8Array
          if ('random' in pick) {
            client = pick.random
          } else {
            client = Uint8Array.from(rangeBytes)
            client[pick.bit >> 3] = (client[pick.bit >> 3] ?? 0) ^ (0x80 >> (pick.bit & 7))
          }
          fc.pre(!isMappedSpace(client) && !isMappedSpace(network))
          const matches = compileAllowlist([
            normalizeAllowlistEntry(`${v6Text(network)}/${prefix}`),
          ])
          return matches(address(v6Text(client))) === samePrefix(client, network, prefix)
        },
      ),
      { numRuns: 10_000 },
    )
  })
})
