import { createHash } from 'node:crypto'
import {
  type CryptoKey,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  errors as joseErrors,
  jwtVerify,
  type KeyObject,
  SignJWT,
} from 'jose'
import { isMode, type Mode } from './types.js'

/** HMAC algorithms usable with a shared secret. */
export type SymmetricSessionAlgorithm = 'HS256' | 'HS384' | 'HS512'
/** Asymmetric algorithms usable with a key pair. */
export type AsymmetricSessionAlgorithm =
  | 'EdDSA'
  | 'Ed25519'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'

// Import types with resolution-mode: the CommonJS .d.ts must name types of the ESM-only jose
// without a plain import, which `module: node16` consumers reject (TS1479).
/** Key material jose accepts. */
export type SessionKeyMaterial =
  | import('jose', { with: { 'resolution-mode': 'import' }}).CryptoKey
  | import('jose', { with: { 'resolution-mode': 'import' }}).KeyObject
  | import('jose', { with: { 'resolution-mode': 'import' }}).JWK

/**
 * One key that signs or verifies Client Session Tokens:
 * - a string or bytes: an HS256 secret of at least 32 bytes;
 * - `{ secret, alg?, kid? }`: an HMAC secret with an explicit algorithm or key id;
 * - `{ alg, publicKey, privateKey?, kid }`: a key pair (the private key only where it signs).
 */
export type SessionKey =
  | string
  | Uint8Array
  | {
      readonly secret: string | Uint8Array
      readonly alg?: SymmetricSessionAlgorithm
      readonly kid?: string
    }
  | {
      readonly alg: AsymmetricSessionAlgorithm
      readonly publicKey: SessionKeyMaterial
      readonly privateKey?: SessionKeyMaterial
      readonly kid: string
    }

/** The claims a CST carries. */
export interface SessionClaims {
  /** Session id. */
  readonly sid: string
  /** Project id. */
  readonly pid: string
  readonly mode: Mode
  /** Client id. */
  readonly sub: string
}

export type SessionTokenCheck =
  | { readonly ok: true; readonly claims: SessionClaims }
  | { readonly ok: false; readonly reason: 'invalid' | 'expired' }

/** Signs and verifies CSTs with a fixed, ordered key set: the first key signs, all verify. */
export interface SessionTokenCodec {
  sign(claims: SessionClaims, issuedAtMs: number, expiresAtMs: number): Promise<string>
  verify(token: string, nowMs: number): Promise<SessionTokenCheck>
}

/** Header `typ`, so a CST can never be confused with another JWT signed by the same key. */
export const SESSION_TOKEN_TYPE = 'pcst+jwt'
/** Tokens longer than this are refused before any parsing. */
export const MAX_SESSION_TOKEN_LENGTH = 4096
export const MIN_SESSION_SECRET_BYTES = 32

/** How to make a good secret, for the errors that refuse a missing or short one. */
export const GENERATE_SECRET =
  "Generate one with: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\""
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

interface SigningKeyEntry {
  readonly kid: string
  readonly alg: string
  readonly verifyKey: () => Promise<CryptoKey | KeyObject | Uint8Array>
  readonly signKey: (() => Promise<CryptoKey | KeyObject | Uint8Array>) | null
}

/** True when the string has the shape of a compact JWS (three base64url segments). */
export function looksLikeJws(token: string): boolean {
  return token.length <= MAX_SESSION_TOKEN_LENGTH && JWS_SHAPE.test(token)
}

function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined
  return () => {
    promise ??= make()
    return promise
  }
}

function material(value: SessionKeyMaterial, alg: string): () => Promise<CryptoKey | KeyObject> {
  const isJwk = typeof value === 'object' && value !== null && 'kty' in value
  if (!isJwk) return () => Promise.resolve(value as CryptoKey | KeyObject)
  return lazy(async () => {
    const imported = await importJWK(value as JWK, alg)
    if (imported instanceof Uint8Array)
      throw new TypeError('a session key pair must not be a JWK of kty "oct"')
    return imported
  })
}

