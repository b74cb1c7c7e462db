import type { AddressCheck } from './address-guard.js'
import type { AuthContext } from './auth-context.js'
import type {
  AuthenticateOptions,
  AuthenticateRequest,
  AuthResult,
  Decider,
} from './authenticate.js'
import type {
  CreatedKey,
  CreateKeyInput,
  ListKeysFilter,
  ProvisionedProject,
  RolledKey,
  RollKeyOptions,
  UpdateKeyInput,
} from './keys.js'
import type { KeyRecord, SessionRecord } from './records.js'
import type { ClientInput, CreatedSession } from './sessions.js'
import type { ClientScope } from './store.js'

/**
 * The gate's synchronous-when-cached decision for options checked once, for the bindings: they
 * call `next()` without a promise tick when the answer was cached. Internal; use `authenticate`.
 */
export const DECIDER: unique symbol = Symbol.for('portcullis.decider')

/**
 * Key management: `gate.keys`. Every method validates its input first (400
 * `invalid_request`, nothing written) and fails with `store_unavailable` when the store does
 * not answer. These act on whatever key id they are given: check the project yourself before
 * calling them for a customer (the operator routes do, through `authorize`).
 */
export interface KeyOperations {
  /**
   * Issues a key. The plaintext is in the result only, never stored: hand it over now. A
   * restricted key (`type: 'restricted'`) can do only what its `permissions` grant.
   *
   * @example
   * ```ts
   * const { key, record } = await gate.keys.create({
   *   projectId: 'proj_123', type: 'secret', mode: 'live', name: 'Billing worker',
   *   allowedIps: ['203.0.113.0/24'],
   * })
   * const contractor = await gate.keys.create({
   *   projectId: 'proj_123', type: 'restricted', mode: 'test',
   *   permissions: { charges: 'read', customers: 'write' }, metadata: { owner: 'acme-contractors' },
   * })
   * ```
   */
  create(input: CreateKeyInput): Promise<CreatedKey>
  /**
   * A project's keys, both modes unless filtered, in creation order. Never a secret.
   *
   * @example
   * ```ts
   * const live = await gate.keys.list('proj_123', { mode: 'live', type: 'secret' })
   * ```
   */
  list(projectId: string, filter?: ListKeysFilter): Promise<KeyRecord[]>
  /**
   * One key's record, or null when there is no such key.
   *
   * @example
   * ```ts
   * const record = await gate.keys.get('key_8Hq…')
   * if (record?.rolledToId) console.log('rolled to', record.rolledToId)
   * ```
   */
  get(keyId: string): Promise<KeyRecord | null>
  /**
   * Issues a replacement with the same name and allowlist and retires the key: at once, or
   * after `gracePeriodMs` (never past its own expiry). Atomic: of concurrent rolls one wins,
   * the others get 409 `key_already_rolled`.
   *
   * @example
   * ```ts
   * const { key, previous } = await gate.keys.roll('key_8Hq…', { gracePeriodMs: 24 * 3600_000 })
   * console.log(`the old key works until ${new Date(previous.expiresAt!)}`)
   * ```
   */
  roll(keyId: string, options?: RollKeyOptions): Promise<RolledKey>
  /**
   * Changes a key's name, IP allowlist (secret and restricted keys), permissions (restricted
   * keys) or metadata, in one atomic write: only the fields given change. Takes effect on every
   * instance within the store's bound, as a roll or a delete does.
   *
   * @example
   * ```ts
   * await gate.keys.update('key_8Hq…', {
   *   permissions: { charges: 'write', refunds: 'none' },
   *   metadata: { owner: 'ci-pipeline' },
   * })
   * ```
   */
  update(keyId: string, input: UpdateKeyInput): Promise<KeyRecord>
  /**
   * Deletes a key; it stops working at once. True if it existed.
   *
   * @example
   * ```ts
   * await gate.keys.delete('key_8Hq…')
   * ```
   */
  delete(keyId: string): Promise<boolean>
  /**
   * Replaces a secret or restricted key's IP allowlist (addresses and CIDR ranges, IPv4 and
   * IPv6); an empty list lifts the restriction; `update(keyId, { allowedIps })` in short. Takes effect on every instance within the store's bound.
   *
   * @example
   * ```ts
   * await gate.keys.setAllowedIps('key_8Hq…', ['203.0.113.0/24', '2001:db8::/32'])
   * ```
   */
  setAllowedIps(keyId: string, allowedIps: readonly string[]): Promise<KeyRecord>
  /**
   * Shows a test key again; needs the `revealKey` option. Live keys are never revealable (409
   * `key_not_revealable`).
   *
   * @example
   * ```ts
   * const key = await gate.keys.reveal('key_8Hq…') // 'sk_test_…'
   * ```
   */
  reveal(keyId: string): Promise<string>
}

/** `gate.projects`. */
export interface ProjectOperations {
  /**
   * Creates a project's four default keys (secret and publishable, test and live) and returns
   * their plaintexts, shown this once. 409 `project_exists` if the project has keys already.
   *
   * @example
   * ```ts
   * const { test, live } = await gate.projects.provision('proj_123')
   * sendToCustomer(test.secretKey.key, live.secretKey.key)
   * ```
   */
  provision(projectId: string): Promise<ProvisionedProject>
}

