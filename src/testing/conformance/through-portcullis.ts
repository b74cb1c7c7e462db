import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { isPortcullisError } from '../../core/errors.js'
import { createPortcullis } from '../../core/portcullis.js'
import type { PortcullisStore } from '../../core/store.js'
import { randomProjectId } from '../fixtures.js'
import { bearer, createConformanceHarness, DAY_MS, HOUR_MS, provisionBothModes } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `through createPortcullis` group of the storage conformance suite: sliding
 * and capped sessions, revocation, modes, key rolls and ill-formed text, end to end through a
 * real `createPortcullis` instance over your store; with `dumpContents`, that no plaintext key
 * or token is stored.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeThroughPortcullisConformance } from 'portcullis/testing'
 *
 * // Every method works on its own: now check them together, end to end.
 * describe('MyStore', () => {
 *   describeThroughPortcullisConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     dumpContents: (store) => JSON.stringify(store.entries()),
 *   })
 * })
 * ```
 */
export function describeThroughPortcullisConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe, it } = options
  const { itIf, withStore, withGate } = createConformanceHarness(options)
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
              assert.deepEqual(calls, [], `${what} reached the store with ${JSON.stringify(text)}`)
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
}
