import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { AuthResult } from '../core/authenticate.js'
import { ERROR_TABLE, isPortcullisError, isStoreUnavailableError } from '../core/errors.js'
import { toHttpError } from '../core/http.js'
import { createKeyFormat } from '../core/key-format.js'
import type { RolledKey } from '../core/keys.js'
import { createPortcullis, type Portcullis } from '../core/portcullis.js'
import type { PortcullisStore, StoreChange, StoredKey, StoredSession } from '../core/store.js'
import { makeKey, makeSession, randomHash, randomProjectId } from './fixtures.js'
import { createManualClock, type ManualClock } from './manual-clock.js'

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS

type TestBody = () => Promise<void>

/** The test runner's registration functions: vitest, jest, mocha and node:test all fit. */
export interface ConformanceRunner {
  describe(name: string, body: () => void): unknown
  it: {
    (name: string, body: TestBody): unknown
    /** Registers a test reported as skipped (used for capabilities a store lacks). */
    skip(name: string, body: TestBody): unknown
  }
}

/** Handed to `createStore`: use `clock.now` wherever your store reads the time. */
export interface ConformanceContext {
  readonly clock: ManualClock
}

export interface StoreConformanceOptions<S extends PortcullisStore> extends ConformanceRunner {
  /** Shown in the suite's title. */
  readonly name: string
  /** A ready store. Called once per test; records are namespaced by random ids, so a shared server needs no cleanup. */
  createStore(context: ConformanceContext): S | Promise<S>
  /** Releases what `createStore` made (connections, timers). */
  destroyStore?(store: S): void | Promise<void>
  /**
   * A store whose backend is down or unreachable (a client aimed at a closed port, a stopped
   * server). Omit it for stores that cannot be down, such as an in-process store: the
   * outage tests are then reported as skipped.
   */
  createUnavailableStore?(): PortcullisStore | Promise<PortcullisStore>
  destroyUnavailableStore?(store: PortcullisStore): void | Promise<void>
  /**
   * Everything the store holds, as text (a dump of tables, keys and values), so the suite can
   * check that no plaintext key or token was stored. Omit it and that test is skipped.
   */
  dumpContents?(store: S): string | Promise<string>
  /** What the store supports beyond the required methods; the suite checks the claim. */
  readonly capabilities?: {
    /** The store implements `prune()`. Default false: the pruning tests are skipped. */
    readonly prune?: boolean
    /** The store implements `watch()`. Default false: the change-notification tests are skipped. */
    readonly watch?: boolean
  }
  /**
   * A second store instance on the same backend as `store` (another app instance), used to
   * check that changes reach other instances. Default: `store` itself.
   */
  createPeerStore?(store: S, context: ConformanceContext): S | Promise<S>
  /** How long a change may take to reach a watcher. Default 2000 ms. */
  readonly watchWithinMs?: number
  /** How long an unavailable store may take to fail. Default 5000 ms. */
  readonly unavailableWithinMs?: number
  /** Parallel touches in the convergence test. Default 100. */
  readonly concurrentTouches?: number
  /**
   * Parallel operations in each race of the concurrency tests (touches and authentications
   * racing each other, a revoke or a roll). Default 1000; lower it if your runner's test
   * timeout is short for your backend.
   */
  readonly raceOperations?: number
}

function assertConflict(error: unknown): true {
  assert.ok(isPortcullisError(error), `expected a ConflictError, got ${String(error)}`)
  assert.equal(error.code, 'conflict')
  return true
}

