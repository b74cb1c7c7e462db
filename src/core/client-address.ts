import { LRUCache } from 'lru-cache'
import {
  type AddressMatcher,
  compileAllowlist,
  type IpAddress,
  normalizeAllowlistEntry,
  parseAddress,
} from './ip.js'
import { type RequestHeaders, readHeader } from './read-credential.js'

/** Named ranges, as proxy-addr and Express's `trust proxy` know them. */
const PRESETS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

/**
 * Parsed peer addresses: the same few socket addresses (clients, load balancers) arrive over and
 * over, and parsing IPv6 text is the dearest step of an allowlist check. Parsed addresses are
 * never mutated, so they can be shared.
 */
const peers = new LRUCache<string, IpAddress | false>({ max: 4096 })

function parsePeer(text: string): IpAddress | null {
  const cached = peers.get(text)
  if (cached !== undefined) return cached === false ? null : cached
  const parsed = parseAddress(text, true)
  peers.set(text, parsed ?? false)
  return parsed
}

/** Beyond this many `X-Forwarded-For` hops the chain is refused rather than walked. */
const MAX_FORWARDED_HOPS = 64

/**
 * Compiles `trustedProxies` (addresses, CIDR ranges and the presets `loopback`, `linklocal`,
 * `uniquelocal`) into a matcher. Entries are validated like allowlists, so the mapped-CIDR
 * pitfall (`::ffff:10.0.0.0/8`) is refused here too. `undefined` or `[]` trusts no proxy.
 */
export function compileTrustedProxies(list: readonly string[] | undefined): AddressMatcher | null {
  if (list === undefined || list.length === 0) return null
  if (!Array.isArray(list)) throw new TypeError('trustedProxies must be an array of strings')
  const canonical = list.flatMap((entry, index) =>
    Object.hasOwn(PRESETS, entry)
      ? (PRESETS[entry] as readonly string[])
      : [normalizeAllowlistEntry(entry, `trustedProxies[${index}]`)],
  )
  return compileAllowlist(canonical)
}

/**
 * The address a request came from. Without trusted proxies it is the socket address and
 * `X-Forwarded-For` is ignored. With them, the chain is walked right to left from the socket,
 * skipping trusted hops; the first untrusted hop is the client (proxy-addr semantics). An
 * unparseable hop or an over-long chain yields `null`, which no allowlist matches.
 */
export function resolveClientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trust: AddressMatcher | null,
): IpAddress | null {
  let current = remoteAddress === undefined ? null : parsePeer(remoteAddress)
  if (trust === null || current === null || forwardedFor === undefined) return current
  // An untrusted peer is the client, whatever its header says (however long).
  if (!trust(current)) return current
  const joined = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')
  const hops = joined.split(',')
  if (hops.length > MAX_FORWARDED_HOPS) return null
  for (let i = hops.length - 1; i >= 0; i--) {
    if (i < hops.length - 1 && !trust(current)) return current
    const hop = (hops[i] as string).trim()
    if (hop === '' && hops.length === 1) return current
    current = parsePeer(hop)
    if (current === null) return null
  }
  return current
}

/** The client address of a request as the bindings describe it (headers + socket address). */
export function requestClientAddress(
  request: { readonly headers: RequestHeaders; readonly remoteAddress?: string | undefined },
  trust: AddressMatcher | null,
): IpAddress | null {
  const forwardedFor = trust === null ? undefined : readHeader(request.headers, 'x-forwarded-for')
  return resolveClientAddress(request.remoteAddress, forwardedFor, trust)
}
