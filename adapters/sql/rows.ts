import type { KeyType, Mode, StoredKey, StoredSession } from '../../src/index.js'
import { parseClientRestrictions, parseMetadata, parsePermissions } from '../stored-json.js'

/**
 * Raw column values as the drivers return them: pg gives BIGINT as a string, mysql2 gives
 * VARBINARY as a Buffer, better-sqlite3 gives INTEGER as a number (or a bigint in safe-integer
 * mode). Everything is converted here, and nowhere else.
 */
export type SqlValue = string | number | bigint | Uint8Array | null | undefined
export type SqlRow = Record<string, SqlValue>

function corrupt(column: string, value: SqlValue): Error {
  return new TypeError(`SqlStore: unexpected value in column ${column}: ${String(value)}`)
}

export function text(row: SqlRow, column: string): string {
  const value = row[column]
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  throw corrupt(column, value)
}

export function textOrNull(row: SqlRow, column: string): string | null {
  return row[column] === null || row[column] === undefined ? null : text(row, column)
}

export function integer(row: SqlRow, column: string): number {
  const value = row[column]
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'bigint' || (typeof value === 'string' && /^-?\d+$/.test(value))
        ? Number(value)
        : Number.NaN
  if (!Number.isSafeInteger(number)) throw corrupt(column, value)
  return number
}

export function integerOrNull(row: SqlRow, column: string): number | null {
  return row[column] === null || row[column] === undefined ? null : integer(row, column)
}

function mode(row: SqlRow): Mode {
  const value = text(row, 'mode')
  if (value !== 'test' && value !== 'live') throw corrupt('mode', value)
  return value
}

const KEY_TYPES: readonly string[] = ['secret', 'publishable', 'client', 'restricted']

function keyType(row: SqlRow): KeyType {
  const value = text(row, 'type')
  if (!KEY_TYPES.includes(value)) throw corrupt('type', value)
  return value as KeyType
}

function allowedIps(row: SqlRow): string[] {
  const raw = text(row, 'allowed_ips')
  const parsed: unknown = JSON.parse(raw)
  if (!Array.isArray(parsed) || !parsed.every((entry) => typeof entry === 'string')) {
    throw corrupt('allowed_ips', raw)
  }
  return parsed
}

/**
 * A nullable JSON column (`permissions`, `metadata`, `client_restrictions`): NULL is null, and
 * so is a column a row read before the migration that added it does not have; anything `parse`
 * refuses is corrupt (the store then answers `StoreUnavailableError`, never a default).
 */
function jsonColumn<T>(
  row: SqlRow,
  column: string,
  parse: (text: string) => T | undefined,
): T | null {
  const raw = textOrNull(row, column)
  if (raw === null) return null
  return parse(raw) ?? corruptValue(column, raw)
}

function corruptValue(column: string, value: SqlValue): never {
  throw corrupt(column, value)
}

export function keyFromRow(row: SqlRow): StoredKey {
  return {
    id: text(row, 'id'),
    projectId: text(row, 'project_id'),
    type: keyType(row),
    mode: mode(row),
    name: text(row, 'name'),
    hash: text(row, 'hash'),
    prefix: text(row, 'prefix'),
    last4: text(row, 'last4'),
    allowedIps: allowedIps(row),
    permissions: jsonColumn(row, 'permissions', parsePermissions),
    metadata: jsonColumn(row, 'metadata', parseMetadata),
    clientRestrictions: jsonColumn(row, 'client_restrictions', parseClientRestrictions),
    clientId: textOrNull(row, 'client_id'),
    createdAt: integer(row, 'created_at'),
    expiresAt: integerOrNull(row, 'expires_at'),
    lastUsedAt: integerOrNull(row, 'last_used_at'),
    rolledToId: textOrNull(row, 'rolled_to_id'),
    rolledFromId: textOrNull(row, 'rolled_from_id'),
    sealedSecret: textOrNull(row, 'sealed_secret'),
  }
}

export function sessionFromRow(row: SqlRow): StoredSession {
  return {
    id: text(row, 'id'),
    projectId: text(row, 'project_id'),
    mode: mode(row),
    clientId: text(row, 'client_id'),
    createdAt: integer(row, 'created_at'),
    idleTimeoutMs: integer(row, 'idle_timeout_ms'),
    expiresAt: integer(row, 'expires_at'),
    maxExpiresAt: integer(row, 'max_expires_at'),
    revokedAt: integerOrNull(row, 'revoked_at'),
  }
}

/** The contract's JSON form of an allowlist column. */
export function allowedIpsColumn(list: readonly string[]): string {
  return JSON.stringify(list)
}
