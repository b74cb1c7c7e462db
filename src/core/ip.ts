import type { IPv4, IPv6 } from 'ipaddr.js'
import ipaddr from 'ipaddr.js'
import { InvalidRequestError } from './errors.js'

export type IpAddress = IPv4 | IPv6

/** A parsed allowlist: one matcher per address family. */
export type AddressMatcher = (address: IpAddress | null) => boolean

/** Upper bound on allowlist entries: a longer list is almost certainly a configuration bug. */
export const MAX_ALLOWLIST_ENTRIES = 1000
const MAX_ADDRESS_TEXT = 64
const PREFIX_TEXT = /^(0|[1-9][0-9]{0,2})$/

/**
 * Parses an address without guessing: IPv4 must be four decimal parts with no leading zeros
 * (`010.0.0.1` and `0x7f.1` are refused, since other software reads them as octal or hex).
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`) becomes the IPv4 address. A zone id (`fe80::1%eth0`)
 * is accepted only when `allowZone` is set (peer addresses), never in configuration.
 */
export function parseAddress(text: string, allowZone = false): IpAddress | null {
  if (text.length === 0 || text.length > MAX_ADDRESS_TEXT) return null
  if (text.includes(':')) {
    if (!allowZone && text.includes('%')) return null
    if (!ipaddr.IPv6.isValid(text)) return null
    const zoneAt = text.indexOf('%')
    let bare = zoneAt === -1 ? text : text.slice(0, zoneAt)
    if (bare.includes('.')) {
      // An embedded IPv4 tail follows the same no-leading-zeros rule, and is rewritten as two
      // hex groups before parsing: ipaddr.js reads the deprecated IPv4-compatible form
      // (::1.2.3.4) as IPv4-mapped, which would turn it into an IPv4 address.
      const split = bare.lastIndexOf(':')
      const tail = bare.slice(split + 1)
      if (!ipaddr.IPv4.isValidFourPartDecimal(tail)) return null
      const [a, b, c, d] = ipaddr.IPv4.parse(tail).octets as [number, number, number, number]
      bare = `${bare.slice(0, split + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
      if (!ipaddr.IPv6.isValid(bare)) return null
    }
    const address = ipaddr.IPv6.parse(zoneAt === -1 ? bare : bare + text.slice(zoneAt))
    return address.isIPv4MappedAddress() ? address.toIPv4Address() : address
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) return null
  return ipaddr.IPv4.parse(text)
}

function hostBitsAreZero(address: IpAddress, prefixLength: number): boolean {
  const bytes = address.toByteArray()
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1) return false
  }
  return true
}

function refuse(entry: string, why: string, param: string): never {
  throw new InvalidRequestError(`${JSON.stringify(entry)} ${why}`, param)
}

/**
 * Validates one allowlist entry (an address or a CIDR range, IPv4 or IPv6) and returns its
 * canonical text: IPv6 compressed and lower-case, IPv4-mapped IPv6 rewritten as IPv4, a
 * full-length prefix dropped. Ambiguous input is refused with an `InvalidRequestError`.
 */
export function normalizeAllowlistEntry(entry: string, param = 'allowedIps'): string {
  if (typeof entry !== 'string') refuse(String(entry), 'is not a string', param)
  const text = entry.trim()
  const slash = text.indexOf('/')
  const addressText = slash === -1 ? text : text.slice(0, slash)
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1)
  if (addressText.includes('%'))
    refuse(entry, 'has a zone id, which an allowlist cannot use', param)
  const address = parseAddress(addressText)
  if (address === null) {
    refuse(
      entry,
      'is not an IP address or CIDR range (IPv4 needs four decimal parts without leading zeros)',
      param,
    )
  }
  const mapped = addressText.includes(':') && address.kind() === 'ipv4'
  const familyBits = mapped ? 128 : address.kind() === 'ipv4' ? 32 : 128
  let prefixLength = familyBits
  if (prefixText !== undefined) {
    if (!PREFIX_TEXT.test(prefixText)) refuse(entry, 'has a malformed prefix length', param)
    prefixLength = Number(prefixText)
    if (prefixLength > familyBits) refuse(entry, `has a prefix longer than /${familyBits}`, param)
  }
  if (mapped) {
    // proxy-addr pitfall: "::ffff:10.0.0.0/8" reads as ::/8 in IPv6 and matches all of IPv4.
    if (prefixLength < 96) {
      refuse(
        entry,
        'is an IPv4-mapped range shorter than /96, which would cover far more than the IPv4 range it names; write it as an IPv4 CIDR',
        param,
      )
    }
    prefixLength -= 96
  }
  if (!hostBitsAreZero(address, prefixLength)) {
    refuse(
      entry,
      'has bits set after its prefix length; give the network address of the range',
      param,
    )
  }
  const full = address.kind() === 'ipv4' ? 32 : 128
  if (prefixLength === full) return address.toString()
  // Joined, not concatenated: one flat string rather than a rope of three, for a text that a
  // key's record keeps as long as the key is stored or cached.
  return [address.toString(), prefixLength].join('/')
}

/**
 * Validates a whole allowlist: canonical entries, duplicates removed, order kept. An empty
 * list means "no restriction". Throws `InvalidRequestError` naming the first bad entry.
 */
export function normalizeAllowlist(entries: readonly string[], param = 'allowedIps'): string[] {
  if (!Array.isArray(entries)) throw new InvalidRequestError(`${param} must be an array`, param)
  if (entries.length > MAX_ALLOWLIST_ENTRIES) {
    throw new InvalidRequestError(
      `${param} has ${entries.length} entries; at most ${MAX_ALLOWLIST_ENTRIES} are allowed`,
      param,
    )
  }
  const seen = new Set<string>()
  entries.forEach((entry, index) => {
    seen.add(normalizeAllowlistEntry(entry, `${param}[${index}]`))
  })
  return [...seen]
}

/** An IPv4 address as one unsigned 32-bit word. */
function v4Word(address: IPv4): number {
  const [a, b, c, d] = address.octets as [number, number, number, number]
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
}

/** The mask of the first `bits` bits of a 32-bit word (0 to 32). */
function maskOf(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0
}

/**
 * An allowlist compiled to flat numbers, in one array: the count of IPv4 numbers, then IPv4
 * ranges as (network, mask) word pairs, then IPv6 ranges as eight words (network, then mask)
 * each. Every cached key holds its own, so it is a single array of doubles (two heap objects)
 * rather than parsed address objects or a closure over per-family arrays.
 */
export type AllowlistRanges = readonly number[]

/** The ranges of an empty list: shared. */
const NO_RANGES: AllowlistRanges = Object.freeze([0])

/**
 * Compiles canonical entries (as produced by {@link normalizeAllowlist}) into
 * {@link AllowlistRanges}. The entries usually come back from a store, so an entry that is not
 * canonical (a corrupted or hand-edited row) is dropped: it matches nobody, and the allowlist
 * fails closed.
 */
export function compileRanges(normalized: readonly string[]): AllowlistRanges {
  const v4: number[] = []
  const v6: number[] = []
  for (const entry of normalized) {
    let canonical: string
    try {
      canonical = normalizeAllowlistEntry(entry)
    } catch {
      continue
    }
    if (canonical !== entry) continue
    const [text, prefix] = entry.split('/') as [string, string | undefined]
    const address = parseAddress(text) as IpAddress
    if (address.kind() === 'ipv4') {
      const mask = maskOf(prefix === undefined ? 32 : Number(prefix))
      v4.push((v4Word(address as IPv4) & mask) >>> 0, mask)
    } else {
      const bits = prefix === undefined ? 128 : Number(prefix)
      const words = v6Words(address as IPv6)
      const masks = [0, 1, 2, 3].map((i) => maskOf(bits - 32 * i))
      v6.push(...words.map((word, i) => (word & (masks[i] as number)) >>> 0), ...masks)
    }
  }
  if (v4.length === 0 && v6.length === 0) return NO_RANGES
  // Exact length: an array grown by push keeps spare capacity.
  const ranges = new Array<number>(1 + v4.length + v6.length)
  ranges[0] = v4.length
  for (let i = 0; i < v4.length; i++) ranges[1 + i] = v4[i] as number
  for (let i = 0; i < v6.length; i++) ranges[1 + v4.length + i] = v6[i] as number
  return ranges
}

/** Whether `address` lies in one of the ranges; never for no address. */
export function inRanges(ranges: AllowlistRanges, address: IpAddress | null): boolean {
  if (address === null) return false
  const sixStart = 1 + (ranges[0] as number)
  if (address.kind() === 'ipv4') {
    const word = v4Word(address as IPv4)
    for (let i = 1; i < sixStart; i += 2) {
      if ((word & (ranges[i + 1] as number)) >>> 0 === ranges[i]) return true
    }
    return false
  }
  if (sixStart === ranges.length) return false
  const words = v6Words(address as IPv6)
  for (let i = sixStart; i < ranges.length; i += 8) {
    let inside = true
    for (let w = 0; w < 4 && inside; w++) {
      inside = ((words[w] as number) & (ranges[i + 4 + w] as number)) >>> 0 === ranges[i + w]
    }
    if (inside) return true
  }
  return false
}

/** {@link compileRanges} as a matcher function, for lists compiled once (proxies, `ipAllowlist`). */
export function compileAllowlist(normalized: readonly string[]): AddressMatcher {
  const ranges = compileRanges(normalized)
  return (address) => inRanges(ranges, address)
}

/** An IPv6 address as four unsigned 32-bit words. */
function v6Words(address: IPv6): number[] {
  const p = address.parts
  const words: number[] = []
  for (let i = 0; i < 8; i += 2) words.push((((p[i] as number) << 16) | (p[i + 1] as number)) >>> 0)
  return words
}
