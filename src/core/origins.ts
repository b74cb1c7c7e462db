import { InvalidRequestError } from './errors.js'
import type { RequestHeaders } from './read-credential.js'
import { readHeader } from './read-credential.js'

/*
 * Web origins a publishable key may be used from, and the origin a request comes from.
 * Patterns are `scheme://host[:port]`: the scheme exact (http or https); the host compared
 * case-insensitively after IDNA (punycode) and without a trailing dot; `*` only as whole
 * leftmost labels (each standing for exactly one label, as in TLS certificates) with at least
 * two named labels after them, or as the port (any port). No path, query, fragment or user.
 */

/** An origin as compared: scheme, host (lowercase, ASCII), port (the default one if none). */
interface Origin {
  readonly scheme: 'http' | 'https'
  readonly host: string
  readonly port: number
}

const DEFAULT_PORT = { http: 80, https: 443 } as const
const WILDCARD_LABEL = 'wildcard'
const LABEL = /^[a-z0-9-]{1,63}$/

function schemeOf(protocol: string): 'http' | 'https' | null {
  return protocol === 'http:' ? 'http' : protocol === 'https:' ? 'https' : null
}

/** The host without one trailing dot; URL has already lowercased and punycoded it. */
const bareHost = (hostname: string) => (hostname.endsWith('.') ? hostname.slice(0, -1) : hostname)

/**
 * A request's origin, from `Origin`, else from the origin of `Referer`; null when neither is
 * there, when it is `null` (sandboxed frames, file pages, some redirects), or unparsable.
 * Returns the canonical text and its parts.
 */
export function requestOrigin(headers: RequestHeaders): { text: string; origin: Origin } | null {
  const origin = readHeader(headers, 'origin')
  if (origin !== undefined) return typeof origin === 'string' ? parseOrigin(origin) : null
  const referer = readHeader(headers, 'referer')
  return typeof referer === 'string' ? parseOrigin(referer, true) : null
}

function parseOrigin(value: string, isReferer = false): { text: string; origin: Origin } | null {
  if (value === 'null' || value.length > 2048) return null
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return null
  }
  const scheme = schemeOf(url.protocol)
  if (scheme === null) return null
  // An Origin header is only scheme, host and port; a Referer may carry a path.
  if (!isReferer && (url.pathname !== '/' || url.search !== '' || url.username !== '')) {
    return null
  }
  const host = bareHost(url.hostname)
  const port = url.port === '' ? DEFAULT_PORT[scheme] : Number(url.port)
  const shown = url.port === '' ? `${scheme}://${host}` : `${scheme}://${host}:${port}`
  return { text: shown, origin: { scheme, host, port } }
}

/** One compiled pattern. */
interface OriginPattern {
  readonly scheme: 'http' | 'https'
  /** Labels after the wildcard ones, e.g. `example.com` for `*.example.com`. */
  readonly suffix: string
  /** How many leftmost `*` labels; 0 for an exact host. */
  readonly wildcards: number
  /** A port, or null for any port. */
  readonly port: number | null
}

/**
 * Checks one origin pattern and returns its canonical form (lowercase, punycode, no trailing
 * dot, no default port). Refuses anything else with `invalid_request`, naming the entry.
 */
export function canonicalOriginPattern(pattern: unknown, param: string): string {
  return compileOriginPattern(pattern, param).text
}

function compileOriginPattern(
  pattern: unknown,
  param: string,
): { text: string; compiled: OriginPattern } {
  const refuse = (why: string): never => {
    throw new InvalidRequestError(`${param}: ${JSON.stringify(pattern)} ${why}`, param)
  }
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 300) {
    return refuse(
      'is not an origin pattern (https://app.example.com, https://*.example.com, http://localhost:*)',
    )
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(pattern)
  if (scheme === null) return refuse('needs a scheme: https:// or http://')
  if (!/^https?$/i.test(scheme[1] as string)) return refuse('must use http or https')
  const rest = pattern.slice(scheme[0].length)
  const authorityEnd = rest.search(/[/?#]/)
  if (authorityEnd !== -1 && rest.slice(authorityEnd) !== '/') {
    return refuse('must be an origin only: no path, query or fragment')
  }
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd)
  if (authority.includes('@')) return refuse('must not name a user')
  const portMatch = /:(\*|\d{1,5})$/.exec(authority)
  const anyPort = portMatch?.[1] === '*'
  let hostText = portMatch === null ? authority : authority.slice(0, portMatch.index)
  const labels = hostText.split('.')
  let wildcards = 0
  while (labels[wildcards] === '*') wildcards++
  if (labels.slice(wildcards).some((label) => label.includes('*'))) {
    return refuse('may use * only as whole leftmost labels (https://*.example.com) or as the port')
  }
  if (wildcards > 0) {
    const named = labels.slice(wildcards).filter((label) => label !== '')
    if (named.length < 2) return refuse('needs at least two named labels after * (not *.com)')
    hostText = [...Array(wildcards).fill(WILDCARD_LABEL), ...labels.slice(wildcards)].join('.')
  }
  let url: URL
  try {
    url = new URL(
      `${(scheme[1] as string).toLowerCase()}://${hostText}${anyPort || portMatch === null ? '' : `:${portMatch[1]}`}`,
    )
  } catch {
    return refuse('is not a valid origin')
  }
  const host = bareHost(url.hostname)
  if (host === '') return refuse('has no host')
  const isIp = host.startsWith('[') || /^\d+(\.\d+){3}$/.test(host)
  if (wildcards > 0 && isIp) return refuse('may not put * in an IP address')
  if (!isIp && host.split('.').some((label) => !LABEL.test(label))) {
    return refuse('is not a valid host name')
  }
  const canonicalScheme = schemeOf(url.protocol) as 'http' | 'https'
  const port = anyPort ? null : url.port === '' ? DEFAULT_PORT[canonicalScheme] : Number(url.port)
  const suffix = host.split('.').slice(wildcards).join('.')
  const shownHost = wildcards > 0 ? `${'*.'.repeat(wildcards)}${suffix}` : host
  const shownPort = anyPort ? ':*' : url.port === '' ? '' : `:${url.port}`
  return {
    text: `${canonicalScheme}://${shownHost}${shownPort}`,
    compiled: { scheme: canonicalScheme, suffix, wildcards, port },
  }
}

/**
 * Compiles canonical patterns (as stored) into one check of a request's origin. Patterns were
 * validated when they were stored; one that no longer compiles matches nothing (fail closed).
 */
export function compileOriginMatcher(patterns: readonly string[]): (origin: Origin) => boolean {
  const compiled: OriginPattern[] = []
  for (const pattern of patterns) {
    try {
      compiled.push(compileOriginPattern(pattern, 'allowedOrigins').compiled)
    } catch {
      // A stored pattern that does not compile admits nothing.
    }
  }
  return (origin) => compiled.some((pattern) => matches(pattern, origin))
}

function matches(pattern: OriginPattern, origin: Origin): boolean {
  if (pattern.scheme !== origin.scheme) return false
  if (pattern.port !== null && pattern.port !== origin.port) return false
  if (pattern.wildcards === 0) return origin.host === pattern.suffix
  const tail = `.${pattern.suffix}`
  if (!origin.host.endsWith(tail)) return false
  const head = origin.host.slice(0, -tail.length)
  // Exactly one label per `*`, each a valid, non-empty label.
  const labels = head.split('.')
  return labels.length === pattern.wildcards && labels.every((label) => LABEL.test(label))
}

export type { Origin }
