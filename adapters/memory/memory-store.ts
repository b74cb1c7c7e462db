import {
  type ClientScope,
  ConflictError,
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

const DAY_MS = 24 * 60 * 60 * 1000

export interface MemoryStoreOptions {
  /** Most keys kept; inserting past it (after pruning) throws `StoreCapacityError`. Default 100,000. */
  maxKeys?: number
  /**
   * Most sessions kept. At the limit, expired sessions are swept first, then the session
   * touched least recently is evicted (its holder gets `session_expired`). Default 1,000,000.
   */
  maxSessions?: number
  /** Time source for sweeping, epoch ms. Default `Date.now`. Give it the gate's clock. */
  clock?: () => number
  /** How often expired records are swept, in real time. Default 60 s; 0 turns the timer off. */
  sweepIntervalMs?: number
  /**
   * How long an expired or rolled key is kept so that it answers `api_key_expired` rather
   * than `api_key_invalid`. Default 30 days.
   */
  expiredKeyRetentionMs?: number
}

function positive(
  value: number | undefined,
  fallback: number,
  name: string,
  allowZero = false,
): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(
      `MemoryStore: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`,
    )
  }
  return value
}

const clientKey = (scope: ClientScope) =>
  `${scope.projectId}\u0000${scope.mode}\u0000${scope.clientId}`

function freezeKey(key: StoredKey): StoredKey {
  return Object.freeze({ ...key, allowedIps: Object.freeze([...key.allowedIps]) })
}

/**
 * The embedded store: everything in this process, nothing shared. Bounded and swept, so it is
 * fit for development, tests and single-process deployments; records are kept as frozen
 * snapshots, so what it returns can never change under the caller. Every operation completes
 * synchronously inside one call, which makes each of them atomic.
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
  /** Insertion order is kept as "least recently touched first" for eviction. */
  readonly #sessions = new Map<string, StoredSession>()
  readonly #sessionIdsByClient = new Map<string, Set<string>>()
  readonly #maxKeys: number
  readonly #maxSessions: number
  readonly #clock: () => number
  readonly #retentionMs: number
  readonly #listeners = new Set<(change: StoreChange) => void>()
  #timer: NodeJS.Timeout | null = null

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = positive(options.maxKeys, 100_000, 'maxKeys')
    this.#maxSessions = positive(options.maxSessions, 1_000_000, 'maxSessions')
    this.#clock = options.clock ?? Date.now
    this.#retentionMs = positive(
      options.expiredKeyRetentionMs,
      30 * DAY_MS,
      'expiredKeyRetentionMs',
      true,
    )
    const sweepIntervalMs = positive(options.sweepIntervalMs, 60_000, 'sweepIntervalMs', true)
    if (sweepIntervalMs > 0) {
      this.#timer = setInterval(() => void this.sweep(), sweepIntervalMs)
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
    this.#putKey(freezeKey(key))
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

  async setKeyAllowedIps(id: string, allowedIps: readonly string[]): Promise<StoredKey | null> {
    const key = this.#keys.get(id)
    if (key === undefined) return null
    const updated = freezeKey({ ...key, allowedIps })
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
    const previous = freezeKey({
      ...old,
      rolledToId: replacement.id,
      expiresAt:
        old.expiresAt === null ? roll.oldExpiresAt : Math.min(old.expiresAt, roll.oldExpiresAt),
    })
    this.#keys.set(old.id, previous)
    this.#putKey(freezeKey(replacement))
    this.#announce({ type: 'key', keyId: old.id, hash: old.hash })
    return { outcome: 'rolled', previous }
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
        this.#keys.set(id, freezeKey({ ...key, lastUsedAt }))
      }
    }
  }

  async insertSession(session: StoredSession): Promise<void> {
    if (this.#sessions.has(session.id)) {
      throw new ConflictError('conflict', 'A session with this id already exists')
    }
    if (this.#sessions.size >= this.#maxSessions) this.#makeRoomForSession()
    this.#sessions.set(session.id, Object.freeze({ ...session }))
    const client = clientKey(session)
    let ids = this.#sessionIdsByClient.get(client)
    if (ids === undefined) {
      ids = new Set()
      this.#sessionIdsByClient.set(client, ids)
    }
    ids.add(session.id)
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
    // Re-inserting moves it to the end: the map stays ordered by last touch.
    this.#sessions.delete(id)
    this.#sessions.set(id, touched)
    return touched
  }

  async revokeSession(id: string, now: number): Promise<StoredSession | null> {
    const session = this.#sessions.get(id)
    if (session === undefined) return null
    if (session.revokedAt !== null) return session
    const revoked = Object.freeze({ ...session, revokedAt: now })
    this.#sessions.set(id, revoked)
    this.#announce({ type: 'session', sessionId: id })
    return revoked
  }

  async revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    let count = 0
    for (const id of this.#sessionIdsByClient.get(clientKey(scope)) ?? []) {
      const session = this.#sessions.get(id)
      if (session !== undefined && session.revokedAt === null) {
        this.#sessions.set(id, Object.freeze({ ...session, revokedAt: now }))
        count++
      }
    }
    if (count > 0) this.#announce({ type: 'client', ...scope })
    return count
  }

  async listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    const ids = this.#sessionIdsByClient.get(clientKey(scope)) ?? []
    return [...ids].map((id) => this.#sessions.get(id) as StoredSession)
  }

  async prune(cutoff: PruneCutoff): Promise<number> {
    let removed = 0
    for (const session of this.#sessions.values()) {
      if (session.expiresAt <= cutoff.sessionsExpiredBefore) {
        this.#dropSession(session)
        removed++
      }
    }
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
    this.#listeners.add(listener)
    return async () => {
      this.#listeners.delete(listener)
    }
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
    for (const listener of this.#listeners) {
      try {
        listener(change)
      } catch {
        // A listener's failure must not undo or fail the write that was already made.
      }
    }
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

  #dropSession(session: StoredSession): void {
    this.#sessions.delete(session.id)
    const client = clientKey(session)
    const ids = this.#sessionIdsByClient.get(client)
    ids?.delete(session.id)
    if (ids?.size === 0) this.#sessionIdsByClient.delete(client)
  }

  /**
   * At capacity: evict the least recently touched session, and up to 63 more behind it that
   * have already expired, so a full store does bounded work per insert.
   */
  #makeRoomForSession(): void {
    const now = this.#clock()
    let dropped = 0
    for (const session of this.#sessions.values()) {
      if (dropped > 0 && session.expiresAt > now) break
      this.#dropSession(session)
      dropped++
      if (dropped >= 64) break
    }
  }
}
