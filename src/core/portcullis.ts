import { createAddressGuard } from './address-guard.js'
import { createAuthenticator } from './authenticate.js'
import { subscribeCache } from './cache-subscription.js'
import { createKeyOperations } from './keys.js'
import { type PortcullisOptions, resolveOptions } from './options.js'
import { CLIENT_SESSIONS } from './permissions.js'
import { DECIDER, type Portcullis } from './portcullis-interface.js'
import { createSessionOperations } from './sessions.js'

export type { Portcullis } from './portcullis-interface.js'

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
export function createPortcullis(options: PortcullisOptions): Portcullis {
  const core = resolveOptions(options)
  const { cache } = core
  // Other instances' changes (and this one's) reach the cache through the store's watch().
  const feed = subscribeCache(core, options.onError !== undefined)
  const { keys, projects } = createKeyOperations(core)
  const { authenticate, prepare } = createAuthenticator(core)
  return {
    limits: Object.freeze({
      idleTimeoutMs: core.idleTimeoutMs,
      maxLifetimeMs: core.maxLifetimeMs,
      maxGracePeriodMs: core.maxGracePeriodMs,
    }),
    // The platform's resources first, then the built-in one.
    resources: Object.freeze([
      ...[...core.resources].filter((resource) => resource !== CLIENT_SESSIONS),
      CLIENT_SESSIONS,
    ]),
    clock: core.clock,
    projects,
    keys,
    sessions: createSessionOperations(core),
    authenticate,
    allowlist: createAddressGuard(core),
    flush: (): Promise<void> => core.usage.flush(),
    async close(): Promise<void> {
      await core.usage.close()
      await feed.close()
      cache?.clear()
    },
    [DECIDER]: prepare,
  }
}
