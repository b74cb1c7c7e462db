import assert from 'node:assert/strict'
import type { AuthResult } from '../../core/authenticate.js'
import type { PortcullisStore, StoredSession } from '../../core/store.js'
import { makeSession, randomProjectId } from '../fixtures.js'
import { checkTouchAnswers, codesOf, describeRefusals, type TouchAnswer } from './assertions.js'
import {
  bearer,
  createConformanceHarness,
  DAY_MS,
  HOUR_MS,
  provisionBothModes,
  spread,
} from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/** The session races of the `concurrency` group: touches, authentications and revokes. */
export function registerSessionRaces<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { it } = options
  const races = options.raceOperations ?? 1000
  const { withStore, withRaceGate } = createConformanceHarness(options)
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
        assert.equal(answer?.revokedAt, revokedAt, 'a touch after the revoke saw a live session')
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
      const revoking = at(start + idle / 2, () => gate.sessions.revokeClient(testAuth, clientId))
      spread(start + idle / 2 + 1, start + idle - 1, races - half).forEach(use)
      assert.equal(await revoking, revokable.length)
      const later = await Promise.all(
        revokable.map(({ token }) => gate.authenticate(bearer(token), { credential: 'session' })),
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
}
