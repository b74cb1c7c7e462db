import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileTrustedProxies, resolveClientAddress } from './client-address.js'
import { InvalidRequestError } from './errors.js'

function resolved(
  remote: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trust: readonly string[] | undefined,
): string | null {
  const address = resolveClientAddress(remote, forwardedFor, compileTrustedProxies(trust))
  return address === null ? null : address.toString()
}

function trusted(list: readonly string[]) {
  const matcher = compileTrustedProxies(list)
  if (matcher === null) throw new Error('expected a matcher')
  return matcher
}

const xffString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('127.0.0.1'), fc.string()), {
      maxLength: 10,
    })
    .map((hops) => hops.join(', ')),
)
const xffHeader = fc.oneof(xffString, fc.array(xffString, { maxLength: 4 }), fc.constant(undefined))

/** Public IPv4 addresses: outside 10/8, 127/8, 169.254/16, 172.16/12 and 192.168/16. */
const publicV4 = fc
  .tuple(
    fc.integer({ min: 11, max: 126 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map((parts) => parts.join('.'))
const privateV4 = fc
  .tuple(
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map((parts) => `10.${parts.join('.')}`)

describe('compileTrustedProxies', () => {
  it('trusts nothing when given undefined or an empty list', () => {
    expect(compileTrustedProxies(undefined)).toBeNull()
    expect(compileTrustedProxies([])).toBeNull()
  })

  it('expands the loopback, linklocal and uniquelocal presets', () => {
    const loopback = trusted(['loopback'])
    const linklocal = trusted(['linklocal'])
    const uniquelocal = trusted(['uniquelocal'])
    const at = (text: string) => resolveClientAddress(text, undefined, null)
    expect(loopback(at('127.0.0.1'))).toBe(true)
    expect(loopback(at('127.255.255.254'))).toBe(true)
    expect(loopback(at('::1'))).toBe(true)
    expect(loopback(at('::ffff:127.0.0.1'))).toBe(true)
    expect(loopback(at('128.0.0.1'))).toBe(false)
    expect(loopback(at('::2'))).toBe(false)
    expect(linklocal(at('169.254.1.1'))).toBe(true)
    expect(linklocal(at('fe80::1%eth0'))).toBe(true)
    expect(linklocal(at('febf::1'))).toBe(true)
    expect(linklocal(at('fec0::1'))).toBe(false)
    for (const text of ['10.1.1.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fd00::1']) {
      expect(uniquelocal(at(text)), text).toBe(true)
    }
    for (const text of ['172.32.0.1', '192.169.0.1', '11.0.0.1', 'fe00::1']) {
      expect(uniquelocal(at(text)), text).toBe(false)
    }
  })

  it('validates entries like an allowlist and refuses the mapped-CIDR pitfall', () => {
    expect(() => compileTrustedProxies(['::ffff:10.0.0.0/8'])).toThrow(InvalidRequestError)
    expect(() => compileTrustedProxies(['10.0.0.1/8'])).toThrow(InvalidRequestError)
    expect(() => compileTrustedProxies(['127.1'])).toThrow(InvalidRequestError)
    expect(() => compileTrustedProxies(['loopbacks'])).toThrow(InvalidRequestError)
    expect(() => compileTrustedProxies(['fe80::1%eth0'])).toThrow(InvalidRequestError)
  })

  it('refuses a list that is not an array', () => {
    expect(() => compileTrustedProxies('loopback' as unknown as string[])).toThrow(TypeError)
  })
})

describe('resolveClientAddress', () => {
  it('returns the socket address when no proxy is trusted', () => {
    expect(resolved('203.0.113.9', undefined, undefined)).toBe('203.0.113.9')
    expect(resolved('203.0.113.9', '1.2.3.4', undefined)).toBe('203.0.113.9')
    expect(resolved('127.0.0.1', '1.2.3.4', [])).toBe('127.0.0.1')
    expect(resolved('2001:db8::1', '1.2.3.4', undefined)).toBe('2001:db8::1')
  })

  it('returns null for a missing or unparseable socket address', () => {
    expect(resolved(undefined, '1.2.3.4', ['loopback'])).toBeNull()
    expect(resolved(undefined, undefined, undefined)).toBeNull()
    expect(resolved('', undefined, undefined)).toBeNull()
    expect(resolved('not an address', '1.2.3.4', ['0.0.0.0/0'])).toBeNull()
    expect(resolved('127.1', undefined, undefined)).toBeNull()
  })

  it('without trusted proxies, X-Forwarded-For never changes the result (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), xffHeader, (remote, forwardedFor) => {
        const plain = resolveClientAddress(remote, undefined, null)
        const withHeader = resolveClientAddress(remote, forwardedFor, null)
        return plain !== null && withHeader?.toString() === plain.toString()
      }),
      { numRuns: 10_000 },
    )
  })

  it('from an untrusted peer, ignores whatever X-Forwarded-For it sends (property)', () => {
    const trust = trusted(['loopback', 'uniquelocal'])
    fc.assert(
      fc.property(publicV4, xffHeader, (remote, forwardedFor) => {
        return resolveClientAddress(remote, forwardedFor, trust)?.toString() === remote
      }),
      { numRuns: 5_000 },
    )
  })

  it('stops at the first untrusted hop, walking right to left', () => {
    const xff = '203.0.113.9, 10.0.0.1'
    expect(resolved('127.0.0.1', xff, ['loopback'])).toBe('10.0.0.1')
    expect(resolved('127.0.0.1', xff, ['loopback', 'uniquelocal'])).toBe('203.0.113.9')
    expect(resolved('127.0.0.1', xff, ['127.0.0.0/8'])).toBe('10.0.0.1')
    expect(resolved('127.0.0.1', xff, ['127.0.0.1', '10.0.0.1'])).toBe('203.0.113.9')
    // An untrusted socket peer: its header is not read at all.
    expect(resolved('198.51.100.7', xff, ['loopback', 'uniquelocal'])).toBe('198.51.100.7')
  })

  it('returns the leftmost hop when every hop is trusted', () => {
    expect(resolved('127.0.0.1', '10.0.0.3, 10.0.0.2, 10.0.0.1', ['loopback', '10.0.0.0/8'])).toBe(
      '10.0.0.3',
    )
    expect(resolved('127.0.0.1', '10.0.0.3', ['0.0.0.0/0'])).toBe('10.0.0.3')
  })

  it('returns null when a hop it has to read is unparseable', () => {
    const trust = ['loopback', 'uniquelocal']
    expect(resolved('127.0.0.1', 'garbage', trust)).toBeNull()
    expect(resolved('127.0.0.1', '203.0.113.9, garbage', trust)).toBeNull()
    expect(resolved('127.0.0.1', '203.0.113.9, 010.0.0.1', trust)).toBeNull()
    expect(resolved('127.0.0.1', '203.0.113.9:443', trust)).toBeNull()
    expect(resolved('127.0.0.1', '203.0.113.9,,10.0.0.1', trust)).toBeNull()
    expect(resolved('127.0.0.1', ',', trust)).toBeNull()
    // A bad hop beyond the first untrusted one is never read.
    expect(resolved('127.0.0.1', 'garbage, 203.0.113.9, 10.0.0.1', trust)).toBe('203.0.113.9')
  })

  it('treats an empty header from a trusted proxy as no header', () => {
    expect(resolved('127.0.0.1', '', ['loopback'])).toBe('127.0.0.1')
    expect(resolved('127.0.0.1', [], ['loopback'])).toBe('127.0.0.1')
    expect(resolved('127.0.0.1', undefined, ['loopback'])).toBe('127.0.0.1')
  })

  it('trims whitespace around hops', () => {
    expect(resolved('127.0.0.1', '  203.0.113.9 ,10.0.0.1  ', ['loopback', 'uniquelocal'])).toBe(
      '203.0.113.9',
    )
  })

  it('treats an IPv4-mapped socket address as IPv4', () => {
    expect(resolved('::ffff:127.0.0.1', '203.0.113.9', ['loopback'])).toBe('203.0.113.9')
    expect(resolved('::ffff:127.0.0.1', '203.0.113.9', ['127.0.0.1'])).toBe('203.0.113.9')
    expect(resolved('::ffff:127.0.0.1', undefined, undefined)).toBe('127.0.0.1')
    expect(resolveClientAddress('::ffff:127.0.0.1', undefined, null)?.kind()).toBe('ipv4')
    expect(resolved('127.0.0.1', '::ffff:203.0.113.9', ['loopback'])).toBe('203.0.113.9')
  })

  it('walks IPv6 chains and accepts zone ids on peer addresses', () => {
    expect(resolved('::1', '2001:db8::9', ['loopback'])).toBe('2001:db8::9')
    expect(resolved('::1', '2001:db8::9, fd00::1', ['loopback', 'uniquelocal'])).toBe('2001:db8::9')
    expect(resolved('fe80::1%eth0', '203.0.113.9', ['linklocal'])).toBe('203.0.113.9')
    expect(resolved('fe80::1%eth0', '203.0.113.9', undefined)).toBe('fe80::1%eth0')
  })

  it('reads a header given as an array of strings like the joined header', () => {
    const trust = ['loopback', 'uniquelocal']
    expect(resolved('127.0.0.1', ['203.0.113.9', '10.0.0.1'], trust)).toBe('203.0.113.9')
    expect(resolved('127.0.0.1', ['198.51.100.1, 203.0.113.9', '10.0.0.1'], ['loopback'])).toBe(
      '10.0.0.1',
    )
    expect(resolved('127.0.0.1', ['198.51.100.1, 10.0.0.2', '10.0.0.1'], trust)).toBe(
      '198.51.100.1',
    )
    expect(resolved('127.0.0.1', ['10.0.0.1'], trust)).toBe('10.0.0.1')
  })

  it('gives the same answer for an array header as for its comma-joined string (property)', () => {
    const trust = trusted(['loopback', 'uniquelocal'])
    fc.assert(
      fc.property(
        fc.array(fc.oneof(publicV4, privateV4, fc.constant('bad')), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 6 }),
        (hops, size) => {
          const parts: string[] = []
          for (let i = 0; i < hops.length; i += size) parts.push(hops.slice(i, i + size).join(', '))
          const fromArray = resolveClientAddress('127.0.0.1', parts, trust)
          const fromString = resolveClientAddress('127.0.0.1', hops.join(', '), trust)
          return String(fromArray) === String(fromString)
        },
      ),
      { numRuns: 5_000 },
    )
  })

  it('never lets a spoofed entry win over a nearer untrusted hop (property)', () => {
    const trust = trusted(['loopback', '10.0.0.0/8'])
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 10 }),
            fc.ipV4(),
            fc.ipV6(),
            privateV4,
            fc.constant('127.0.0.1'),
          ),
          { maxLength: 5 },
        ),
        publicV4,
        fc.array(privateV4, { maxLength: 5 }),
        fc.constantFrom('127.0.0.1', '::1', '::ffff:127.0.0.1', '10.9.8.7'),
        fc.boolean(),
        (spoofed, client, proxies, socket, asArray) => {
          const hops = [...spoofed, client, ...proxies]
          const header = asArray ? hops : hops.join(',')
          return resolveClientAddress(socket, header, trust)?.toString() === client
        },
      ),
      { numRuns: 10_000 },
    )
  })

  it('agrees with a reference right-to-left walk on well-formed chains (property)', () => {
    const trust = trusted(['loopback', 'uniquelocal'])
    const isTrusted = (text: string) => /^(10|127)\./.test(text)
    fc.assert(
      fc.property(
        fc.array(fc.oneof(publicV4, privateV4), { maxLength: 10 }),
        fc.oneof(publicV4, privateV4, fc.constant('127.0.0.1')),
        (hops, socket) => {
          let expected = socket
          for (let i = hops.length - 1; i >= 0 && isTrusted(expected); i--) {
            expected = hops[i] as string
          }
          const header = hops.length === 0 ? undefined : hops.join(', ')
          return resolveClientAddress(socket, header, trust)?.toString() === expected
        },
      ),
      { numRuns: 10_000 },
    )
  })

  it('refuses a chain of more than 64 hops from a trusted proxy', () => {
    const trust = ['loopback', 'uniquelocal']
    const hops = (count: number) => Array.from({ length: count }, (_, i) => `10.0.0.${i + 1}`)
    expect(resolved('127.0.0.1', hops(64).join(', '), trust)).toBe('10.0.0.1')
    expect(resolved('127.0.0.1', hops(65).join(', '), trust)).toBeNull()
    expect(resolved('127.0.0.1', hops(65), trust)).toBeNull()
    expect(resolved('127.0.0.1', [hops(40).join(','), hops(30).join(',')], trust)).toBeNull()
    expect(resolved('127.0.0.1', `${'1.2.3.4,'.repeat(1000)}203.0.113.9`, trust)).toBeNull()
  })

  it('lets an untrusted peer send any number of hops: it is the client either way', () => {
    const long = Array.from({ length: 65 }, () => '1.1.1.1').join(',')
    expect(resolved('203.0.113.7', long, ['loopback'])).toBe('203.0.113.7')
  })

  it('names the entry the user wrote when a trusted proxy is refused', () => {
    expect(() => compileTrustedProxies(['loopback', 'bogus'])).toThrow(
      expect.objectContaining({ param: 'trustedProxies[1]' }),
    )
  })
})
