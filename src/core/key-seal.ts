import { CompactEncrypt, compactDecrypt } from 'jose'

/**
 * Reversible storage for test keys, so a dashboard can show them again (as Stripe's does).
 * The key is encrypted with A256GCM under a 32-byte `revealKey` ("dir"), and the record id
 * is bound into the protected header so a ciphertext cannot be moved to another record.
 */
export interface KeySealer {
  seal(keyId: string, plaintext: string): Promise<string>
  open(keyId: string, sealed: string): Promise<string>
}

export const REVEAL_KEY_BYTES = 32

export function createKeySealer(revealKey: string | Uint8Array): KeySealer {
  const bytes =
    typeof revealKey === 'string' ? Buffer.from(revealKey, 'base64url') : Uint8Array.from(revealKey)
  if (bytes.length !== REVEAL_KEY_BYTES) {
    throw new TypeError(
      `revealKey must be exactly ${REVEAL_KEY_BYTES} bytes (a Uint8Array, or base64url text of 32 bytes)`,
    )
  }
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  return {
    seal: (keyId, plaintext) =>
      new CompactEncrypt(encoder.encode(plaintext))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: keyId })
        .encrypt(bytes),
    async open(keyId, sealed) {
      const { plaintext, protectedHeader } = await compactDecrypt(sealed, bytes, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      })
      if (protectedHeader.kid !== keyId) throw new Error('sealed key belongs to another record')
      return decoder.decode(plaintext)
    },
  }
}
