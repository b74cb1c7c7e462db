import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { AuthResult } from '../../core/authenticate.js'
import { createPortcullis } from '../../core/portcullis.js'
import type { Portcullis } from '../../core/portcullis-interface.js'
import type { PortcullisStore } from '../../core/store.js'
import { randomProjectId } from '../fixtures.js'
import { bearer, createConformanceHarness } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

const RESOURCES = ['charges', 'customers']

/**
 * Registers the `across instances` group of the storage conformance suite: two gates, one over
 * your store and one over a peer on the same backend (`createPeerStore`), each with its cache
 * on; a key updated or rolled through one stops being admitted as it was by the other within
 * `watchWithinMs`. Reported as skipped unless `capabilities.watch` is set.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeAcrossInstancesConformance } from 'portcullis/testing'
 *
 * describe('MyStore', () => {
 *   describeAcrossInstancesConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     createPeerStore: (_store, { clock }) => new MyStore({ clock: clock.now }),
 *     capabilities: { watch: true },
 *   })
 * })
 * ```
 */
export function describeAcrossInstancesConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe } = options
  const canWatch = options.capabilities?.watch === true
  const { itIf, withStore } = createConformanceHarness(options)
  const within = options.watchWithinMs ?? 2000

  /** Instance A over the store, instance B over a peer store on the same backend. */
  const withTwoGates = (body: (a: Portcullis, b: Portcullis) => Promise<void>) =>
    withStore(async (store, clock) => {
      const peer = options.createPeerStore ? await options.createPeerStore(store, { clock }) : store
      const sessionSecret = randomBytes(32)
      const make = (over: PortcullisStore) =>
        createPortcullis({ store: over, sessionSecret, clock: clock.now, resources: RESOURCES })
      const a = make(store)
      const b = make(peer)
      try {
        await body(a, b)
      } finally {
        await a.close()
        await b.close()
        if (peer !== store) await options.destroyStore?.(peer)
      }
    })

  /** Asks `gate` until `expected` holds, for at most `within` ms; returns the last answer. */
  async function until(
    ask: () => Promise<AuthResult>,
    expected: (result: AuthResult) => boolean,
  ): Promise<AuthResult> {
    const deadline = Date.now() + within
    for (;;) {
      const result = await ask()
      if (expected(result) || Date.now() >= deadline) return result
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  const code = (result: AuthResult) => (result.ok ? 'ok' : result.error.code)

  describe('across instances', () => {
    itIf(
      canWatch,
      'a restricted key’s permissions changed on one instance change what the other admits',
      withTwoGates(async (a, b) => {
        const { key, record } = await a.keys.create({
          projectId: randomProjectId(),
          type: 'restricted',
          mode: 'live',
          permissions: { charges: 'read' },
          metadata: { owner: 'ci' },
        })
        const write = () =>
          b.authenticate(bearer(key), { credential: 'secret', permission: 'charges:write' })
        const read = () =>
          b.authenticate(bearer(key), { credential: 'secret', permission: 'charges:read' })
        // Cached on B: read is granted, write is not.
        assert.equal(code(await read()), 'ok')
        assert.equal(code(await write()), 'permission_denied')
        await a.keys.update(record.id, { permissions: { charges: 'write' } })
        assert.equal(code(await until(write, (r) => r.ok)), 'ok', 'B never saw the grant')
        await a.keys.update(record.id, { permissions: { customers: 'read' }, metadata: null })
        const revoked = await until(read, (r) => !r.ok)
        assert.equal(code(revoked), 'permission_denied', 'B kept the old grant')
        const customers = await b.authenticate(bearer(key), {
          credential: 'secret',
          permission: 'customers:read',
        })
        assert.ok(customers.ok)
        assert.deepEqual(customers.auth.permissions, { customers: 'read' })
        assert.deepEqual(customers.auth.metadata, {})
      }),
    )

    itIf(
      canWatch,
      'a restricted key rolled on one instance is refused by the other, and its successor keeps its grant',
      withTwoGates(async (a, b) => {
        const { key, record } = await a.keys.create({
          projectId: randomProjectId(),
          type: 'restricted',
          mode: 'test',
          permissions: { customers: 'write' },
          metadata: { owner: 'contractor' },
        })
        const use = (credential: string) => () =>
          b.authenticate(bearer(credential), { credential: 'secret', permission: 'customers:read' })
        assert.equal(code(await use(key)()), 'ok')
        const rolled = await a.keys.roll(record.id)
        assert.equal(code(await until(use(key), (r) => !r.ok)), 'api_key_expired')
        const successor = await use(rolled.key)()
        assert.ok(successor.ok, 'the successor was refused')
        assert.deepEqual(successor.auth.permissions, { customers: 'write' })
        assert.deepEqual(successor.auth.metadata, { owner: 'contractor' })
      }),
    )
  })
}
