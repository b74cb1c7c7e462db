import * as nodeCrypto from 'node:crypto'

/** Maps a presented secret to the only form that is ever stored or looked up. */
export type SecretHasher = (secret: string) => string

type OneShotHash = (algorithm: string, data: string, encoding: 'base64url') => string
// crypto.hash (Node >= 20.12) is about 3x faster than createHash for short inputs.
const oneShot = (nodeCrypto as { hash?: OneShotHash }).hash

/** The minimum pepper length: an HMAC key shorter than the hash output adds little. */
export const MIN_PEPPER_BYTES = 32

/**
 * SHA-256 of the secret in base64url, or HMAC-SHA-256 under `pepper` when one is given (then a
 * stolen database alone cannot confirm a guessed key).
 */
export function createSecretHasher(pepper?: string | Uint8Array): SecretHasher {
  if (pepper === undefined) {
    if (oneShot) return (secret) => oneShot('sha256', secret, 'base64url')
    return (secret) => nodeCrypto.createHash('sha256').update(secret).digest('base64url')
  }
  const keyBytes = typeof pepper === 'string' ? Buffer.from(pepper, 'utf8') : Buffer.from(pepper)
  if (keyBytes.length < MIN_PEPPER_BYTES) {
    throw new TypeError(`pepper must be at least ${MIN_PEPPER_BYTES} bytes`)
  }
  const hmacKey = nodeCrypto.createSecretKey(keyBytes)
  return (secret) => nodeCrypto.createHmac('sha256', hmacKey).update(secret).digest('base64url')
}

/** Constant-time equality of two strings (length is not secret: both are hashes). */
export function timingSafeEqualString(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8')
  const right = Buffer.from(b, 'utf8')
  if (left.length !== right.length) return false
  return nodeCrypto.timingSafeEqual(left, right)
}

/** A fast, unpeppered digest of a presented token, used only as an in-process cache key. */
export const digestToken: SecretHasher = createSecretHasher()