function toEntry(key: SessionKey, index: number): SigningKeyEntry {
  if (typeof key === 'string' || key instanceof Uint8Array || 'secret' in key) {
    const raw = typeof key === 'string' || key instanceof Uint8Array ? key : key.secret
    const bytes = typeof raw === 'string' ? new TextEncoder().encode(raw) : Uint8Array.from(raw)
    if (bytes.length < MIN_SESSION_SECRET_BYTES) {
      throw new TypeError(
        `sessionSecret${index === 0 ? '' : `[${index}]`} must be at least ${MIN_SESSION_SECRET_BYTES} bytes (got ${bytes.length}). ${GENERATE_SECRET}`,
      )
    }
    const alg = typeof key === 'object' && 'secret' in key ? (key.alg ?? 'HS256') : 'HS256'
    // A stable id derived from the secret, so instances sharing a secret agree on it without
    // configuration; 96 bits of a hash reveal nothing usable about a 256-bit secret.
    const derived = createHash('sha256')
      .update('portcullis cst kid\0')
      .update(bytes)
      .digest('base64url')
    const kid =
      (typeof key === 'object' && 'secret' in key ? key.kid : undefined) ?? derived.slice(0, 16)
    const load = () => Promise.resolve(bytes)
    return { kid, alg, verifyKey: load, signKey: load }
  }
  if (typeof key.kid !== 'string' || key.kid.length === 0) {
    throw new TypeError(`sessionSecret[${index}]: an asymmetric session key needs a kid`)
  }
  return {
    kid: key.kid,
    alg: key.alg,
    verifyKey: material(key.publicKey, key.alg),
    signKey: key.privateKey === undefined ? null : material(key.privateKey, key.alg),
  }
}

/** Builds the codec; throws a `TypeError` for a missing, short or duplicate key. */
export function createSessionTokenCodec(
  sessionSecret: SessionKey | readonly SessionKey[],
): SessionTokenCodec {
  const list = Array.isArray(sessionSecret) ? sessionSecret : [sessionSecret as SessionKey]
  if (list.length === 0) throw new TypeError('sessionSecret needs at least one key')
  const entries = list.map(toEntry)
  const byKid = new Map<string, SigningKeyEntry>()
  for (const entry of entries) {
    if (byKid.has(entry.kid))
      throw new TypeError(`sessionSecret has two keys with kid ${entry.kid}`)
    byKid.set(entry.kid, entry)
  }
  const signer = entries[0] as SigningKeyEntry
  const signKey = signer.signKey
  if (signKey === null)
    throw new TypeError('the first sessionSecret key signs, so it needs a private key')

  return {
    async sign(claims, issuedAtMs, expiresAtMs) {
      return new SignJWT({ sid: claims.sid, pid: claims.pid, mode: claims.mode })
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: SESSION_TOKEN_TYPE })
        .setSubject(claims.sub)
        .setIssuedAt(Math.floor(issuedAtMs / 1000))
        .setExpirationTime(Math.ceil(expiresAtMs / 1000))
        .sign(await signKey())
    },

    async verify(token, nowMs) {
      if (!looksLikeJws(token)) return { ok: false, reason: 'invalid' }
      let kid: unknown
      let alg: unknown
      try {
        const header = decodeProtectedHeader(token)
        kid = header.kid
        alg = header.alg
      } catch {
        return { ok: false, reason: 'invalid' }
      }
      const entry = typeof kid === 'string' ? byKid.get(kid) : undefined
      // The algorithm is pinned by the key, never taken from the token (no alg confusion).
      if (entry === undefined || alg !== entry.alg) return { ok: false, reason: 'invalid' }
      try {
        const { payload } = await jwtVerify(token, await entry.verifyKey(), {
          algorithms: [entry.alg],
          typ: SESSION_TOKEN_TYPE,
          currentDate: new Date(nowMs),
          requiredClaims: ['exp', 'iat', 'sub'],
        })
        const { sid, pid, mode, sub } = payload
        if (
          typeof sid !== 'string' ||
          typeof pid !== 'string' ||
          typeof sub !== 'string' ||
          !isMode(mode)
        ) {
          return { ok: false, reason: 'invalid' }
        }
        return { ok: true, claims: { sid, pid, mode, sub } }
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' }
        return { ok: false, reason: 'invalid' }
      }
    },
  }
}
