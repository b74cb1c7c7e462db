import { randomBytes } from 'node:crypto'

export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * `length` characters drawn uniformly from the base62 alphabet with the CSPRNG. Bytes at or
 * above 248 (= 4 × 62) are rejected so that `byte % 62` has no modulo bias.
 */
export function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    const bytes = randomBytes(Math.ceil((length - out.length) * 1.1) + 4)
    for (const byte of bytes) {
      if (byte >= 248) continue
      out += BASE62_ALPHABET[byte % 62]
      if (out.length === length) break
    }
  }
  return out
}

/** `value` (an unsigned 32-bit integer) in base62, left-padded with zeros to `width`. */
export function encodeBase62Fixed(value: number, width: number): string {
  let rest = value >>> 0
  let out = ''
  while (rest > 0) {
    out = BASE62_ALPHABET[rest % 62] + out
    rest = Math.floor(rest / 62)
  }
  return out.padStart(width, '0')
}
