import type { ClientScope, StoredSession } from '../../src/index.js'
import type { KeyLayout } from './key-layout.js'
import { ANNOUNCE, INDEX_CLIENT_SESSION, READ_MEMBERS, REVOKE_SESSION } from './lua-scripts.js'
import { decodeMembers, decodeRevocation } from './script-replies.js'
import type { ScriptRunner } from './script-runner.js'
import { clientChangeMessage } from './store-change.js'

/**
 * Each client's index of session ids in Redis (a set under `layout.client(scope)`), and what
 * RedisStore does through it: a client's sessions live on slots of their own, so a client-wide
 * operation reads the index first and then goes to each session. An index may name sessions
 * that were never written or are gone: every reader checks each session against the scope.
 */
export class ClientSessionIndex {
  readonly #run: ScriptRunner
  readonly #layout: KeyLayout

  constructor(run: ScriptRunner, layout: KeyLayout) {
    this.#run = run
    this.#layout = layout
  }

  /** Adds the session's id to its client's index, which expires after its last session's cap. */
  async add(session: StoredSession, now: string, retention: string): Promise<void> {
    await this.#run(
      INDEX_CLIENT_SESSION,
      [this.#layout.client(session)],
      [session.id, String(session.maxExpiresAt), now, retention],
    )
  }

  /**
   * Reads the client's index, then revokes each session in its own atomic script (each on its
   * own slot), then announces the client change once, after the last revocation: one message
   * for the whole client, however many sessions it had. Announced also when some revocations
   * failed, for those that were made.
   */
  async revokeAll(scope: ClientScope, now: number): Promise<number> {
    const ids = await this.#ids(scope)
    const settled = await Promise.allSettled(
      ids.map((id) =>
        this.#run(
          REVOKE_SESSION,
          [this.#layout.session(id)],
          [String(now), '', '', scope.projectId, scope.mode, scope.clientId],
        ),
      ),
    )
    let revoked = 0
    let failure: { reason: unknown } | undefined
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') revoked += decodeRevocation(outcome.value).revoked
      else failure ??= outcome
    }
    if (revoked > 0) {
      await this.#run(
        ANNOUNCE,
        [this.#layout.client(scope)],
        [this.#layout.channel, clientChangeMessage(scope)],
      )
    }
    if (failure !== undefined) throw failure.reason
    return revoked
  }

  /** The client's sessions, read with `getSession`, oldest first. */
  async list(
    scope: ClientScope,
    getSession: (id: string) => Promise<StoredSession | null>,
  ): Promise<StoredSession[]> {
    const ids = await this.#ids(scope)
    const sessions = await Promise.all(ids.map((id) => getSession(id)))
    return sessions
      .filter(
        (session): session is StoredSession =>
          session !== null &&
          session.projectId === scope.projectId &&
          session.mode === scope.mode &&
          session.clientId === scope.clientId,
      )
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  async #ids(scope: ClientScope): Promise<string[]> {
    return decodeMembers(await this.#run(READ_MEMBERS, [this.#layout.client(scope)], []))
  }
}
