import {
  ChangeListeners,
  type ClientScope,
  ConflictError,
  INHERITED_KEY_FIELDS,
  type KeyChanges,
  type KeyRoll,
  type KeyRollResult,
  type KeyUsage,
  type PortcullisStore,
  type PruneCutoff,
  StoreCapacityError,
  type StoreChange,
  type StoredKey,
  type StoredSession,
  type Unwatch,
} from '../../src/index.js'
import { frozenJsonCopy } from '../stored-json.js'
import { type MemoryStoreOptions, resolveMemoryStoreOptions } from './memory-store-options.js'
import { SessionIndex } from './session-index.js'
import { TextPool } from './text-pool.js'

export type { MemoryStoreOptions } from './memory-store-options.js'

/**
 * The store's own frozen copy of `key`. Its project id, prefix and allowlist entries are the
 * copies `pool` already holds when another record has the same text.
 */
function freezeKey(key: StoredKey, pool: TextPool): StoredKey {
  return recordOf(key, key.lastUsedAt, {
    projectId: pool.share(key.projectId),
    prefix: pool.share(key.prefix),
    allowedIps: Object.freeze(key.allowedIps.map(pool.share)),
    permissions: frozenJsonCopy(key.permissions),
    metadata: frozenJsonCopy(key.metadata),
    clientRestrictions: frozenJsonCopy(key.clientRestrictions),
  })
}

/**
 * A stored record with a newer `lastUsedAt`. Its nested parts are the store's own frozen
 * copies, shared rather than copied again: a usage flush replaces every record used since the
 * last one, and a cache comparing the new read with the old finds the parts identical.
 */
function withLastUsedAt(key: StoredKey, lastUsedAt: number): StoredKey {
  return recordOf(key, lastUsedAt, key)
}

/** The parts of a record that are the store's own copies (frozen, or pooled texts). */
type OwnParts = Pick<
  StoredKey,
  'projectId' | 'prefix' | 'allowedIps' | 'permissions' | 'metadata' | 'clientRestrictions'
>

function recordOf(key: StoredKey, lastUsedAt: number | null, parts: OwnParts): StoredKey {
  // Every field named, in one order: a literal shares one hidden class across all records,
  // where `{ ...key }` gave each record its own (about 600 bytes per key, measured).
  return Object.freeze({
    id: key.id,
    projectId: parts.projectId,
    type: key.type,
    mode: key.mode,
    name: key.name,
    hash: key.hash,
    prefix: parts.prefix,
    last4: key.last4,
    allowedIps: parts.allowedIps,
    permissions: parts.permissions,
    metadata: parts.metadata,
    clientRestrictions: parts.clientRestrictions,
    clientId: key.clientId,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt,
    rolledToId: key.rolledToId,
    rolledFromId: key.rolledFromId,
    sealedSecret: key.sealedSecret,
  })
}

/** The fields of `changes` that are present, so an absent one never overwrites a value. */
function presentChanges(changes: KeyChanges): Partial<StoredKey> {
  const present: Record<string, unknown> = {}
  for (const field of INHERITED_KEY_FIELDS) {
    if (changes[field] !== undefined) present[field] = changes[field]
  }
  return present
}

/** The inherited fields of `key`, for a roll's replacement (INHERITED_KEY_FIELDS). */
function inheritedFrom(key: StoredKey): Partial<StoredKey> {
  return Object.fromEntries(INHERITED_KEY_FIELDS.map((field) => [field, key[field]]))
}

/**
 * The embedded store: everything in this process, nothing shared. Bounded and swept, so it is
 * fit for development, tests and single-process deployments; records are kept as frozen
 * snapshots, so what it returns can never change under the caller. Every operation completes
 * synchronously inside one call, which makes each of them atomic.
 *
 * At `maxSessions`, eviction stays within the inserting session's project and mode: one tenant
 * creating sessions in a loop pushes out only its own least recently touched sessions, never
 * another tenant's live ones. A project and mode with no session to give up is refused with
 * `StoreCapacityError` until other sessions expire.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ maxSessions: 100_000 })
 * const gate = createPortcullis({ store, sessionSecret })
 * ```
 */
