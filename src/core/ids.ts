import { randomBase62 } from './base62.js'

/** Public, non-secret identifiers: a type prefix and 24 base62 characters (143 bits). */
export function newKeyId(): string {
  return `key_${randomBase62(24)}`
}

export function newSessionId(): string {
  return `cs_${randomBase62(24)}`
}
