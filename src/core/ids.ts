import { randomBase62 } from './base62.js'

/** Public, non-secret identifiers: a type prefix and 24 base62 characters (143 bits). */
export function newKeyId(): string {
  return randomBase62(24, 'key_')
}

export function newSessionId(): string {
  return randomBase62(24, 'cs_')
}
