import type { StoreChange, Unwatch } from '../../src/index.js'
import type { ChangeSink, Watcher } from './watch-feed.js'

/**
 * Fans one watcher out to every `watch()` listener of a store: the watcher starts with the
 * first listener and stops after the last one left. Starts and stops are queued, so a
 * subscribe racing an unsubscribe never leaves two watchers or none.
 */
export class WatchHub {
  readonly #listeners = new Set<(change: StoreChange) => void>()
  readonly #createWatcher: (sink: ChangeSink) => Watcher
  readonly #onError: (error: unknown) => void
  #watcher: Watcher | null = null
  #queue: Promise<unknown> = Promise.resolve()

  constructor(createWatcher: (sink: ChangeSink) => Watcher, onError: (error: unknown) => void) {
    this.#createWatcher = createWatcher
    this.#onError = onError
  }

  async subscribe(listener: (change: StoreChange) => void): Promise<Unwatch> {
    // Wrapped so that the same function passed twice is two subscriptions.
    const entry = (change: StoreChange) => listener(change)
    this.#listeners.add(entry)
    try {
      await this.#enqueue(() => this.#startIfNeeded())
    } catch (error) {
      this.#listeners.delete(entry)
      throw error
    }
    let subscribed = true
    return async () => {
      if (!subscribed) return
      subscribed = false
      this.#listeners.delete(entry)
      await this.#enqueue(() => this.#stopIfUnused())
    }
  }

  /** Stops the watcher and forgets every listener. */
  async close(): Promise<void> {
    this.#listeners.clear()
    await this.#enqueue(() => this.#stopIfUnused())
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step)
    this.#queue = run.catch(() => {})
    return run
  }

  async #startIfNeeded(): Promise<void> {
    if (this.#watcher !== null || this.#listeners.size === 0) return
    const watcher = this.#createWatcher({
      deliver: (change) => this.#deliver(change),
      error: (error) => this.#onError(error),
    })
    await watcher.start()
    this.#watcher = watcher
  }

  async #stopIfUnused(): Promise<void> {
    if (this.#watcher === null || this.#listeners.size > 0) return
    const watcher = this.#watcher
    this.#watcher = null
    await watcher.stop()
  }

  #deliver(change: StoreChange): void {
    Object.freeze(change)
    for (const listener of [...this.#listeners]) {
      try {
        listener(change)
      } catch (error) {
        // A listener's failure must not stop the others or the watcher.
        this.#onError(error)
      }
    }
  }
}