function flipCase(text: string): string {
  const index = text.search(/[a-zA-Z]/)
  const char = text[index] as string
  const flipped = char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase()
  return text.slice(0, index) + flipped + text.slice(index + 1)
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32BE(0) % (i + 1)
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

/** `count` distinct instants spread evenly over `[from, to]`, in random order. */
function spread(from: number, to: number, count: number): number[] {
  if (count <= 1) return [to].slice(0, count)
  assert.ok(to - from >= count - 1, 'spread() needs room for distinct instants')
  return shuffle(
    Array.from({ length: count }, (_, i) => from + Math.floor((i * (to - from)) / (count - 1))),
  )
}

/** A cache-less gate over the store under test, with a clock each call can set. */
interface RaceGate {
  readonly gate: Portcullis
  /** Runs `call` with the gate's clock reading `instant` (the gate reads it as a call starts). */
  at<T>(instant: number, call: () => T): T
  /** Every `touchSession` the gate made, in the order the answers arrived. */
  readonly touches: TouchAnswer[]
}

/** One touch in a race: the instant it passed and what the store answered. */
interface TouchAnswer {
  readonly now: number
  readonly answer: StoredSession | null
}

/**
 * Checks every answer of a race against the session as the race left it (`final`). Every
 * instant lies inside the session's live window, so a touch either took effect or met a
 * revocation:
 * - a live answer came from a touch that took effect before any revoke: it slid the expiry to
 *   at least `min(now + idle, cap)`, and the stored expiry can only have grown since;
 * - a revoked answer came after the revoke, which freezes the session: it shows exactly the
 *   final state (same `revokedAt`, same `expiresAt`).
 * Returns how many answers were live.
 */
function checkTouchAnswers(answers: readonly TouchAnswer[], final: StoredSession): number {
  let live = 0
  for (const { now, answer } of answers) {
    assert.ok(answer !== null, 'a touch answered null for an existing session')
    assert.ok(
      answer.expiresAt <= final.maxExpiresAt,
      `a touch at ${now} answered an expiry ${answer.expiresAt - final.maxExpiresAt} ms past the cap`,
    )
    if (answer.revokedAt === null) {
      live++
      const floor = Math.min(now + final.idleTimeoutMs, final.maxExpiresAt)
      assert.ok(
        answer.expiresAt >= floor,
        `a touch at ${now} answered an expiry ${floor - answer.expiresAt} ms short of now + idle`,
      )
      assert.ok(
        answer.expiresAt <= final.expiresAt,
        `a touch answered an expiry ${answer.expiresAt - final.expiresAt} ms later than the one stored after the race (a lost update)`,
      )
    } else {
      assert.equal(answer.revokedAt, final.revokedAt, 'revokedAt changed after the revoke')
      assert.equal(answer.expiresAt, final.expiresAt, 'a touch slid a revoked session')
    }
  }
  return live
}

/**
 * Registers the storage conformance suite: every rule of the `PortcullisStore` contract,
 * checked on your store directly and through a real `createPortcullis` instance. Runner-
 * agnostic (pass your runner's `describe` and `it`), driven by a manual clock (no sleeping).
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeStoreConformance } from 'portcullis/testing'
 *
 * describeStoreConformance({
 *   name: 'MyStore',
 *   describe,
 *   it,
 *   createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 * })
 * ```
 */
export function describeStoreConformance<S extends PortcullisStore>(
  options: StoreConformanceOptions<S>,
): void {
  const { describe, it } = options
  const parallel = options.concurrentTouches ?? 100
  const races = options.raceOperations ?? 1000
  const canPrune = options.capabilities?.prune === true
  const canWatch = options.capabilities?.watch === true
  const itIf = (enabled: boolean, name: string, body: TestBody) =>
    enabled ? it(name, body) : it.skip(name, body)

  /** Runs `body` with a fresh store and clock, releasing the store afterwards. */
  const withStore =
    (body: (store: S, clock: ManualClock) => Promise<void>): TestBody =>
    async () => {
      const clock = createManualClock()
      const store = await options.createStore({ clock })
      try {
        await body(store, clock)
      } finally {
        await options.destroyStore?.(store)
      }
    }

  const withGate = (
    body: (gate: Portcullis, store: S, clock: ManualClock) => Promise<void>,
  ): TestBody =>
    withStore(async (store, clock) => {
      const gate = createPortcullis({
        store,
        clock: clock.now,
        sessionSecret: randomBytes(32),
        revealKey: randomBytes(32),
      })
      try {
        await body(gate, store, clock)
      } finally {
        await gate.close()
      }
    })

  const bearer = (credential: string) => ({
    headers: { authorization: `Bearer ${credential}` },
    remoteAddress: '203.0.113.7',
  })

  /** A new project's test and live secret keys, authenticated: the `auth` each mode acts with. */
  const provisionBothModes = async (gate: Portcullis) => {
    const { test, live } = await gate.projects.provision(randomProjectId())
    const testAuth = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    const liveAuth = await gate.authenticate(bearer(live.secretKey.key), { credential: 'secret' })
    assert.ok(testAuth.ok && liveAuth.ok)
    return { testAuth: testAuth.auth, liveAuth: liveAuth.auth }
  }

  /**
   * A gate for the races: the cache is off, so every authentication reaches the store; the
   * store is wrapped to record every touch the gate makes (the instant it passed and the
   * answer); and `at(instant, call)` runs a call with the gate's clock reading `instant`, so
   * parallel calls can carry instants in any order.
   */
  const withRaceGate = (
    body: (race: RaceGate, store: S, clock: ManualClock) => Promise<void>,
  ): TestBody =>
    withStore(async (store, clock) => {
      let forced: number | undefined
      const touches: TouchAnswer[] = []
      const recording = new Proxy(store, {
        get(target, property) {
          if (property === 'touchSession') {
            return async (id: string, now: number) => {
              const answer = await target.touchSession(id, now)
              touches.push({ now, answer })
              return answer
            }
          }
          const value: unknown = Reflect.get(target, property, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const gate = createPortcullis({
        store: recording,
        clock: () => forced ?? clock.now(),
        sessionSecret: randomBytes(32),
        cache: false,
        // A thousand calls queue for a small connection pool: the races test outcomes, not
        // latency, so a slow answer must not turn into store_unavailable.
        storeTimeoutMs: 10_000,
      })
      const at = <T>(instant: number, call: () => T): T => {
        forced = instant
        try {
          return call()
        } finally {
          forced = undefined
        }
      }
      try {
        await body({ gate, at, touches }, store, clock)
      } finally {
        await gate.close()
      }
    })

  const describeRefusals = (results: readonly AuthResult[]) =>
    results
      .flatMap((result) =>
        result.ok
          ? []
          : [`${result.error.code} (${String(result.error.cause ?? result.error.message)})`],
      )
      .slice(0, 3)
      .join('; ')
  const codesOf = (results: readonly AuthResult[]) =>
    [...new Set(results.map((result) => (result.ok ? 'ok' : result.error.code)))].join(', ')

  describe(`${options.name}: storage conformance`, () => {
    describe('keys', () => {
      it(
        'stores a key and finds it by id and by exact hash',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now(), {
            allowedIps: ['203.0.113.0/24'],
            expiresAt: clock.now() + DAY_MS,
          })
          await store.insertKey(key)
          assert.deepEqual(await store.getKey(key.id), key)
          assert.deepEqual(await store.findKeyByHash(key.hash), key)
        }),
      )

      it(
        'looks keys up by the whole hash, case-sensitively, and by nothing else',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now())
          await store.insertKey(key)
          assert.equal(
            await store.findKeyByHash(flipCase(key.hash)),
            null,
            'case-insensitive match',
          )
          assert.equal(await store.findKeyByHash(key.hash.slice(0, -1)), null, 'prefix match')
          assert.equal(await store.findKeyByHash(`${key.hash}A`), null, 'extension match')
          assert.equal(await store.findKeyByHash(key.id), null, 'id used as hash')
          // Two hashes that differ only in case are two keys (case-insensitive SQL collations).
          const twin = makeKey(clock.now(), { hash: flipCase(key.hash) })
          await store.insertKey(twin)
          assert.equal((await store.findKeyByHash(twin.hash))?.id, twin.id)
          assert.equal((await store.findKeyByHash(key.hash))?.id, key.id)
        }),
      )

      it(
        'refuses a duplicate id or hash with ConflictError and keeps the original',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now())
          await store.insertKey(key)
          await assert.rejects(
            store.insertKey(makeKey(clock.now(), { id: key.id })),
            assertConflict,
          )
          await assert.rejects(
            store.insertKey(makeKey(clock.now(), { hash: key.hash })),
            assertConflict,
          )
          assert.deepEqual(await store.getKey(key.id), key)
          assert.deepEqual(await store.findKeyByHash(key.hash), key)
        }),
      )

      it(
        'lists the keys of one project, both modes, in creation order',
        withStore(async (store, clock) => {
          const projectId = randomProjectId()
          const first = makeKey(clock.now(), { projectId, mode: 'test' })
          clock.advance(1)
          const second = makeKey(clock.now(), {
            projectId,
            mode: 'live',
            type: 'publishable',
            prefix: 'pk_live',
          })
          clock.advance(1)
          const third = makeKey(clock.now(), { projectId, mode: 'live' })
          await store.insertKey(first)
          await store.insertKey(second)
          await store.insertKey(third)
          await store.insertKey(makeKey(clock.now()))
          const listed = await store.listKeys(projectId)
          assert.deepEqual(
            listed.map((key) => key.id),
            [first.id, second.id, third.id],
          )
          assert.deepEqual(await store.listKeys(randomProjectId()), [])
        }),
      )

      it(
        'returns snapshots: changing a returned record does not change the store',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now())
          await store.insertKey(key)
          const copy = (await store.getKey(key.id)) as StoredKey
          try {
            ;(copy as { name: string }).name = 'changed'
            ;(copy.allowedIps as string[]).push('10.0.0.0/8')
          } catch {
            // Frozen records refuse the change, which is just as good.
          }
          assert.deepEqual(await store.getKey(key.id), key)
        }),
      )

      it(
        'replaces an allowlist, and answers null for a missing key',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now(), { allowedIps: ['203.0.113.0/24'] })
          await store.insertKey(key)
          const updated = await store.setKeyAllowedIps(key.id, ['2001:db8::/32', '198.51.100.7'])
          assert.deepEqual(updated?.allowedIps, ['2001:db8::/32', '198.51.100.7'])
          assert.deepEqual((await store.findKeyByHash(key.hash))?.allowedIps, [
            '2001:db8::/32',
            '198.51.100.7',
          ])
          assert.deepEqual((await store.setKeyAllowedIps(key.id, []))?.allowedIps, [])
          assert.equal(await store.setKeyAllowedIps('key_missing', ['10.0.0.1']), null)
        }),
      )

      it(
        'rolls a key atomically: the replacement exists and the old key is retired together',
        withStore(async (store, clock) => {
          const old = makeKey(clock.now())
          await store.insertKey(old)
          const replacement = makeKey(clock.now(), {
            projectId: old.projectId,
            rolledFromId: old.id,
          })
          const result = await store.rollKey({
            id: old.id,
            replacement,
            oldExpiresAt: clock.now() + HOUR_MS,
          })
          assert.equal(result.outcome, 'rolled')
          assert.ok(result.outcome === 'rolled')
          assert.equal(result.previous.rolledToId, replacement.id)
          assert.equal(result.previous.expiresAt, clock.now() + HOUR_MS)
          assert.deepEqual(result.replacement, replacement)
          assert.deepEqual(await store.findKeyByHash(replacement.hash), replacement)
          assert.deepEqual(await store.getKey(old.id), result.previous)
          assert.deepEqual(
            (await store.listKeys(old.projectId)).map((key) => key.id),
            [old.id, replacement.id],
          )
        }),
      )

      it(
        'a replacement inherits name and allowlist from the row the roll finds, not from the caller’s copy',
        withStore(async (store, clock) => {
          const old = makeKey(clock.now(), { name: 'Billing', allowedIps: ['192.0.2.1/32'] })
          await store.insertKey(old)
          // Tightened after the caller read the key, before the roll.
          await store.setKeyAllowedIps(old.id, ['10.0.0.0/8'])
          const stale = makeKey(clock.now(), {
            projectId: old.projectId,
            rolledFromId: old.id,
            name: 'Stale name',
            allowedIps: [],
          })
          const result = await store.rollKey({
            id: old.id,
            replacement: stale,
            oldExpiresAt: clock.now(),
          })
          assert.ok(result.outcome === 'rolled')
          const inherited = { ...stale, name: 'Billing', allowedIps: ['10.0.0.0/8'] }
          assert.deepEqual(result.replacement, inherited)
          assert.deepEqual(await store.findKeyByHash(stale.hash), inherited)
          assert.deepEqual(await store.getKey(stale.id), inherited)
        }),
      )

      it(
        'never extends a rolled key past its own expiry',
        withStore(async (store, clock) => {
          const old = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
          await store.insertKey(old)
          const replacement = makeKey(clock.now(), { projectId: old.projectId })
          const result = await store.rollKey({
            id: old.id,
            replacement,
            oldExpiresAt: clock.now() + DAY_MS,
          })
          assert.ok(result.outcome === 'rolled')
          assert.equal(result.previous.expiresAt, clock.now() + HOUR_MS)
        }),
      )

      it(
        'rolls a key at most once: a second or concurrent roll writes nothing',
        withStore(async (store, clock) => {
          const old = makeKey(clock.now())
          await store.insertKey(old)
          const replacements = Array.from({ length: 10 }, () =>
            makeKey(clock.now(), { projectId: old.projectId }),
          )
          const results = await Promise.all(
            replacements.map((replacement) =>
              store.rollKey({ id: old.id, replacement, oldExpiresAt: clock.now() }),
            ),
          )
          const winners = results.filter((result) => result.outcome === 'rolled')
          assert.equal(winners.length, 1, 'exactly one concurrent roll wins')
          assert.ok(results.every((result) => result.outcome !== 'not_found'))
          const found = await Promise.all(
            replacements.map((replacement) => store.findKeyByHash(replacement.hash)),
          )
          assert.equal(
            found.filter((key) => key !== null).length,
            1,
            'exactly one replacement exists',
          )
          const current = await store.getKey(old.id)
          assert.equal(current?.rolledToId, found.find((key) => key !== null)?.id)
          assert.equal((await store.listKeys(old.projectId)).length, 2)
          const missing = await store.rollKey({
            id: 'key_missing',
            replacement: makeKey(clock.now()),
            oldExpiresAt: clock.now(),
          })
          assert.equal(missing.outcome, 'not_found')
        }),
      )

      it(
        'deletes a key from every lookup',
        withStore(async (store, clock) => {
          const key = makeKey(clock.now())
          await store.insertKey(key)
          assert.equal(await store.deleteKey(key.id), true)
          assert.equal(await store.getKey(key.id), null)
          assert.equal(await store.findKeyByHash(key.hash), null)
          assert.deepEqual(await store.listKeys(key.projectId), [])
          assert.equal(await store.deleteKey(key.id), false)
        }),
      )

      it(
        'records usage in batches, only ever raising lastUsedAt',
        withStore(async (store, clock) => {
          const a = makeKey(clock.now())
          const b = makeKey(clock.now(), { lastUsedAt: clock.now() + 5000 })
          await store.insertKey(a)
          await store.insertKey(b)
          await store.recordKeyUsage([
            { id: a.id, lastUsedAt: clock.now() + 1000 },
            { id: b.id, lastUsedAt: clock.now() + 1000 },
            { id: 'key_missing', lastUsedAt: clock.now() },
          ])
          assert.equal((await store.getKey(a.id))?.lastUsedAt, clock.now() + 1000)
          assert.equal((await store.getKey(b.id))?.lastUsedAt, clock.now() + 5000)
          assert.equal(await store.getKey('key_missing'), null, 'usage never creates a key')
          await store.recordKeyUsage([])
        }),
      )
    })

    describe('sessions', () => {
      it(
        'stores a session and refuses a duplicate id',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          assert.deepEqual(await store.getSession(session.id), session)
          await assert.rejects(
            store.insertSession(makeSession(clock.now(), { id: session.id })),
            assertConflict,
          )
          assert.deepEqual(await store.getSession(session.id), session)
          assert.equal(await store.getSession('cs_missing'), null)
        }),
      )

      it(
        'touch slides the idle expiry to now + idle timeout',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          clock.advance(3 * HOUR_MS)
          const touched = await store.touchSession(session.id, clock.now())
          assert.equal(touched?.expiresAt, clock.now() + session.idleTimeoutMs)
          assert.equal(
            (await store.getSession(session.id))?.expiresAt,
            clock.now() + session.idleTimeoutMs,
          )
        }),
      )

      it(
        'touch never moves the expiry past the absolute cap',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now(), { maxExpiresAt: clock.now() + 30 * HOUR_MS })
          await store.insertSession(session)
          clock.advance(20 * HOUR_MS)
          const touched = await store.touchSession(session.id, clock.now())
          assert.equal(touched?.expiresAt, session.maxExpiresAt)
          clock.advance(9 * HOUR_MS)
          assert.equal(
            (await store.touchSession(session.id, clock.now()))?.expiresAt,
            session.maxExpiresAt,
          )
        }),
      )

      it(
        'touch never revives an expired session',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          clock.advance(session.idleTimeoutMs)
          const touched = await store.touchSession(session.id, clock.now())
          assert.equal(touched?.expiresAt, session.expiresAt)
          assert.equal(
            (await store.getSession(session.id))?.expiresAt ?? session.expiresAt,
            session.expiresAt,
          )
        }),
      )

      it(
        'touch never revives a revoked session',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          clock.advance(HOUR_MS)
          const revoked = await store.revokeSession(session.id, clock.now())
          assert.equal(revoked?.revokedAt, clock.now())
          clock.advance(HOUR_MS)
          const touched = await store.touchSession(session.id, clock.now())
          assert.equal(touched?.revokedAt, revoked?.revokedAt)
          assert.equal(touched?.expiresAt, session.expiresAt, 'a revoked session is not slid')
        }),
      )

      it(
        'touch never creates a session',
        withStore(async (store, clock) => {
          assert.equal(await store.touchSession('cs_missing', clock.now()), null)
          assert.equal(await store.getSession('cs_missing'), null)
        }),
      )

      it(
        'touch never shortens a session (an out-of-order touch loses)',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          const early = clock.now() + HOUR_MS
          const late = clock.now() + 2 * HOUR_MS
          await store.touchSession(session.id, late)
          const touched = await store.touchSession(session.id, early)
          assert.equal(touched?.expiresAt, late + session.idleTimeoutMs)
        }),
      )

      it(
        `${parallel} concurrent touches converge on the latest and never pass the cap`,
        withStore(async (store, clock) => {
          // The cap falls halfway through the touches, so half of them would pass it if allowed.
          const start = clock.now()
          const session = makeSession(start, {
            maxExpiresAt: start + DAY_MS + (parallel / 2) * 60_000,
          })
          await store.insertSession(session)
          const instants = shuffle(
            Array.from({ length: parallel }, (_, i) => start + (i + 1) * 60_000),
          )
          const results = await Promise.all(
            instants.map((now) => store.touchSession(session.id, now)),
          )
          for (const result of results) {
            assert.ok(result !== null)
            assert.ok(result.expiresAt <= session.maxExpiresAt, 'a touch passed the cap')
          }
          const latest = Math.max(...instants)
          const expected = Math.min(latest + session.idleTimeoutMs, session.maxExpiresAt)
          assert.equal((await store.getSession(session.id))?.expiresAt, expected)
        }),
      )

      it(
        'a revoke racing touches always wins',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          const now = clock.now()
          const touches = Array.from(
            { length: 20 },
            (_, i) => () => store.touchSession(session.id, now + i + 1),
          )
          await Promise.all([
            ...touches.slice(0, 10).map((touch) => touch()),
            store.revokeSession(session.id, now),
            ...touches.slice(10).map((touch) => touch()),
          ])
          const after = await store.getSession(session.id)
          assert.equal(after?.revokedAt, now)
          const again = await store.touchSession(session.id, now + HOUR_MS)
          assert.equal(again?.expiresAt, after?.expiresAt)
          assert.equal(again?.revokedAt, now)
        }),
      )

      it(
        'revocation is final: a second revoke keeps the first instant',
        withStore(async (store, clock) => {
          const session = makeSession(clock.now())
          await store.insertSession(session)
          const first = clock.now()
          await store.revokeSession(session.id, first)
          clock.advance(1000)
          assert.equal((await store.revokeSession(session.id, clock.now()))?.revokedAt, first)
          assert.equal(await store.revokeSession('cs_missing', clock.now()), null)
        }),
      )

      it(
        'keeps test and live apart: the same clientId in both modes is two clients',
        withStore(async (store, clock) => {
          const projectId = randomProjectId()
          const clientId = 'user_42'
          const test = [
            makeSession(clock.now(), { projectId, clientId }),
            makeSession(clock.now(), { projectId, clientId }),
          ]
          const live = makeSession(clock.now(), { projectId, clientId, mode: 'live' })
          const otherProject = makeSession(clock.now(), { clientId })
          const otherClient = makeSession(clock.now(), { projectId, clientId: 'user_43' })
          for (const session of [...test, live, otherProject, otherClient])
            await store.insertSession(session)

          const testScope = { projectId, mode: 'test' as const, clientId }
          const liveScope = { projectId, mode: 'live' as const, clientId }
          const ids = (sessions: StoredSession[]) => sessions.map((session) => session.id).sort()
          assert.deepEqual(ids(await store.listClientSessions(testScope)), ids(test))
          assert.deepEqual(ids(await store.listClientSessions(liveScope)), [live.id])

          assert.equal(await store.revokeClientSessions(testScope, clock.now()), 2)
          assert.equal(
            await store.revokeClientSessions(testScope, clock.now()),
            0,
            'already revoked',
          )
          for (const session of test)
            assert.notEqual((await store.getSession(session.id))?.revokedAt, null)
          for (const session of [live, otherProject, otherClient]) {
            assert.equal(
              (await store.getSession(session.id))?.revokedAt,
              null,
              'revoked outside its scope',
            )
          }
          assert.deepEqual(
            await store.listClientSessions({ projectId, mode: 'live', clientId: 'nobody' }),
            [],
          )
        }),
      )
    })

    describe('concurrency', () => {
      it(
        `${races} parallel touches of one session: never past the cap, never below the latest touch`,
        withStore(async (store, clock) => {
          const start = clock.now()
          const idle = DAY_MS
          // Every instant lies inside the live window, so every touch takes effect; the cap
          // falls so that the latest twentieth of them would pass it if allowed.
          const cap = start + idle + Math.floor(idle * 0.95)
          const session = makeSession(start, { idleTimeoutMs: idle, maxExpiresAt: cap })
          await store.insertSession(session)
          const instants = spread(start + 1, start + idle - 1, races)
          const answers = await Promise.all(
            instants.map(async (now) => ({
              now,
              answer: await store.touchSession(session.id, now),
            })),
          )
          const final = await store.getSession(session.id)
          assert.ok(final !== null)
          assert.equal(final.revokedAt, null)
          assert.ok(
            final.expiresAt <= cap,
            `the stored expiry is ${final.expiresAt - cap} ms past the cap`,
          )
          const latest = Math.max(...instants)
          assert.ok(
            final.expiresAt >= Math.min(cap, latest + idle),
            `the stored expiry is ${Math.min(cap, latest + idle) - final.expiresAt} ms short of what the latest touch allows`,
          )
          assert.equal(checkTouchAnswers(answers, final), races, 'every touch took effect')
        }),
      )

      it(
        `${races} parallel authentications of one session near its 7-day cap (cache off): never past the cap, never below the latest touch`,
        withRaceGate(async ({ gate, at, touches }, store, clock) => {
          const { test } = await gate.projects.provision(randomProjectId())
          const server = await gate.authenticate(bearer(test.secretKey.key), {
            credential: 'secret',
          })
          assert.ok(server.ok)
          const issuedAt = clock.now()
          const { token, session } = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          const cap = session.maxExpiresAt
          assert.equal(cap, issuedAt + gate.limits.maxLifetimeMs)
          const idle = gate.limits.idleTimeoutMs
          // Used every (idle - 1 h) up to the instant from which the last twelfth of the next
          // idle window lies past the cap.
          const last = cap - 2 * idle + idle / 12
          const use = () => gate.authenticate(bearer(token), { credential: 'session' })
          for (let instant = issuedAt; instant < last; ) {
            instant = Math.min(instant + idle - HOUR_MS, last)
            clock.set(instant)
            const used = await use()
            assert.ok(used.ok, `refused ${(instant - issuedAt) / HOUR_MS} h after issue`)
          }
          touches.length = 0
          const results = await Promise.all(
            spread(last + 1, last + idle - 1, races).map((now) => at(now, use)),
          )
          assert.equal(
            codesOf(results),
            'ok',
            `a live session was refused: ${describeRefusals(results)}`,
          )
          assert.equal(
            touches.length,
            races,
            'with the cache off, every authentication touches the store',
          )
          const final = await store.getSession(session.id)
          assert.ok(final !== null)
          assert.ok(
            final.expiresAt <= cap,
            `the stored expiry is ${final.expiresAt - cap} ms past the cap`,
          )
          const latest = Math.max(...touches.map((touch) => touch.now))
          assert.ok(latest + idle > cap, 'the race reached the cap')
          assert.ok(
            final.expiresAt >= Math.min(cap, latest + idle),
            `the stored expiry is ${Math.min(cap, latest + idle) - final.expiresAt} ms short of what the latest touch allows`,
          )
          assert.equal(checkTouchAnswers(touches, final), races)
        }),
      )

      it(
        `a revoke racing ${races} touches wins: it keeps its revokedAt, freezes the expiry, and every later touch sees it`,
        withStore(async (store, clock) => {
          const start = clock.now()
          const session = makeSession(start)
          const idle = session.idleTimeoutMs
          await store.insertSession(session)
          const half = Math.floor(races / 2)
          const touch = async (now: number) => ({
            now,
            answer: await store.touchSession(session.id, now),
          })
          // Time moves on during the race: the touches after the revoke carry later instants,
          // so any that took effect after it would show.
          const first = spread(start + 1, start + idle / 2 - 1, half).map(touch)
          await Promise.race(first)
          const revokedAt = start + idle / 2
          const revoking = store.revokeSession(session.id, revokedAt)
          const second = spread(start + idle / 2 + 1, start + idle - 1, races - half).map(touch)
          const revoked = await revoking
          assert.equal(revoked?.revokedAt, revokedAt, 'the revoke answered another revokedAt')
          // Everything started after the revoke resolved must see it, whatever is still in flight.
          const later = await Promise.all(
            spread(start + idle / 2 + 1, start + idle - 1, Math.max(1, Math.floor(races / 10))).map(
              touch,
            ),
          )
          const answers = await Promise.all([...first, ...second])
          const final = await store.getSession(session.id)
          assert.ok(final !== null)
          assert.equal(final.revokedAt, revokedAt, 'the session is not revoked as the revoke said')
          assert.equal(revoked?.expiresAt, final.expiresAt, 'the expiry moved after the revoke')
          for (const { answer } of later) {
            assert.equal(
              answer?.revokedAt,
              revokedAt,
              'a touch after the revoke saw a live session',
            )
          }
          checkTouchAnswers([...answers, ...later], final)
        }),
      )

      it(
        `a client revoke racing ${races} touches of its sessions wins, and spares the other mode`,
        withStore(async (store, clock) => {
          const start = clock.now()
          const projectId = randomProjectId()
          const clientId = 'user_race'
          const scope = { projectId, mode: 'test' as const, clientId }
          const revokable = [0, 1, 2].map(() => makeSession(start, scope))
          const twin = makeSession(start, { ...scope, mode: 'live' })
          const sessions = [...revokable, twin]
          for (const session of sessions) await store.insertSession(session)
          const idle = twin.idleTimeoutMs
          const answers = new Map<string, Promise<TouchAnswer>[]>(
            sessions.map((session) => [session.id, []]),
          )
          let next = 0
          const touch = (now: number) => {
            const { id } = sessions[next++ % sessions.length] as StoredSession
            const pending = store.touchSession(id, now).then((answer) => ({ now, answer }))
            answers.get(id)?.push(pending)
            return pending
          }
          const half = Math.floor(races / 2)
          const first = spread(start + 1, start + idle / 2 - 1, half).map(touch)
          await Promise.race(first)
          const revokedAt = start + idle / 2
          const revoking = store.revokeClientSessions(scope, revokedAt)
          spread(start + idle / 2 + 1, start + idle - 1, races - half).forEach(touch)
          assert.equal(await revoking, revokable.length, 'the client revoke counted')
          for (const session of revokable) {
            const after = await store.touchSession(session.id, start + idle - 1)
            assert.equal(after?.revokedAt, revokedAt, 'a touch after the revoke saw a live session')
          }
          for (const session of sessions) {
            const settled = await Promise.all(answers.get(session.id) ?? [])
            const final = await store.getSession(session.id)
            assert.ok(final !== null, 'a session of the race is gone')
            if (session === twin) {
              assert.equal(final.revokedAt, null, 'the client revoke reached the other mode')
              const latest = Math.max(...settled.map((touched) => touched.now))
              assert.equal(final.expiresAt, Math.min(latest + idle, final.maxExpiresAt))
              assert.equal(checkTouchAnswers(settled, final), settled.length)
            } else {
              assert.equal(final.revokedAt, revokedAt, 'a session of the client escaped the revoke')
              checkTouchAnswers(settled, final)
            }
          }
        }),
      )

      it(
        `a revoke racing ${races} authentications (cache off) wins: once it resolves, every use is session_revoked`,
        withRaceGate(async ({ gate, at, touches }, store, clock) => {
          const { live } = await gate.projects.provision(randomProjectId())
          const server = await gate.authenticate(bearer(live.secretKey.key), {
            credential: 'secret',
          })
          assert.ok(server.ok)
          const start = clock.now()
          const idle = gate.limits.idleTimeoutMs
          const { token, session } = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          const use = (now: number) =>
            at(now, () => gate.authenticate(bearer(token), { credential: 'session' }))
          const half = Math.floor(races / 2)
          const first = spread(start + 1, start + idle / 2 - 1, half).map(use)
          await Promise.race(first)
          const revoking = at(start + idle / 2, () => gate.sessions.revoke(session.id))
          const second = spread(start + idle / 2 + 1, start + idle - 1, races - half).map(use)
          const revoked = await revoking
          assert.notEqual(revoked.revokedAt, null)
          const later = await Promise.all(
            spread(start + idle / 2 + 1, start + idle - 1, Math.max(1, Math.floor(races / 10))).map(
              use,
            ),
          )
          assert.equal(codesOf(later), 'session_revoked', 'a use after the revoke resolved')
          const during = await Promise.all([...first, ...second])
          assert.ok(
            during.every((result) => result.ok || result.error.code === 'session_revoked'),
            `uses racing the revoke answered ${codesOf(during)}`,
          )
          const final = await store.getSession(session.id)
          assert.ok(final !== null)
          assert.equal(final.revokedAt, revoked.revokedAt)
          checkTouchAnswers(touches, final)
        }),
      )

      it(
        `a client revoke racing ${races} authentications (cache off) wins, and spares the other mode`,
        withRaceGate(async ({ gate, at, touches }, store, clock) => {
          const { testAuth, liveAuth } = await provisionBothModes(gate)
          const start = clock.now()
          const idle = gate.limits.idleTimeoutMs
          const clientId = 'user_race'
          const revokable = [
            await gate.sessions.create(testAuth, { clientId }),
            await gate.sessions.create(testAuth, { clientId }),
            await gate.sessions.create(testAuth, { clientId }),
          ]
          const twin = await gate.sessions.create(liveAuth, { clientId })
          const all = [...revokable, twin]
          let next = 0
          const uses: { twin: boolean; result: Promise<AuthResult> }[] = []
          const use = (now: number) => {
            const created = all[next++ % all.length] as (typeof all)[number]
            const result = at(now, () =>
              gate.authenticate(bearer(created.token), { credential: 'session' }),
            )
            uses.push({ twin: created === twin, result })
            return result
          }
          const half = Math.floor(races / 2)
          const first = spread(start + 1, start + idle / 2 - 1, half).map(use)
          await Promise.race(first)
          const revoking = at(start + idle / 2, () =>
            gate.sessions.revokeClient(testAuth, clientId),
          )
          spread(start + idle / 2 + 1, start + idle - 1, races - half).forEach(use)
          assert.equal(await revoking, revokable.length)
          const later = await Promise.all(
            revokable.map(({ token }) =>
              gate.authenticate(bearer(token), { credential: 'session' }),
            ),
          )
          assert.equal(codesOf(later), 'session_revoked', 'a use after the revoke resolved')
          const during = await Promise.all(
            uses.map(async ({ twin: isTwin, result }) => ({ isTwin, result: await result })),
          )
          const twinResults = during.filter((use) => use.isTwin).map((use) => use.result)
          const others = during.filter((use) => !use.isTwin).map((use) => use.result)
          assert.equal(codesOf(twinResults), 'ok', 'the other mode was affected')
          assert.ok(
            others.every((result) => result.ok || result.error.code === 'session_revoked'),
            `uses racing the revoke answered ${codesOf(others)}`,
          )
          const finals = await Promise.all(
            all.map(async ({ session }) => (await store.getSession(session.id)) as StoredSession),
          )
          const revokedAt = finals[0]?.revokedAt ?? null
          assert.notEqual(revokedAt, null)
          for (const [index, final] of finals.entries()) {
            assert.equal(final.revokedAt, index < revokable.length ? revokedAt : null)
            const mine = touches.filter((touch) => touch.answer?.id === final.id)
            checkTouchAnswers(mine, final)
          }
          assert.ok((await gate.authenticate(bearer(twin.token), { credential: 'session' })).ok)
        }),
      )

      for (const gracePeriodMs of [HOUR_MS, 0]) {
        it(
          `a roll (grace ${gracePeriodMs} ms) racing authentications of the old key (cache off): after the grace period exactly one of the two keys works`,
          withRaceGate(async ({ gate }, store, clock) => {
            const { test } = await gate.projects.provision(randomProjectId())
            const old = test.secretKey
            const count = Math.max(2, Math.floor(races / 5))
            const useOld = () => gate.authenticate(bearer(old.key), { credential: 'secret' })
            const before = Array.from({ length: count / 2 }, useOld)
            const rolling = gate.keys.roll(old.record.id, { gracePeriodMs })
            const after = Array.from({ length: count - before.length }, useOld)
            const rolled = await rolling
            const useNew = () => gate.authenticate(bearer(rolled.key), { credential: 'secret' })
            const during = await Promise.all([...before, ...after])
            if (gracePeriodMs > 0) {
              assert.equal(codesOf(during), 'ok', 'the old key failed within its grace period')
              assert.equal(codesOf(await Promise.all([useOld(), useNew()])), 'ok')
              clock.advance(gracePeriodMs)
            } else {
              assert.ok(
                during.every((result) => result.ok || result.error.code === 'api_key_expired'),
                `uses racing the roll answered ${codesOf(during)}`,
              )
            }
            const [olds, news] = await Promise.all([
              Promise.all(Array.from({ length: count / 2 }, useOld)),
              Promise.all(Array.from({ length: count / 2 }, useNew)),
            ])
            assert.equal(codesOf(olds), 'api_key_expired', 'the old key after its grace period')
            assert.equal(codesOf(news), 'ok', 'the new key')
            const keys = await store.listKeys(old.record.projectId)
            const successors = keys.filter((key) => key.rolledFromId === old.record.id)
            assert.deepEqual(
              successors.map((key) => key.id),
              [rolled.record.id],
            )
            assert.equal(keys.find((key) => key.id === old.record.id)?.rolledToId, rolled.record.id)
          }),
        )
      }

      it(
        'an allowlist tightened while a key is rolled is never lost on the replacement',
        withGate(async (gate) => {
          const projectId = randomProjectId()
          const tightened = ['198.51.100.0/24']
          let before = 0
          for (let round = 0; round < 20; round++) {
            const { record } = await gate.keys.create({ projectId, type: 'secret', mode: 'live' })
            const [updated, rolled] = await Promise.all([
              gate.keys.setAllowedIps(record.id, tightened),
              gate.keys.roll(record.id, { gracePeriodMs: HOUR_MS }),
            ])
            // The update reached the key before the roll locked it: the replacement must have it.
            if (updated.rolledToId === null) {
              before++
              assert.deepEqual(rolled.record.allowedIps, tightened, `round ${round}: lost`)
              assert.deepEqual((await gate.keys.get(rolled.record.id))?.allowedIps, tightened)
              const outside = await gate.authenticate(bearer(rolled.key), { credential: 'secret' })
              assert.ok(!outside.ok && outside.error.code === 'ip_not_allowed')
            }
          }
          assert.ok(before > 0, 'no round had the update land before the roll')
        }),
      )

      it(
        'parallel rolls of one key: exactly one wins, the others get key_already_rolled, one successor works',
        withRaceGate(async ({ gate }, store) => {
          const { live } = await gate.projects.provision(randomProjectId())
          const old = live.secretKey
          const useOld = () => gate.authenticate(bearer(old.key), { credential: 'secret' })
          const rolls: Promise<RolledKey>[] = []
          const uses: Promise<AuthResult>[] = []
          for (let i = 0; i < 10; i++) {
            rolls.push(gate.keys.roll(old.record.id))
            for (let j = 0; j < Math.max(1, Math.floor(races / 50)); j++) uses.push(useOld())
          }
          const settled = await Promise.allSettled(rolls)
          const won = settled.flatMap((outcome) =>
            outcome.status === 'fulfilled' ? [outcome.value] : [],
          )
          assert.equal(won.length, 1, 'exactly one roll wins')
          for (const outcome of settled) {
            if (outcome.status === 'rejected') {
              const error: unknown = outcome.reason
              assert.ok(
                isPortcullisError(error) && error.code === 'key_already_rolled',
                `a losing roll failed with ${String(error)}`,
              )
            }
          }
          const during = await Promise.all(uses)
          assert.ok(
            during.every((result) => result.ok || result.error.code === 'api_key_expired'),
            `uses racing the rolls answered ${codesOf(during)}`,
          )
          const winner = won[0] as RolledKey
          const keys = await store.listKeys(old.record.projectId)
          assert.deepEqual(
            keys.filter((key) => key.rolledFromId === old.record.id).map((key) => key.id),
            [winner.record.id],
            'exactly one successor is stored',
          )
          const [oldUse, newUse] = await Promise.all([
            useOld(),
            gate.authenticate(bearer(winner.key), { credential: 'secret' }),
          ])
          assert.ok(!oldUse.ok && oldUse.error.code === 'api_key_expired')
          assert.ok(newUse.ok)
        }),
      )
    })

    describe('pruning', () => {
      itIf(
        canPrune,
        'prune deletes what expired and keeps what is live',
        withStore(async (store, clock) => {
          assert.equal(
            typeof store.prune,
            'function',
            'capabilities.prune is set but prune() is missing',
          )
          const prune = (store.prune as NonNullable<PortcullisStore['prune']>).bind(store)
          const expiredSession = makeSession(clock.now(), { idleTimeoutMs: HOUR_MS })
          const liveSession = makeSession(clock.now())
          const expiredKey = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
          const liveKey = makeKey(clock.now(), { expiresAt: clock.now() + DAY_MS })
          const eternalKey = makeKey(clock.now())
          for (const session of [expiredSession, liveSession]) await store.insertSession(session)
          for (const key of [expiredKey, liveKey, eternalKey]) await store.insertKey(key)
          clock.advance(2 * HOUR_MS)
          const removed = await prune({
            sessionsExpiredBefore: clock.now(),
            keysExpiredBefore: clock.now(),
          })
          assert.ok(removed >= 2, `prune reported ${removed} removals`)
          assert.equal(await store.getSession(expiredSession.id), null)
          assert.equal(await store.getKey(expiredKey.id), null)
          assert.equal(await store.findKeyByHash(expiredKey.hash), null)
          assert.notEqual(await store.getSession(liveSession.id), null)
          assert.notEqual(await store.getKey(liveKey.id), null)
          assert.notEqual(await store.getKey(eternalKey.id), null)
        }),
      )

      itIf(
        canPrune,
        'touch never revives a pruned session',
        withStore(async (store, clock) => {
          const prune = (store.prune as NonNullable<PortcullisStore['prune']>).bind(store)
          const session = makeSession(clock.now())
          await store.insertSession(session)
          clock.advance(session.idleTimeoutMs + 1)
          await prune({ sessionsExpiredBefore: clock.now(), keysExpiredBefore: 0 })
          assert.equal(await store.touchSession(session.id, clock.now()), null)
          assert.equal(await store.getSession(session.id), null)
        }),
      )
    })

    describe('change notifications', () => {
      itIf(
        canWatch,
        'announces key and session changes to every instance on the backend',
        withStore(async (store, clock) => {
          assert.equal(
            typeof store.watch,
            'function',
            'capabilities.watch is set but watch() is missing',
          )
          const peer = options.createPeerStore
            ? await options.createPeerStore(store, { clock })
            : store
          const within = options.watchWithinMs ?? 2000
          const seen: StoreChange[] = []
          const waiters: { match: (change: StoreChange) => boolean; resolve: () => void }[] = []
          const unwatch = await (peer.watch as NonNullable<PortcullisStore['watch']>).call(
            peer,
            (change) => {
              seen.push(change)
              for (const waiter of [...waiters]) {
                if (waiter.match(change)) {
                  waiters.splice(waiters.indexOf(waiter), 1)
                  waiter.resolve()
                }
              }
            },
          )
          const expectChange = async (
            what: string,
            match: (change: StoreChange) => boolean,
            write: () => Promise<unknown>,
          ) => {
            let timer: NodeJS.Timeout | undefined
            const arrived = new Promise<void>((resolve, reject) => {
              waiters.push({ match, resolve })
              timer = setTimeout(
                () =>
                  reject(
                    new Error(`no ${what} change within ${within} ms; saw ${JSON.stringify(seen)}`),
                  ),
                within,
              )
            })
            try {
              await write()
              await arrived
            } finally {
              clearTimeout(timer)
            }
          }
          try {
            const key = makeKey(clock.now())
            const other = makeKey(clock.now())
            await store.insertKey(key)
            await store.insertKey(other)
            const isKey = (target: StoredKey) => (change: StoreChange) =>
              change.type === 'key' && change.keyId === target.id && change.hash === target.hash
            await expectChange('allowlist', isKey(key), () =>
              store.setKeyAllowedIps(key.id, ['10.0.0.0/8']),
            )
            await expectChange('roll', isKey(key), () =>
              store.rollKey({
                id: key.id,
                replacement: makeKey(clock.now()),
                oldExpiresAt: clock.now(),
              }),
            )
            await expectChange('delete', isKey(other), () => store.deleteKey(other.id))
            const session = makeSession(clock.now())
            await store.insertSession(session)
            await expectChange(
              'session revoke',
              (change) => change.type === 'session' && change.sessionId === session.id,
              () => store.revokeSession(session.id, clock.now()),
            )
            const client = makeSession(clock.now(), { mode: 'live', clientId: 'user_7' })
            await store.insertSession(client)
            await expectChange(
              'client revoke',
              (change) =>
                change.type === 'client' &&
                change.projectId === client.projectId &&
                change.mode === 'live' &&
                change.clientId === 'user_7',
              () => store.revokeClientSessions(client, clock.now()),
            )
          } finally {
            await unwatch()
            if (peer !== store) await options.destroyStore?.(peer)
          }
        }),
      )
      itIf(
        canWatch,
        'announces a client revocation once, however many sessions it revoked',
        withStore(async (store, clock) => {
          const peer = options.createPeerStore
            ? await options.createPeerStore(store, { clock })
            : store
          const within = options.watchWithinMs ?? 2000
          const seen: StoreChange[] = []
          const marker = makeSession(clock.now())
          let markerSeen: () => void = () => {}
          const markerArrived = new Promise<void>((resolve) => {
            markerSeen = resolve
          })
          const unwatch = await (peer.watch as NonNullable<PortcullisStore['watch']>).call(
            peer,
            (change) => {
              seen.push(change)
              if (change.type === 'session' && change.sessionId === marker.id) markerSeen()
            },
          )
          try {
            const projectId = randomProjectId()
            const scope = { projectId, mode: 'live' as const, clientId: 'user_many' }
            for (let i = 0; i < 5; i++) await store.insertSession(makeSession(clock.now(), scope))
            await store.insertSession(marker)
            assert.equal(await store.revokeClientSessions(scope, clock.now()), 5)
            // Changes arrive in order on one feed: once the marker is here, so is the client's.
            await store.revokeSession(marker.id, clock.now())
            let timer: NodeJS.Timeout | undefined
            await Promise.race([
              markerArrived,
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error('the marker change never came')), within)
              }),
            ]).finally(() => clearTimeout(timer))
            // Cluster nodes may deliver out of order: give stragglers a moment.
            await new Promise((resolve) => setTimeout(resolve, 100))
            const announced = seen.filter(
              (change) => change.type === 'client' && change.projectId === projectId,
            )
            assert.equal(announced.length, 1, `announced ${JSON.stringify(announced)}`)
          } finally {
            await unwatch()
            if (peer !== store) await options.destroyStore?.(peer)
          }
        }),
      )
    })

    describe('through createPortcullis', () => {
      it(
        'slides a session on every use, expires it after 24 h idle, and caps it at 7 days',
        withGate(async (gate, _store, clock) => {
          const { test } = await gate.projects.provision(randomProjectId())
          const server = await gate.authenticate(bearer(test.secretKey.key), {
            credential: 'secret',
          })
          assert.ok(server.ok)
          const issuedAt = clock.now()
          const { token, session } = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          assert.equal(session.expiresAt, issuedAt + DAY_MS)
          assert.equal(session.maxExpiresAt, issuedAt + 7 * DAY_MS)

          // Used every 23 hours, it lives until the cap and not a moment longer.
          while (clock.now() + 23 * HOUR_MS < issuedAt + 7 * DAY_MS) {
            clock.advance(23 * HOUR_MS)
            const used = await gate.authenticate(bearer(token), { credential: 'session' })
            assert.ok(used.ok, `refused ${(clock.now() - issuedAt) / HOUR_MS} h after issue`)
          }
          clock.set(issuedAt + 7 * DAY_MS)
          const capped = await gate.authenticate(bearer(token), { credential: 'session' })
          assert.ok(!capped.ok)
          assert.equal(capped.error.code, 'session_expired')

          const second = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          clock.advance(DAY_MS)
          const idle = await gate.authenticate(bearer(second.token), { credential: 'session' })
          assert.ok(!idle.ok)
          assert.equal(idle.error.code, 'session_expired')
        }),
      )

      it(
        'refuses a revoked session with session_revoked',
        withGate(async (gate) => {
          const { live } = await gate.projects.provision(randomProjectId())
          const server = await gate.authenticate(bearer(live.secretKey.key), {
            credential: 'secret',
          })
          assert.ok(server.ok)
          const { token, session } = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          assert.ok((await gate.authenticate(bearer(token), { credential: 'session' })).ok)
          await gate.sessions.revoke(session.id)
          const refused = await gate.authenticate(bearer(token), { credential: 'session' })
          assert.ok(!refused.ok)
          assert.equal(refused.error.code, 'session_revoked')
        }),
      )

      it(
        'keeps test and live clients apart end to end',
        withGate(async (gate) => {
          const { testAuth, liveAuth } = await provisionBothModes(gate)
          const testSession = await gate.sessions.create(testAuth, { clientId: 'same' })
          const liveSession = await gate.sessions.create(liveAuth, { clientId: 'same' })
          assert.equal(await gate.sessions.revokeClient(testAuth, 'same'), 1)
          const testUse = await gate.authenticate(bearer(testSession.token), {
            credential: 'session',
          })
          const liveUse = await gate.authenticate(bearer(liveSession.token), {
            credential: 'session',
          })
          assert.ok(!testUse.ok && testUse.error.code === 'session_revoked')
          assert.ok(liveUse.ok)
          assert.equal(liveUse.auth.mode, 'live')
          await assert.rejects(
            gate.sessions.revoke(liveSession.session.id, { auth: testAuth }),
            (error: unknown) => isPortcullisError(error) && error.code === 'mode_mismatch',
          )
          await assert.rejects(
            gate.sessions.refresh(liveAuth, { clientId: 'only-in-test' }),
            (error: unknown) => isPortcullisError(error) && error.code === 'resource_missing',
          )
        }),
      )

      it(
        'rolls a key without a grace period: the rolling instance refuses the old key on the very next request',
        withGate(async (gate) => {
          const { live } = await gate.projects.provision(randomProjectId())
          const old = live.secretKey.key
          // Cached as verified on this instance first.
          assert.ok((await gate.authenticate(bearer(old), { credential: 'secret' })).ok)
          assert.ok((await gate.authenticate(bearer(old), { credential: 'secret' })).ok)
          const rolled = await gate.keys.roll(live.secretKey.record.id)
          const next = await gate.authenticate(bearer(old), { credential: 'secret' })
          assert.ok(!next.ok, 'the old key was admitted after the roll')
          assert.equal(next.error.code, 'api_key_expired')
          assert.ok((await gate.authenticate(bearer(rolled.key), { credential: 'secret' })).ok)
        }),
      )

      it(
        'rolls a key with a grace period: both work until it ends, then only the new one',
        withGate(async (gate, _store, clock) => {
          const { test } = await gate.projects.provision(randomProjectId())
          const rolled = await gate.keys.roll(test.secretKey.record.id, { gracePeriodMs: HOUR_MS })
          assert.ok(
            (await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })).ok,
          )
          assert.ok((await gate.authenticate(bearer(rolled.key), { credential: 'secret' })).ok)
          clock.advance(HOUR_MS)
          const old = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
          assert.ok(!old.ok)
          assert.equal(old.error.code, 'api_key_expired')
          assert.ok((await gate.authenticate(bearer(rolled.key), { credential: 'secret' })).ok)
        }),
      )

      it(
        'refuses ill-formed text (lone surrogates, C1 and bidi controls) before any store call',
        withStore(async (store, clock) => {
          const calls: string[] = []
          const counting = new Proxy(store, {
            get(target, property) {
              const value: unknown = Reflect.get(target, property, target)
              if (typeof value !== 'function') return value
              return (...args: unknown[]) => {
                calls.push(String(property))
                return (value as (...a: unknown[]) => unknown).apply(target, args)
              }
            },
          })
          const gate = createPortcullis({
            store: counting,
            clock: clock.now,
            sessionSecret: randomBytes(32),
          })
          try {
            const { test } = await gate.projects.provision(randomProjectId())
            const projectId = test.secretKey.record.projectId
            const auth = await gate.authenticate(bearer(test.secretKey.key), {
              credential: 'secret',
            })
            assert.ok(auth.ok)
            const bad = ['user_\ud800', 'user_\udc00x', 'user_\u0085', 'user_\u202e', 'a\u2066b']
            const refusals: [string, (text: string) => Promise<unknown>][] = [
              ['sessions.create', (text) => gate.sessions.create(auth.auth, { clientId: text })],
              ['sessions.refresh', (text) => gate.sessions.refresh(auth.auth, { clientId: text })],
              ['sessions.revokeClient', (text) => gate.sessions.revokeClient(auth.auth, text)],
              ['sessions.list', (text) => gate.sessions.list(auth.auth, text)],
              [
                'keys.create name',
                (text) => gate.keys.create({ projectId, type: 'secret', mode: 'test', name: text }),
              ],
              [
                'keys.create clientId',
                (text) =>
                  gate.keys.create({ projectId, type: 'client', mode: 'test', clientId: text }),
              ],
              ['projects.provision', (text) => gate.projects.provision(text)],
              ['keys.list', (text) => gate.keys.list(text)],
            ]
            for (const text of bad) {
              for (const [what, call] of refusals) {
                calls.length = 0
                await assert.rejects(
                  call(text),
                  (error: unknown) => isPortcullisError(error) && error.code === 'invalid_request',
                  `${what} accepted ${JSON.stringify(text)}`,
                )
                assert.deepEqual(
                  calls,
                  [],
                  `${what} reached the store with ${JSON.stringify(text)}`,
                )
              }
            }
            // Well-formed text beyond ASCII is fine: paired surrogates, accents, CJK.
            const created = await gate.sessions.create(auth.auth, { clientId: 'usér_😀_東京' })
            assert.equal(created.session.clientId, 'usér_😀_東京')
            assert.equal(await gate.sessions.revokeClient(auth.auth, 'usér_😀_東京'), 1)
          } finally {
            await gate.close()
          }
        }),
      )

      itIf(
        options.dumpContents !== undefined,
        'stores no plaintext key or token',
        withGate(async (gate, store) => {
          const { test, live } = await gate.projects.provision(randomProjectId())
          const client = await gate.keys.create({
            projectId: test.secretKey.record.projectId,
            type: 'client',
            mode: 'test',
            clientId: 'dev',
          })
          const server = await gate.authenticate(bearer(live.secretKey.key), {
            credential: 'secret',
          })
          assert.ok(server.ok)
          const { token } = await gate.sessions.create(server.auth, { clientId: 'user_1' })
          await gate.flush()
          const dump = await (options.dumpContents as (store: S) => string | Promise<string>)(store)
          assert.ok(dump.length > 0, 'dumpContents returned nothing')
          const secrets = [
            test.secretKey,
            test.publishableKey,
            live.secretKey,
            live.publishableKey,
            client,
          ]
          for (const { key } of secrets) {
            assert.ok(!dump.includes(key), 'a plaintext key is stored')
            assert.ok(!dump.includes(key.slice(-30)), 'part of a plaintext key is stored')
          }
          assert.ok(!dump.includes(token), 'a session token is stored')
          assert.ok(!dump.includes(token.split('.')[2] as string), 'a token signature is stored')
        }),
      )
    })

    describe('when the backend is down', () => {
      const factory = options.createUnavailableStore
      const within = options.unavailableWithinMs ?? 5000
      itIf(
        factory !== undefined,
        'every operation fails with the typed unavailable error, never "not found"',
        async () => {
          const store = await (factory as () => PortcullisStore | Promise<PortcullisStore>)()
          try {
            const now = Date.now()
            const scope = {
              projectId: randomProjectId(),
              mode: 'test' as const,
              clientId: 'user_1',
            }
            const calls: [string, () => Promise<unknown>][] = [
              ['findKeyByHash', () => store.findKeyByHash(randomHash())],
              ['getKey', () => store.getKey('key_x')],
              ['listKeys', () => store.listKeys(scope.projectId)],
              ['insertKey', () => store.insertKey(makeKey(now))],
              ['setKeyAllowedIps', () => store.setKeyAllowedIps('key_x', [])],
              [
                'rollKey',
                () => store.rollKey({ id: 'key_x', replacement: makeKey(now), oldExpiresAt: now }),
              ],
              ['deleteKey', () => store.deleteKey('key_x')],
              ['recordKeyUsage', () => store.recordKeyUsage([{ id: 'key_x', lastUsedAt: now }])],
              ['insertSession', () => store.insertSession(makeSession(now))],
              ['getSession', () => store.getSession('cs_x')],
              ['touchSession', () => store.touchSession('cs_x', now)],
              ['revokeSession', () => store.revokeSession('cs_x', now)],
              ['revokeClientSessions', () => store.revokeClientSessions(scope, now)],
              ['listClientSessions', () => store.listClientSessions(scope)],
            ]
            for (const [name, call] of calls) {
              const started = performance.now()
              await assert.rejects(
                call(),
                (error: unknown) => {
                  assert.ok(
                    isStoreUnavailableError(error),
                    `${name} rejected with ${String(error)}`,
                  )
                  return true
                },
                `${name} answered instead of failing`,
              )
              const took = performance.now() - started
              assert.ok(
                took <= within,
                `${name} took ${Math.round(took)} ms to fail (limit ${within} ms)`,
              )
            }
            const gate = createPortcullis({
              store,
              sessionSecret: randomBytes(32),
              storeTimeoutMs: within,
            })
            const result = await gate.authenticate(
              {
                headers: {
                  authorization: `Bearer ${createKeyFormat().generate('secret', 'test')}`,
                },
              },
              { credential: 'secret' },
            )
            assert.ok(!result.ok)
            assert.equal(result.error.code, 'store_unavailable')
            // What the caller sees is generic; the details stay on the error for the operator.
            const rendered = toHttpError(result.error)
            assert.equal(rendered.status, 503)
            assert.deepEqual(rendered.body, {
              error: {
                type: 'api_error',
                code: 'store_unavailable',
                message: ERROR_TABLE.store_unavailable.message,
              },
            })
            await gate.close()
          } finally {
            await options.destroyUnavailableStore?.(store)
          }
        },
      )
    })
  })
}
