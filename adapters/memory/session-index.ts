import {
  type ClientScope,
  type Mode,
  StoreCapacityError,
  type StoredSession,
} from '../../src/index.js'

/** Sessions looked at, from the least recently touched end, for expired ones per full insert. */
const EXPIRED_SCAN = 64

const clientKey = (scope: ClientScope) =>
  `${scope.projectId}\u0000${scope.mode}\u0000${scope.clientId}`

/**
 * The sessions of a `MemoryStore`, indexed by id, by client and by project and mode, and
 * bounded to `maxSessions` by eviction within the inserting session's own project and mode.
 * It holds what it is given: the store freezes each session before it comes here.
 */
export class SessionIndex {
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
  readonly #maxSessions: number
  readonly #clock: () => number

  constructor(maxSessions: number, clock: () => number) {
    this.#maxSessions = maxSessions
    this.#clock = clock
  }

  get size(): number {
    return this.#sessions.size
  }

  has(id: string): boolean {
    return this.#sessions.has(id)
  }

  get(id: string): StoredSession | undefined {
    return this.#sessions.get(id)
  }

  /** Every session held, least recently touched first. */
  values(): IterableIterator<StoredSession> {
    return this.#sessions.values()
  }

  /** Adds a new session, making room for it first when the index is full. */
  insert(session: StoredSession): void {
    if (this.#sessions.size >= this.#maxSessions) this.#makeRoomFor(session)
    this.#sessions.set(session.id, session)
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

  /** Replaces a session with a new version of it, keeping its place in the touch order. */
  replace(session: StoredSession): void {
    this.#sessions.set(session.id, session)
  }

  /** Replaces a session with a new version of it, now the most recently touched. */
  replaceTouched(session: StoredSession): void {
    // Re-inserting moves it to the end: the map and the set stay ordered by last touch.
    this.#sessions.delete(session.id)
    this.#sessions.set(session.id, session)
    const scoped = this.#sessionIdsByScope[session.mode].get(session.projectId)
    scoped?.delete(session.id)
    scoped?.add(session.id)
  }

  /** The sessions of one client, oldest first. */
  listClient(scope: ClientScope): StoredSession[] {
    const ids = this.#sessionIdsByClient.get(clientKey(scope)) ?? []
    return [...ids].map((id) => this.#sessions.get(id) as StoredSession)
  }

  /** Removes the sessions whose `expiresAt` is at or before `cutoff`; returns how many went. */
  dropExpired(cutoff: number): number {
    let removed = 0
    for (const session of this.#sessions.values()) {
      if (session.expiresAt <= cutoff) {
        this.#drop(session)
        removed++
      }
    }
    return removed
  }

  #drop(session: StoredSession): void {
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
  #makeRoomFor(incoming: StoredSession): void {
    const now = this.#clock()
    let looked = 0
    for (const session of this.#sessions.values()) {
      if (session.expiresAt <= now) this.#drop(session)
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
    this.#drop(this.#sessions.get(oldest.value) as StoredSession)
  }
}
