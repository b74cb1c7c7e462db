import type { ClientRestrictions, KeyMetadata, Permissions } from '../src/index.js'

/*
 * A key's `permissions`, `metadata` and `clientRestrictions` as the stores keep them: JSON text
 * in Redis hashes and SQL columns, frozen objects in memory. Every store hands them out frozen
 * at every level, so a record shared by the in-process cache can never be changed by one of its
 * readers.
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

/** JSON text of a `permissions`, `metadata` or `clientRestrictions` value; null stays null. */
export function jsonOrNull(
  value: Permissions | KeyMetadata | ClientRestrictions | null,
): string | null {
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

/** Whether `value` is an object with exactly the fields `fields`, in any order. */
function hasExactly(value: Record<string, unknown>, fields: readonly string[]): boolean {
  const own = Object.keys(value)
  return own.length === fields.length && fields.every((field) => Object.hasOwn(value, field))
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

function isAndroidApp(value: unknown): boolean {
  return (
    isPlainObject(value) &&
    hasExactly(value, ['packageName', 'sha256CertFingerprint']) &&
    typeof value.packageName === 'string' &&
    typeof value.sha256CertFingerprint === 'string'
  )
}

/**
 * Stored `clientRestrictions` JSON, frozen; undefined when it is not exactly one of the three
 * kinds with its list. Fails closed: a value this release cannot read in full (an unknown kind,
 * a missing or extra field, a list of the wrong things) must never read as "unrestricted", so
 * the store refuses the record instead.
 */
export function parseClientRestrictions(text: string): ClientRestrictions | undefined {
  const value = parseObject(text)
  if (value === undefined) return undefined
  switch (value.kind) {
    case 'origins':
      if (!hasExactly(value, ['kind', 'origins']) || !isStringList(value.origins)) return undefined
      break
    case 'ios':
      if (!hasExactly(value, ['kind', 'bundleIds']) || !isStringList(value.bundleIds)) {
        return undefined
      }
      break
    case 'android':
      if (
        !hasExactly(value, ['kind', 'apps']) ||
        !Array.isArray(value.apps) ||
        !value.apps.every(isAndroidApp)
      ) {
        return undefined
      }
      break
    default:
      return undefined
  }
  return frozenJsonCopy(value as ClientRestrictions)
}
