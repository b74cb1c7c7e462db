import { randomBytes } from 'node:crypto'

export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * `prefix` (ASCII) followed by `length` characters drawn uniformly from the base62 alphabet
 * with the CSPRNG. Bytes at or above 248 (= 4 × 62) are rejected so that `byte % 62` has no
 * modulo bias.
 */
export function randomBase62(length: number, prefix = ''): string {
  if (!/^[\x20-\x7e]*$/.test(prefix)) {
    throw new TypeError('randomBase62: prefix must be printable ASCII')
  }
  const out = Buffer.allocUnsafe(prefix.length + length)
  out.write(prefix, 'latin1')
  const end = out.length
  let filled = prefix.length
  while (filled < end) {
    for (const byte of randomBytes(Math.ceil((end - filled) * 1.1) + 4)) {
      if (byte >= 248) continue
      out[filled++] = BASE62_CODES[byte % 62] as number
      if (filled === end) break
    }
  }
  // One flat string, prefix included: ids built by += stay as nested ropes (about 400 bytes
  // more per id held), and even `prefix + random` is a two-part string, two heap objects where
  // one will do, in every record that keeps the id.
  return out.toString('latin1')
}

const BASE62_CODES = Uint8Array.from(BASE62_ALPHABET, (char) => char.charCodeAt(0))

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
