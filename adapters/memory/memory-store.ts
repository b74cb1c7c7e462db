import { optionalCount, optionalMilliseconds } from '../../src/core/option-checks.js'
import {
  ChangeListeners,
  type ClientScope,
  ConflictError,
  type KeyRoll,
  type KeyRollResult,
  type KeyUsage,
  type Mode,
  type PortcullisStore,
  type PruneCutoff,
  StoreCapacityError,
  type StoreChange,
  type StoredKey,
  type StoredSession,
  type Unwatch,
} from '../../src/index.js'

const DAY_MS = 24 * 60 * 60 * 1000
/** Sessions looked at, from the least recently touched end, for expired ones per full insert. */
const EXPIRED_SCAN = 64

export interface MemoryStoreOptions {
  /** Most keys kept; inserting past it (after pruning) throws `StoreCapacityError`. Default 100,000. */
  maxKeys?: number
  /**
   * Most sessions kept. At the limit, an insert first drops already-expired sessions (a bounded
   * number, from the least recently touched end); if the store is still full, it evicts the
   * least recently touched session of the inserting session's own project and mode (that
   * holder gets `session_expired`), never one of another project or mode. If that project and
   * mode holds no session to evict, the insert is refused with `StoreCapacityError`
   * (`store_full`) and nothing is written. Default 1,000,000.
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
  /** Insertion order is kept as "least recently touched first", to find expired ones cheaply. */
  readonly #sessions = new Map<string, StoredSession>()
  readonly #sessionIdsByClient = new Map<string, Set<string>>()
  /**
   * Per mode, per project: session ids least recently touched first, so eviction at the bound
   * finds the inserting tenant's own oldest session in O(1). Split by mode rather than keyed by
   * a joined string so that a touch allocates nothing.
   */
  readonly #sessionIdsByScope: Readonly<Record<Mode, Map<string, Set<string>>>> = {
    test: new Map(),
    live: new Map(),
  }
  readonly #maxKeys: number
  readonly #maxSessions: number
  readonly #clock: () => number
  readonly #retentionMs: number
  readonly #listeners = new ChangeListeners()
  #timer: NodeJS.Timeout | null = null

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = optionalCount(options.maxKeys, 100_000, 'MemoryStore: maxKeys')
    this.#maxSessions = optionalCount(options.maxSessions, 1_000_000, 'MemoryStore: maxSessions')
    this.#clock = options.clock ?? Date.now
    this.#retentionMs = optionalMilliseconds(
      options.expiredKeyRetentionMs,
      30 * DAY_MS,
      'MemoryStore: expiredKeyRetentionMs',
    )
    const sweepIntervalMs = optionalMilliseconds(
      options.sweepIntervalMs,
      60_000,
      'MemoryStore: sweepIntervalMs',
    )
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
    // Inherited fields come from the record as it stands now (INHERITED_KEY_FIELDS).
    const stored = freezeKey({ ...replacement, name: old.name, allowedIps: old.allowedIps })
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
        this.#keys.set(id, freezeKey({ ...key, lastUsedAt }))
      }
    }
  }

  async insertSession(session: StoredSession): Promise<void> {
    if (this.#sessions.has(session.id)) {
      throw new ConflictError('conflict', 'A session with this id already exists')
    }
    if (this.#sessions.size >= this.#maxSessions) this.#makeRoomForSession(session)
    this.#sessions.set(session.id, Object.freeze({ ...session }))
    const client = clientKey(session)
    let ids = this.#sessionIdsByClient.get(client)
    if (ids === undefined) {
      ids = new Set()
      this.#sessionIdsByClient.set(client, ids)
    }
    ids.add(session.id)
    const byProject = this.#sessionIdsByScope[session.mode]
    let scoped = byProject.get(session.projectId)
    if (scoped === undefined) {
      scoped = new Set()
      byProject.set(session.projectId, scoped)
    }
    scoped.add(session.id)
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
    // Re-inserting moves it to the end: the map and the set stay ordered by last touch.
    this.#sessions.delete(id)
    this.#sessions.set(id, touched)
    const scoped = this.#sessionIdsByScope[session.mode].get(session.projectId)
    scoped?.delete(id)
    scoped?.add(id)
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

  #dropSession(session: StoredSession): void {
    this.#sessions.delete(session.id)
    const client = clientKey(session)
    const ids = this.#sessionIdsByClient.get(client)
    ids?.delete(session.id)
    if (ids?.size === 0) this.#sessionIdsByClient.delete(client)
    const byProject = this.#sessionIdsByScope[session.mode]
    const scoped = byProject.get(session.projectId)
    scoped?.delete(session.id)
    if (scoped?.size === 0) byProject.delete(session.projectId)
  }

  /**
   * At capacity, with bounded work per insert: drop the already-expired sessions among the
   * least recently touched (whoever holds them, nothing changes for them), else evict the least
   * recently touched session of `incoming`'s own project and mode, so that no tenant can push
   * another's live sessions out; with none to evict, refuse.
   */
  #makeRoomForSession(incoming: StoredSession): void {
    const now = this.#clock()
    let looked = 0
    for (const session of this.#sessions.values()) {
      if (session.expiresAt <= now) this.#dropSession(session)
      if (++looked >= EXPIRED_SCAN) break
    }
    if (this.#sessions.size < this.#maxSessions) return
    const scoped = this.#sessionIdsByScope[incoming.mode].get(incoming.projectId)
    const oldest = scoped?.values().next()
    if (oldest === undefined || oldest.done === true) {
      throw new StoreCapacityError(
        `MemoryStore holds its maximum of ${this.#maxSessions} sessions; none of project ${incoming.projectId} in ${incoming.mode} mode can be evicted to make room`,
      )
    }
    this.#dropSession(this.#sessions.get(oldest.value) as StoredSession)
  }
}
