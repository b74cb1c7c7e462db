import { randomBytes } from 'node:crypto'
import type { StoredKey, StoredSession } from '../core/store.js'

const HOUR_MS = 60 * 60 * 1000

/** A random hash in the stored form (43 base64url characters), guaranteed to contain letters. */
export function randomHash(): string {
  for (;;) {
    const hash = randomBytes(32).toString('base64url')
    if (/[a-z]/.test(hash) && /[A-Z]/.test(hash)) return hash
  }
}

export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`
}

/** A project id no other test (or earlier run against a shared server) has used. */
export function randomProjectId(): string {
  return randomId('proj')
}

export function makeKey(now: number, fields: Partial<StoredKey> = {}): StoredKey {
  return {
    id: randomId('key'),
    projectId: randomProjectId(),
    type: 'secret',
    mode: 'test',
    name: 'Secret key',
    hash: randomHash(),
    prefix: 'sk_test',
    last4: 'aB3x',
    allowedIps: [],
    permissions: null,
    metadata: null,
    clientRestrictions: null,
    clientId: null,
    createdAt: now,
    expiresAt: null,
    lastUsedAt: null,
    rolledToId: null,
    rolledFromId: null,
    sealedSecret: null,
    ...fields,
  }
}

export function makeSession(now: number, fields: Partial<StoredSession> = {}): StoredSession {
  const idleTimeoutMs = fields.idleTimeoutMs ?? 24 * HOUR_MS
  const maxExpiresAt = fields.maxExpiresAt ?? now + 7 * 24 * HOUR_MS
  return {
    id: randomId('cs'),
    projectId: randomProjectId(),
    mode: 'test',
    clientId: 'user_1',
    createdAt: now,
    idleTimeoutMs,
    expiresAt: Math.min(now + idleTimeoutMs, maxExpiresAt),
    maxExpiresAt,
    revokedAt: null,
    ...fields,
  }
}
