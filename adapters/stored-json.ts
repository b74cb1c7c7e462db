import type { KeyMetadata, Permissions } from '../src/index.js'

/*
 * A key's `permissions` and `metadata` as the stores keep them: JSON text in Redis hashes and
 * SQL columns, frozen objects in memory. Every store hands them out frozen at every level, so
 * a record shared by the in-process cache can never be changed by one of its readers.
 */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * A deep copy of JSON data, frozen at every level: the caller's object stays the caller's.
 * `Object.fromEntries` defines own properties, so a `__proto__` key stays a plain key.
 */
export function frozenJsonCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return Object.freeze(value.map(frozenJsonCopy)) as T
  return Object.freeze(
    Object.fromEntries(Object.entries(value).map(([field, item]) => [field, frozenJsonCopy(item)])),
  ) as T
}

/** JSON text of a `permissions` or `metadata` value; null stays null (no field, SQL NULL). */
export function jsonOrNull(value: Permissions | KeyMetadata | null): string | null {
  return value === null ? null : JSON.stringify(value)
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return isPlainObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** Stored `permissions` JSON, frozen; undefined when it is not resource → `read` | `write`. */
export function parsePermissions(text: string): Permissions | undefined {
  const value = parseObject(text)
  if (value === undefined) return undefined
  const levels = Object.values(value)
  if (!levels.every((level) => level === 'read' || level === 'write')) return undefined
  return frozenJsonCopy(value as Permissions)
}

/** Stored `metadata` JSON, frozen at every level; undefined when it is not a JSON object. */
export function parseMetadata(text: string): KeyMetadata | undefined {
  const value = parseObject(text)
  return value === undefined ? undefined : frozenJsonCopy(value as KeyMetadata)
}