export class MemoryStore implements PortcullisStore {
  readonly #keys = new Map<string, StoredKey>()
  readonly #keyIdByHash = new Map<string, string>()
  readonly #keyIdsByProject = new Map<string, Set<string>>()
  readonly #sessions: SessionIndex
  readonly #maxKeys: number
  readonly #clock: () => number
  readonly #retentionMs: number
  readonly #listeners = new ChangeListeners()
  readonly #texts = new TextPool()
  #timer: NodeJS.Timeout | null = null

  constructor(options: MemoryStoreOptions = {}) {
    const resolved = resolveMemoryStoreOptions(options)
    this.#maxKeys = resolved.maxKeys
    this.#sessions = new SessionIndex(resolved.maxSessions, resolved.clock)
    this.#clock = resolved.clock
    this.#retentionMs = resolved.expiredKeyRetentionMs
    if (resolved.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => void this.sweep(), resolved.sweepIntervalMs)
      this.#timer.unref()
    }
  }

  /** Every record held, as frozen snapshots (for inspection, export and tests). */
  entries(): { keys: StoredKey[]; sessions: StoredSession[] } {
    return { keys: [...this.#keys.values()], sessions: [...this.#sessions.values()] }
  }

  /** Numbers of records held, for monitoring. */
  get size(): { keys: number; sessions: number } {
    return { keys: this.#keys.size, sessions: this.#sessions.size }
  }

  async insertKey(key: StoredKey): Promise<void> {
    if (this.#keys.has(key.id) || this.#keyIdByHash.has(key.hash)) {
      throw new ConflictError('conflict', 'A key with this id or hash already exists')
    }
    if (this.#keys.size >= this.#maxKeys) {
      await this.sweep()
      if (this.#keys.size >= this.#maxKeys) {
        throw new StoreCapacityError(`MemoryStore holds its maximum of ${this.#maxKeys} keys`)
      }
    }
    this.#putKey(freezeKey(key, this.#texts))
  }

  async findKeyByHash(hash: string): Promise<StoredKey | null> {
    const id = this.#keyIdByHash.get(hash)
    return id === undefined ? null : (this.#keys.get(id) ?? null)
  }

  async getKey(id: string): Promise<StoredKey | null> {
    return this.#keys.get(id) ?? null
  }

  async listKeys(projectId: string): Promise<StoredKey[]> {
    const ids = this.#keyIdsByProject.get(projectId)
    if (ids === undefined) return []
    return [...ids].map((id) => this.#keys.get(id) as StoredKey)
  }

  async updateKey(id: string, changes: KeyChanges): Promise<StoredKey | null> {
    const key = this.#keys.get(id)
    if (key === undefined) return null
    const updated = freezeKey({ ...key, ...presentChanges(changes) }, this.#texts)
    this.#keys.set(id, updated)
    this.#announce({ type: 'key', keyId: id, hash: key.hash })
    return updated
  }

  async rollKey(roll: KeyRoll): Promise<KeyRollResult> {
    const old = this.#keys.get(roll.id)
    if (old === undefined) return { outcome: 'not_found' }
    if (old.rolledToId !== null) return { outcome: 'already_rolled' }
    const { replacement } = roll
    if (this.#keys.has(replacement.id) || this.#keyIdByHash.has(replacement.hash)) {
      throw new ConflictError('conflict', 'A key with this id or hash already exists')
    }
    const previous = freezeKey(
      {
        ...old,
        rolledToId: replacement.id,
        expiresAt:
          old.expiresAt === null ? roll.oldExpiresAt : Math.min(old.expiresAt, roll.oldExpiresAt),
      },
      this.#texts,
    )
    // Inherited fields come from the record as it stands now, not from the caller's copy.
    const stored = freezeKey({ ...replacement, ...inheritedFrom(old) }, this.#texts)
    this.#keys.set(old.id, previous)
    this.#putKey(stored)
    this.#announce({ type: 'key', keyId: old.id, hash: old.hash })
    return { outcome: 'rolled', previous, replacement: stored }
  }

  async deleteKey(id: string): Promise<boolean> {
    const key = this.#keys.get(id)
    if (key === undefined) return false
    this.#dropKey(key)
    this.#announce({ type: 'key', keyId: id, hash: key.hash })
    return true
  }

  async recordKeyUsage(usage: readonly KeyUsage[]): Promise<void> {
    for (const { id, lastUsedAt } of usage) {
      const key = this.#keys.get(id)
      if (key !== undefined && (key.lastUsedAt === null || lastUsedAt > key.lastUsedAt)) {
        this.#keys.set(id, withLastUsedAt(key, lastUsedAt))
      }
    }
  }

  async insertSession(session: StoredSession): Promise<void> {
    if (this.#sessions.has(session.id)) {
      throw new ConflictError('conflict', 'A session with this id already exists')
    }
    this.#sessions.insert(Object.freeze({ ...session }))
  }

  async getSession(id: string): Promise<StoredSession | null> {
    return this.#sessions.get(id) ?? null
  }

  async touchSession(id: string, now: number): Promise<StoredSession | null> {
    const session = this.#sessions.get(id)
    if (session === undefined) return null
    if (session.revokedAt !== null || session.expiresAt <= now) return session
    const slid = Math.min(now + session.idleTimeoutMs, session.maxExpiresAt)
    if (slid <= session.expiresAt) return session
    const touched = Object.freeze({ ...session, expiresAt: slid })
    this.#sessions.replaceTouched(touched)
    return touched
  }

  async revokeSession(id: string, now: number): Promise<StoredSession | null> {
    const session = this.#sessions.get(id)
    if (session === undefined) return null
    if (session.revokedAt !== null) return session
    const revoked = Object.freeze({ ...session, revokedAt: now })
    this.#sessions.replace(revoked)
    this.#announce({ type: 'session', sessionId: id })
    return revoked
  }

  async revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    let count = 0
    for (const session of this.#sessions.listClient(scope)) {
      if (session.revokedAt === null) {
        this.#sessions.replace(Object.freeze({ ...session, revokedAt: now }))
        count++
      }
    }
    if (count > 0) this.#announce({ type: 'client', ...scope })
    return count
  }

  async listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    return this.#sessions.listClient(scope)
  }

  async prune(cutoff: PruneCutoff): Promise<number> {
    let removed = this.#sessions.dropExpired(cutoff.sessionsExpiredBefore)
    for (const key of this.#keys.values()) {
      if (key.expiresAt !== null && key.expiresAt <= cutoff.keysExpiredBefore) {
        this.#dropKey(key)
        removed++
      }
    }
    return removed
  }

  /** Listens to changes made through this store (several gates may share one MemoryStore). */
  async watch(listener: (change: StoreChange) => void): Promise<Unwatch> {
    return this.#listeners.add(listener)
  }

  /** Removes expired sessions, and keys expired longer than the retention period. */
  sweep(): Promise<number> {
    const now = this.#clock()
    return this.prune({ sessionsExpiredBefore: now, keysExpiredBefore: now - this.#retentionMs })
  }

  /** Stops the sweep timer. The data stays until the store is garbage collected. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #announce(change: StoreChange): void {
    this.#listeners.deliver(change)
  }

  #putKey(key: StoredKey): void {
    this.#keys.set(key.id, key)
    this.#keyIdByHash.set(key.hash, key.id)
    let ids = this.#keyIdsByProject.get(key.projectId)
    if (ids === undefined) {
      ids = new Set()
      this.#keyIdsByProject.set(key.projectId, ids)
    }
    ids.add(key.id)
  }

  #dropKey(key: StoredKey): void {
    this.#keys.delete(key.id)
    this.#keyIdByHash.delete(key.hash)
    const ids = this.#keyIdsByProject.get(key.projectId)
    ids?.delete(key.id)
    if (ids?.size === 0) this.#keyIdsByProject.delete(key.projectId)
  }
}
