import assert from 'node:assert/strict'
import type { AuthResult } from '../../core/authenticate.js'
import { isPortcullisError } from '../../core/errors.js'
import type { RolledKey } from '../../core/keys.js'
import type { PortcullisStore } from '../../core/store.js'
import { randomProjectId } from '../fixtures.js'
import { codesOf } from './assertions.js'
import { bearer, createConformanceHarness, HOUR_MS } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/** The key races of the `concurrency` group: rolls racing authentications, allowlist updates and each other. */
export function registerKeyRaces<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { it } = options
  const races = options.raceOperations ?? 1000
  const { withGate, withRaceGate } = createConformanceHarness(options)
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
}
