import type { GateCore } from './options.js'
import type { StoreChange, Unwatch } from './store.js'

/**
 * `code` of the warning a gate gives, once, when other instances' changes cannot reach its
 * cache: the store has no `watch()`, or it failed to start. Sent to `onError` and, when no
 * `onError` was given, to `process.emitWarning`.
 */
export const NO_CHANGE_FEED = 'PORTCULLIS_NO_CHANGE_FEED'

/** Backoff between attempts to start a change feed that failed. */
const FEED_RETRY_MIN_MS = 1000
const FEED_RETRY_MAX_MS = 30_000

const RESET: StoreChange = Object.freeze({ type: 'reset' })

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Subscribes the cache to the store's `watch()`, so that changes made on other instances drop
 * its entries at once. Without a feed the cache's ttl is the only bound, and the gate says so
 * once (never silently): a feed that failed (the store was down, say) is retried with
 * backoff until it starts; a store without `watch()`, or one whose `watch()` throws a
 * `TypeError` (a misconfiguration), is not.
 */
export function subscribeCache(core: GateCore, userOnError: boolean): { close(): Promise<void> } {
  const { cache, store } = core
  // Without a cache every request asks the store: nothing can be stale.
  if (cache === null) return { close: async () => {} }
  let warned = false
  const report = (error: unknown) => {
    try {
      core.onError(error)
    } catch {
      // A throwing onError must not break the gate's construction or its feed.
    }
  }
  const warn = (reason: string, fix: string, cause?: unknown) => {
    if (warned) return
    warned = true
    const message =
      `portcullis: ${reason}, so a key rolled or deleted, or a session revoked, on another ` +
      `instance is still accepted by this one for up to ${cache.ttlMs} ms (cache.ttlMs). ${fix}`
    const warning = Object.assign(new Error(message, cause === undefined ? {} : { cause }), {
      name: 'PortcullisWarning',
      code: NO_CHANGE_FEED,
    })
    report(warning)
    if (!userOnError && typeof process === 'object' && typeof process.emitWarning === 'function') {
      process.emitWarning(message, { type: 'PortcullisWarning', code: NO_CHANGE_FEED })
    }
  }
  if (typeof store.watch !== 'function') {
    warn(
      'the store has no change feed (no watch() method)',
      'Use a store with watch() (MemoryStore, RedisStore, SqlStore), or lower cache.ttlMs ' +
        '(cache: false asks the store on every request) if that is too long.',
    )
    return { close: async () => {} }
  }
  const watch = store.watch.bind(store)
  const listener = (change: StoreChange) => cache.apply(change)
  let closed = false
  let unwatch: Unwatch | null = null
  let attempt: Promise<void> = Promise.resolve()
  let retry: ReturnType<typeof setTimeout> | null = null
  let retryInMs = FEED_RETRY_MIN_MS
  const start = () => {
    // The executor also turns a synchronous throw of watch() into a rejection.
    attempt = new Promise<Unwatch>((resolve) => resolve(watch(listener))).then(
      async (stop) => {
        if (closed) {
          await stop()
          return
        }
        unwatch = stop
        // What was cached before the feed was live may have missed a change made meanwhile:
        // start over from the store, then trust entries for the longer, watched ttl.
        cache.apply(RESET)
        cache.feedOpened()
      },
      (error: unknown) => {
        if (closed) return
        // A TypeError is a misconfiguration (say a RedisStore that cannot open a subscriber):
        // retrying would not help. Anything else may be an outage that ends.
        const retryable = !(error instanceof TypeError)
        if (warned) {
          report(error)
        } else {
          warn(
            `the store's change feed (watch()) did not start: ${messageOf(error)}`,
            retryable
              ? 'It is retried in the background; this bound holds until it starts.'
              : 'Fix the store configuration as the error says, or lower cache.ttlMs if that is too long.',
            error,
          )
        }
        if (!retryable) return
        retry = setTimeout(() => {
          retry = null
          start()
        }, retryInMs)
        // Background work: never keeps the process alive on its own.
        retry.unref?.()
        retryInMs = Math.min(retryInMs * 2, FEED_RETRY_MAX_MS)
      },
    )
  }
  start()
  return {
    async close() {
      closed = true
      if (retry !== null) clearTimeout(retry)
      retry = null
      // An attempt still under way ends its own subscription once it sees `closed`.
      await attempt.catch(report)
      const stop = unwatch
      unwatch = null
      await stop?.()
    },
  }
}
