import { InvalidRequestError } from './errors.js'

/** What a restricted key may do with one resource. Write implies read; none is no access. */
export type PermissionLevel = 'none' | 'read' | 'write'

/**
 * A restricted key's grants: resource → `read` or `write`. A resource it does not name is
 * `none`. Frozen wherever portcullis hands it out.
 */
export type Permissions = Readonly<Record<string, 'read' | 'write'>>

/** What `keys.create` and `keys.update` accept: levels per resource, `none` included. */
export type PermissionsInput = Readonly<Record<string, PermissionLevel>>

/**
 * The built-in resource: `client_sessions: 'write'` lets a restricted key create, refresh and
 * revoke Client Session Tokens (`read` lets it list them).
 */
export const CLIENT_SESSIONS = 'client_sessions'

const RESOURCE_NAME = /^[a-z][a-z0-9_]{0,63}$/
const LEVELS: readonly PermissionLevel[] = ['none', 'read', 'write']

/** One permission a route requires, parsed from `'charges:write'`. */
export interface RequiredPermission {
  readonly resource: string
  readonly level: 'read' | 'write'
  /** As written: `charges:write`. */
  readonly text: string
}

/**
 * The platform's resources (`createPortcullis({ resources })`) plus `client_sessions`.
 * Throws a `TypeError` for a bad catalog: configuration is refused at start-up.
 */
export function createPermissionCatalog(resources: unknown): ReadonlySet<string> {
  if (resources === undefined) return new Set([CLIENT_SESSIONS])
  if (!Array.isArray(resources)) {
    throw new TypeError('options.resources must be an array of resource names, e.g. ["charges"]')
  }
  const catalog = new Set<string>([CLIENT_SESSIONS])
  for (const resource of resources) {
    if (typeof resource !== 'string' || !RESOURCE_NAME.test(resource)) {
      throw new TypeError(
        `options.resources: ${JSON.stringify(resource)} is not a resource name (1-64 lowercase letters, digits and "_", starting with a letter)`,
      )
    }
    if (resource === CLIENT_SESSIONS) {
      throw new TypeError('options.resources: client_sessions is built in; leave it out')
    }
    if (catalog.has(resource)) {
      throw new TypeError(`options.resources: ${resource} is listed twice`)
    }
    catalog.add(resource)
  }
  return catalog
}

/**
 * A restricted key's permissions as given to `keys.create` or `keys.update`: every resource in
 * the catalog, every level `none`, `read` or `write`. Returns them frozen, without the `none`
 * entries. Refused with `invalid_request`, `param` naming the entry, before anything is written.
 */
export function checkPermissions(
  value: unknown,
  catalog: ReadonlySet<string>,
  param = 'permissions',
): Permissions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRequestError(
      `${param} must be an object of resource → "none" | "read" | "write"`,
      param,
    )
  }
  const granted: Record<string, 'read' | 'write'> = {}
  for (const [resource, level] of Object.entries(value)) {
    if (!catalog.has(resource)) {
      throw new InvalidRequestError(
        `${param}.${resource}: no such resource; known: ${[...catalog].join(', ')}`,
        `${param}.${resource}`,
      )
    }
    if (!LEVELS.includes(level as PermissionLevel)) {
      throw new InvalidRequestError(
        `${param}.${resource} must be "none", "read" or "write"`,
        `${param}.${resource}`,
      )
    }
    if (level !== 'none') granted[resource] = level as 'read' | 'write'
  }
  return Object.freeze(granted)
}

/**
 * The permissions a route requires (`'charges:write'`, or a list: all required). Throws a
 * `TypeError` naming `where` for a malformed one or an unknown resource: a route cannot name a
 * permission the catalog does not have (fail closed, at configuration).
 */
export function parseRequiredPermissions(
  value: unknown,
  catalog: ReadonlySet<string>,
  where: string,
): readonly RequiredPermission[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      `${where}: permission must be "resource:read" or "resource:write", or a non-empty list of them`,
    )
  }
  return Object.freeze(
    list.map((text: unknown) => {
      const match = typeof text === 'string' ? /^([a-z][a-z0-9_]*):(read|write)$/.exec(text) : null
      if (match === null) {
        throw new TypeError(
          `${where}: permission ${JSON.stringify(text)} must look like "charges:read" or "charges:write"`,
        )
      }
      const resource = match[1] as string
      if (!catalog.has(resource)) {
        throw new TypeError(
          `${where}: permission ${text} names no resource of the gate's catalog (${[...catalog].join(', ')}); add it to createPortcullis({ resources })`,
        )
      }
      return Object.freeze({ resource, level: match[2] as 'read' | 'write', text: text as string })
    }),
  )
}

/** Whether `permissions` grant `required`: write implies read. */
export function grants(permissions: Permissions, required: RequiredPermission): boolean {
  const granted = permissions[required.resource]
  return granted === 'write' || (granted === 'read' && required.level === 'read')
}
