import type { AuthenticateRequest } from './authenticate.js'
import { readCredential, readHeader } from './read-credential.js'
import { type Failure, fail } from './refusal.js'

/** The refusal codes of one kind of credential. */
interface HeaderCodes {
  readonly missing: 'api_key_missing' | 'session_missing'
  readonly invalid: 'api_key_invalid' | 'session_invalid'
  /** What the header carries, for the message: `key` or `token`. */
  readonly noun: string
}

export const API_KEY_CODES: HeaderCodes = {
  missing: 'api_key_missing',
  invalid: 'api_key_invalid',
  noun: 'key',
}
export const SESSION_CODES: HeaderCodes = {
  missing: 'session_missing',
  invalid: 'session_invalid',
  noun: 'token',
}

/**
 * How the core reads a credential header: once, the same way for keys and sessions. A header
 * sent twice is refused outright (Node keeps only the first in `req.headers`, so without the
 * raw list a second `Authorization` would be ignored); then either the usual shape is taken
 * for a cache lookup, or the header is read and validated in full.
 */
export class CredentialHeader {
  readonly #name: string
  /** The name as clients usually spell it (`Authorization`), compared before lower-casing. */
  readonly #usualSpelling: string
  /** The lower-case name's first character code, which tells the two spellings apart. */
  readonly #nameFirst: number
  readonly #codes: HeaderCodes

  constructor(name: string, codes: HeaderCodes) {
    this.#name = name
    this.#usualSpelling = name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => {
      return dash + letter.toUpperCase()
    })
    this.#nameFirst = name.charCodeAt(0)
    this.#codes = codes
  }

  /** A refusal when the raw header list carries this header more than once, else null. */
  repeated(request: AuthenticateRequest): Failure | null {
    const raw = request.rawHeaders
    if (raw === undefined) return null
    let seen = 0
    for (let i = 0; i < raw.length; i += 2) {
      if (this.#names(raw[i] as string) && ++seen > 1) {
        return fail(this.#codes.invalid, 'Malformed credential header: it was sent more than once.')
      }
    }
    return null
  }

  /**
   * Whether a raw header name is this header's, in any case. Of the two usual spellings only the
   * one its first character allows is compared (each comparison of two distinct strings walks
   * their characters), and only a name in neither is lower-cased.
   */
  #names(field: string): boolean {
    const name = this.#name
    if (field.length !== name.length) return false
    const spelled = field.charCodeAt(0) === this.#nameFirst ? name : this.#usualSpelling
    return field === spelled || field.toLowerCase() === name
  }

  /**
   * The token in the usual header shape (`Authorization: Bearer <token>`, or the bare token on
   * a custom header), read without validating it: only for a cache lookup by its hash, since a
   * hit proves the token is exactly one that was validated before. Anything else returns
   * undefined and takes the full path.
   */
  usual(request: AuthenticateRequest): string | undefined {
    const { headers } = request
    if (this.#name === 'authorization') {
      // Node's plain headers and the default header: one named load, on every request. A
      // fetch `Headers` has no such property and is asked through `get` below.
      const raw = (headers as { readonly authorization?: unknown }).authorization
      if (typeof raw === 'string') return raw.startsWith('Bearer ') ? raw.slice(7) : undefined
      if (typeof (headers as { get?: unknown }).get !== 'function') return undefined
    }
    const raw = readHeader(headers, this.#name)
    if (typeof raw !== 'string') return undefined
    if (this.#name !== 'authorization') return raw
    return raw.startsWith('Bearer ') ? raw.slice(7) : undefined
  }

  /** The token, validated in full, or the refusal for a missing or malformed header. */
  read(request: AuthenticateRequest): { readonly token: string } | Failure {
    const read = readCredential(request.headers, this.#name)
    if (read.status === 'present') return read
    if (read.status === 'missing') return fail(this.#codes.missing)
    return fail(
      this.#codes.invalid,
      `Malformed credential header; expected "Authorization: Bearer <${this.#codes.noun}>".`,
    )
  }
}
