import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ERROR_TABLE, isStoreUnavailableError } from '../../core/errors.js'
import { toHttpError } from '../../core/http.js'
import { createKeyFormat } from '../../core/key-format.js'
import { createPortcullis } from '../../core/portcullis.js'
import type { PortcullisStore } from '../../core/store.js'
import { makeKey, makeSession, randomHash, randomProjectId } from '../fixtures.js'
import { createConformanceHarness } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `when the backend is down` group of the storage conformance suite: with the
 * backend unreachable, every operation fails promptly with the typed unavailable error (never
 * "not found"), which a gate answers as 503 `store_unavailable`. Reported as skipped unless
 * `createUnavailableStore` is given.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeOutageConformance } from 'portcullis/testing'
 *
 * // Check how MyStore fails while its server is unreachable.
 * describe('MyStore', () => {
 *   describeOutageConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *     createUnavailableStore: () => new MyStore({ url: 'redis://127.0.0.1:1' }),
 *   })
 * })
 * ```
 */
export function describeOutageConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe } = options
  const { itIf } = createConformanceHarness(options)
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
            ['updateKey', () => store.updateKey('key_x', { allowedIps: [] })],
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
                assert.ok(isStoreUnavailableError(error), `${name} rejected with ${String(error)}`)
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
}