/**
 * Client Session Tokens: `gate.sessions`. Every method but the operator forms takes the `auth`
 * of a secret key that this gate authenticated (`req.auth`), and stays in its project and mode.
 */
export interface SessionOperations {
  /**
   * Issues a Client Session Token for an end user in the project and mode of `auth`.
   *
   * @example
   * ```ts
   * const { token, session } = await gate.sessions.create(getAuth(req), { clientId: 'user_42' })
   * res.status(201).json({ clientSessionToken: token, expiresAt: session.expiresAt })
   * ```
   */
  create(auth: AuthContext, input: ClientInput): Promise<CreatedSession>
  /**
   * Issues a new token for a client that has a session on record in this mode (404
   * `resource_missing` otherwise).
   *
   * @example
   * ```ts
   * const { token } = await gate.sessions.refresh(getAuth(req), { clientId: 'user_42' })
   * ```
   */
  refresh(auth: AuthContext, input: ClientInput): Promise<CreatedSession>
  /**
   * Revokes one session. With `{ auth }` (the form for anything acting for a customer) the
   * session must belong to that key's project and mode. Without it, this is the operator
   * form: it revokes any session of any project; never pass it an id a customer supplied.
   *
   * @example
   * ```ts
   * await gate.sessions.revoke('cs_4Tz…', { auth: getAuth(req) })
   * ```
   */
  revoke(sessionId: string, options?: { auth?: AuthContext }): Promise<SessionRecord>
  /**
   * Revokes every session of a client in the project and mode of `auth`; returns how many.
   * Development client keys issued for that client are keys: delete them separately.
   *
   * @example
   * ```ts
   * const revoked = await gate.sessions.revokeClient(getAuth(req), 'user_42')
   * ```
   */
  revokeClient(auth: AuthContext, clientId: string): Promise<number>
  /**
   * A client's sessions on record (revoked ones included) in the project and mode of `auth`.
   *
   * @example
   * ```ts
   * const sessions = await gate.sessions.list(getAuth(req), 'user_42')
   * ```
   */
  list(auth: AuthContext, clientId: string): Promise<SessionRecord[]>
  /**
   * The operator form of {@link SessionOperations.list}: one client's sessions in one project
   * and mode, without a secret key. For your own operators (an admin tool, the CLI) only.
   *
   * @example
   * ```ts
   * const sessions = await gate.sessions.listClient({ projectId: 'proj_123', mode: 'live', clientId: 'user_42' })
   * ```
   */
  listClient(scope: ClientScope): Promise<SessionRecord[]>
}

/** The limits a gate enforces, for documentation and request validation. */
export interface GateLimits {
  readonly idleTimeoutMs: number
  readonly maxLifetimeMs: number
  readonly maxGracePeriodMs: number
}

/**
 * The core instance {@link createPortcullis} returns: key and session management and the
 * decision for each request, over one store. Framework-free; `portcullis/express` and
 * `portcullis/koa` mount it.
 */
export interface Portcullis {
  /** The limits this gate enforces. */
  readonly limits: GateLimits
  /**
   * The resources a restricted key can be granted (`options.resources`, then the built-in
   * `client_sessions`), for permission pickers and for validating a route's `permission`.
   */
  readonly resources: readonly string[]
  /** The gate's time source (epoch ms): `options.clock`, or `Date.now()` (looked up at each call). */
  readonly clock: () => number
  readonly projects: ProjectOperations
  readonly keys: KeyOperations
  readonly sessions: SessionOperations
  /**
   * Decides one request: `{ ok: true, auth }`, or `{ ok: false, error }` with a stable code.
   * Never throws for anything the request contains; a store failure is `store_unavailable`
   * (fail closed).
   *
   * @example
   * ```ts
   * const result = await gate.authenticate(
   *   { headers: req.headers, remoteAddress: req.socket.remoteAddress },
   *   { credential: 'secret', mode: 'live' },
   * )
   * if (!result.ok) return reply(result.error.status, result.error.toJSON())
   * ```
   */
  authenticate(request: AuthenticateRequest, options: AuthenticateOptions): Promise<AuthResult>
  /**
   * Compiles a static allowlist once (throwing `InvalidRequestError` for a bad entry) into a
   * check with the same client-address rules as `authenticate`. The `ipAllowlist` middleware
   * uses it.
   *
   * @example
   * ```ts
   * const internal = gate.allowlist(['10.0.0.0/8'])
   * if (!internal({ headers: req.headers, remoteAddress: req.socket.remoteAddress }).ok) deny()
   * ```
   */
  allowlist(list: readonly string[]): (request: AuthenticateRequest) => AddressCheck
  /**
   * Writes pending `lastUsedAt` values now (they are otherwise batched).
   *
   * @example
   * ```ts
   * await gate.flush()
   * ```
   */
  flush(): Promise<void>
  /**
   * Stops background timers and the change subscription, and writes pending `lastUsedAt`
   * values. Does not close the store.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', async () => { await gate.close(); await store.close() })
   * ```
   */
  close(): Promise<void>
  /**
   * @internal The decision function for `options` (checked once), without a promise tick when
   * cached; for the bindings.
   */
  readonly [DECIDER]: (options: AuthenticateOptions) => Decider
}
