import { createAddressGuard } from './address-guard.js'
import { createAuthenticator, registerDecision } from './authenticate.js'
import { createKeyOperations } from './keys.js'
import { type PortcullisOptions, resolveOptions } from './options.js'
import { createSessionOperations } from './sessions.js'
import type { Unwatch } from './store.js'

/**
 * Creates the core instance: key management, Client Session Tokens and `authenticate()`,
 * over the store you give it. Framework-free; mount it with `portcullis/express` or
 * `portcullis/koa`, or call `authenticate()` yourself.
 *
 * @example
 * ```ts
 * import { createPortcullis } from 'portcullis'
 * import { MemoryStore } from 'portcullis/adapters/memory'
 *
 * const gate = createPortcullis({ store: new MemoryStore(), sessionSecret: process.env.CST_SECRET! })
 * const { test } = await gate.projects.provision('proj_123')
 * const result = await gate.authenticate(
 *   { headers: { authorization: `Bearer ${test.secretKey.key}` }, remoteAddress: '127.0.0.1' },
 *   { credential: 'secret' },
 * )
 * if (result.ok) console.log(result.auth.mode) // 'test'
 * ```
 */
export function createPortcullis(options: PortcullisOptions) {
  const ctx = resolveOptions(options)
  // Other instances' changes (and this one's) reach the cache through the store's watch().
  const { cache, store } = ctx
  const unwatch: Promise<Unwatch | null> =
    cache !== null && typeof store.watch === 'function'
      ? store
          .watch((change) => cache.apply(change))
          .then((unsubscribe) => {
            cache.feedOpened()
            return unsubscribe
          })
          .catch((error: unknown) => {
            ctx.onError(error)
            return null
          })
      : Promise.resolve(null)
  const { keys, projects } = createKeyOperations(ctx)
  const { authenticate, decide } = createAuthenticator(ctx)
  const gate = {
    /** The limits this gate enforces, for documentation and request validation. */
    limits: Object.freeze({
      idleTimeoutMs: ctx.idleTimeoutMs,
      maxLifetimeMs: ctx.maxLifetimeMs,
      maxGracePeriodMs: ctx.maxGracePeriodMs,
    }),
    /** The gate's time source (epoch ms): `options.clock`, or `Date.now`. */
    clock: ctx.clock,
    projects,
    keys,
    sessions: createSessionOperations(ctx),
    authenticate,
    /**
     * A reusable check of a static allowlist (independent of keys), with the same client-address
     * rules as `authenticate`. Used by the `ipAllowlist` middleware.
     */
    allowlist: createAddressGuard(ctx),
    /** Writes pending `lastUsedAt` values now (they are otherwise batched). */
    flush: (): Promise<void> => ctx.usage.flush(),
    /** Stops background timers and the change subscription, writes pending `lastUsedAt` values. Does not close the store. */
    async close(): Promise<void> {
      await ctx.usage.close()
      await (await unwatch)?.()
      cache?.clear()
    },
  }
  registerDecision(gate, decide)
  return gate
}

/** The core instance returned by {@link createPortcullis}. */
export type Portcullis = ReturnType<typeof createPortcullis>
