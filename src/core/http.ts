import type { ErrorEnvelope, PortcullisError } from './errors.js'

/** An error rendered for HTTP: what a binding writes, before any application hook. */
export interface HttpErrorResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: ErrorEnvelope
}

export interface HttpErrorOptions {
  /** `realm` of the `WWW-Authenticate` challenge. Default `api`. */
  readonly realm?: string
  /** `Retry-After` seconds sent with 503. Default 1. */
  readonly retryAfterSeconds?: number
}

// RFC 6750 section 3: error_description may hold %x20-21 / %x23-5B / %x5D-7E only.
function quotable(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?')
}

/**
 * Maps an error to status, headers and the envelope. 401s carry an RFC 6750 `WWW-Authenticate`
 * challenge (without an error code when no credential was sent, as section 3.1 asks); 503s
 * carry `Retry-After`.
 */
export function toHttpError(
  error: PortcullisError,
  options: HttpErrorOptions = {},
): HttpErrorResponse {
  const headers: Record<string, string> = {}
  if (error.status === 401) {
    const realm = `Bearer realm="${quotable(options.realm ?? 'api')}"`
    headers['www-authenticate'] =
      error.code === 'api_key_missing' || error.code === 'session_missing'
        ? realm
        : `${realm}, error="invalid_token", error_description="${quotable(error.message)}"`
  } else if (error.status === 503) {
    headers['retry-after'] = String(options.retryAfterSeconds ?? 1)
  }
  return { status: error.status, headers, body: error.toJSON() }
}
