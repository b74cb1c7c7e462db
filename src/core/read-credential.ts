/**
 * Headers as Node, Express and Koa expose them: lower-case names, a repeated header as an
 * array. Declared here, not taken from `node:http`, so the package's types need no
 * `@types/node`; Node's `IncomingHttpHeaders` fits it.
 */
export type NodeHeaders = Readonly<Record<string, string | string[] | undefined>>

/** Headers as Node, Express and Koa expose them (lower-case names), or a fetch `Headers`. */
export type RequestHeaders =
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | { get(name: string): string | null }

/** Longest header value read; anything longer is refused without further parsing. */
export const MAX_CREDENTIAL_HEADER_LENGTH = 8192

export type CredentialRead =
  | { readonly status: 'missing' }
  | { readonly status: 'malformed' }
  | { readonly status: 'present'; readonly token: string }

// RFC 6750 section 2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235).
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const BARE_TOKEN = /^([A-Za-z0-9\-._~+/]+=*)$/

/** One header's value; a header sent twice is returned as an array. */
export function readHeader(
  headers: RequestHeaders,
  name: string,
): string | readonly string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined
  }
  return (headers as Readonly<Record<string, string | readonly string[] | undefined>>)[name]
}

/**
 * Reads the credential from `headerName`. On `authorization` it must use the Bearer scheme;
 * on a custom header the bare token is accepted too. Repeated, oversized or otherwise
 * malformed values are `malformed`, never an exception.
 */
export function readCredential(headers: RequestHeaders, headerName: string): CredentialRead {
  let value = readHeader(headers, headerName)
  if (Array.isArray(value)) {
    if (value.length > 1) return { status: 'malformed' }
    value = value[0]
  }
  if (typeof value !== 'string') return { status: 'missing' }
  const trimmed = value.trim()
  if (trimmed === '') return { status: 'missing' }
  if (trimmed.length > MAX_CREDENTIAL_HEADER_LENGTH) return { status: 'malformed' }
  const match =
    BEARER.exec(trimmed) ?? (headerName === 'authorization' ? null : BARE_TOKEN.exec(trimmed))
  if (match === null) return { status: 'malformed' }
  return { status: 'present', token: match[1] as string }
}
