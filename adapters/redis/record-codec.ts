import {
  INHERITED_KEY_FIELDS,
  type KeyChanges,
  type KeyType,
  type Mode,
  type StoredKey,
  type StoredSession,
  StoreUnavailableError,
} from '../../src/index.js'
import {
  jsonOrNull,
  parseClientRestrictions,
  parseMetadata,
  parsePermissions,
} from '../stored-json.js'

/**
 * Records are Redis hashes, one field per property, so that scripts can read and change single
 * fields (`expiresAt`, `revokedAt`, `lastUsedAt`) without decoding JSON. Numbers are decimal
 * strings; a null property is an absent field; `allowedIps` is a JSON array; `permissions`,
 * `metadata` and `clientRestrictions` are JSON objects. Records written before a field existed
 * lack it and read as null.
 */

/** Field/value pairs for `HSET`, leaving out the null properties. */
function toFields(record: Readonly<Record<string, unknown>>): string[] {
  const fields: string[] = []
  for (const [name, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue
    fields.push(name, typeof value === 'string' ? value : JSON.stringify(value))
  }
  return fields
}

export function keyToFields(key: StoredKey): string[] {
  return toFields({
    id: key.id,
    projectId: key.projectId,
    type: key.type,
    mode: key.mode,
    name: key.name,
    hash: key.hash,
    prefix: key.prefix,
    last4: key.last4,
    allowedIps: [...key.allowedIps],
    permissions: jsonOrNull(key.permissions),
    metadata: jsonOrNull(key.metadata),
    clientRestrictions: jsonOrNull(key.clientRestrictions),
    clientId: key.clientId,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt: key.lastUsedAt,
    rolledToId: key.rolledToId,
    rolledFromId: key.rolledFromId,
    sealedSecret: key.sealedSecret,
  })
}

/** What `UPDATE_KEY` is given: the fields to set (name/value pairs), and those to delete (null). */
export function keyChangesToFields(changes: KeyChanges): { set: string[]; remove: string[] } {
  const present: Record<string, unknown> = {}
  const remove: string[] = []
  for (const field of INHERITED_KEY_FIELDS) {
    const value = changes[field]
    if (value === undefined) continue
    if (value === null) remove.push(field)
    else present[field] = field === 'allowedIps' ? [...(value as readonly string[])] : value
  }
  return { set: toFields(present), remove }
}

export function sessionToFields(session: StoredSession): string[] {
  return toFields({
    id: session.id,
    projectId: session.projectId,
    mode: session.mode,
    clientId: session.clientId,
    createdAt: session.createdAt,
    idleTimeoutMs: session.idleTimeoutMs,
    expiresAt: session.expiresAt,
    maxExpiresAt: session.maxExpiresAt,
    revokedAt: session.revokedAt,
  })
}

/** Reads a reply as text: strings as they are, Buffers (a client's type mapping) as UTF-8. */
export function replyText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  return undefined
}

/** Decodes and checks one hash; every problem names the record and the field. */
class FieldReader {
  readonly #fields = new Map<string, string>()
  readonly #what: string

  constructor(reply: readonly unknown[], what: string) {
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const name = replyText(reply[i])
      const value = replyText(reply[i + 1])
      if (name !== undefined && value !== undefined) this.#fields.set(name, value)
    }
    this.#what = `${what} ${this.#fields.get('id') ?? '(no id)'}`
  }

  #malformed(field: string): never {
    throw new StoreUnavailableError(
      `RedisStore: the stored ${this.#what} has a missing or malformed ${field} field`,
    )
  }

  text(field: string): string {
    return this.#fields.get(field) ?? this.#malformed(field)
  }

  optionalText(field: string): string | null {
    return this.#fields.get(field) ?? null
  }

  number(field: string): number {
    const value = Number(this.#fields.get(field) ?? Number.NaN)
    return Number.isFinite(value) ? value : this.#malformed(field)
  }

  optionalNumber(field: string): number | null {
    return this.#fields.has(field) ? this.number(field) : null
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.text(field)
    return (allowed as readonly string[]).includes(value) ? (value as T) : this.#malformed(field)
  }

  stringList(field: string): string[] {
    try {
      const value: unknown = JSON.parse(this.text(field))
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value
    } catch {
      // Reported below with the field's name.
    }
    return this.#malformed(field)
  }

  /** A JSON field read by `parse` (undefined = malformed); an absent field is null. */
  optionalJson<T>(field: string, parse: (text: string) => T | undefined): T | null {
    const text = this.#fields.get(field)
    if (text === undefined) return null
    return parse(text) ?? this.#malformed(field)
  }
}

const MODES: readonly Mode[] = ['test', 'live']
const KEY_TYPES: readonly KeyType[] = ['secret', 'publishable', 'client', 'restricted']

/** A key from its `HGETALL` reply; null for an empty reply (no such key). */
export function fieldsToKey(reply: unknown): StoredKey | null {
  if (!Array.isArray(reply) || reply.length === 0) return null
  const fields = new FieldReader(reply, 'key')
  return {
    id: fields.text('id'),
    projectId: fields.text('projectId'),
    type: fields.oneOf('type', KEY_TYPES),
    mode: fields.oneOf('mode', MODES),
    name: fields.text('name'),
    hash: fields.text('hash'),
    prefix: fields.text('prefix'),
    last4: fields.text('last4'),
    allowedIps: fields.stringList('allowedIps'),
    permissions: fields.optionalJson('permissions', parsePermissions),
    metadata: fields.optionalJson('metadata', parseMetadata),
    clientRestrictions: fields.optionalJson('clientRestrictions', parseClientRestrictions),
    clientId: fields.optionalText('clientId'),
    createdAt: fields.number('createdAt'),
    expiresAt: fields.optionalNumber('expiresAt'),
    lastUsedAt: fields.optionalNumber('lastUsedAt'),
    rolledToId: fields.optionalText('rolledToId'),
    rolledFromId: fields.optionalText('rolledFromId'),
    sealedSecret: fields.optionalText('sealedSecret'),
  }
}

/** A session from its `HGETALL` reply; null for an empty reply (no such session). */
export function fieldsToSession(reply: unknown): StoredSession | null {
  if (!Array.isArray(reply) || reply.length === 0) return null
  const fields = new FieldReader(reply, 'session')
  return {
    id: fields.text('id'),
    projectId: fields.text('projectId'),
    mode: fields.oneOf('mode', MODES),
    clientId: fields.text('clientId'),
    createdAt: fields.number('createdAt'),
    idleTimeoutMs: fields.number('idleTimeoutMs'),
    expiresAt: fields.number('expiresAt'),
    maxExpiresAt: fields.number('maxExpiresAt'),
    revokedAt: fields.optionalNumber('revokedAt'),
  }
}
