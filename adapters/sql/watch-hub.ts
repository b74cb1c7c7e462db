import { ChangeListeners, type StoreChange, type Unwatch } from '../../src/index.js'
import type { ChangeSink, Watcher } from './watch-table.js'

/**
 * Fans one watcher out to every `watch()` listener of a store: the watcher starts with the
 * first listener and stops after the last one left. Starts and stops are queued, so a
 * subscribe racing an unsubscribe never leaves two watchers or none.
 */
export class WatchHub {
  readonly #listeners: ChangeListeners
  readonly #createWatcher: (sink: ChangeSink) => Watcher
  readonly #onError: (error: unknown) => void
  #watcher: Watcher | null = null
  #queue: Promise<unknown> = Promise.resolve()

  constructor(createWatcher: (sink: ChangeSink) => Watcher, onError: (error: unknown) => void) {
    this.#createWatcher = createWatcher
    this.#onError = onError
    // A listener's failure must not stop the others or the watcher.
    this.#listeners = new ChangeListeners(onError)
  }

  async subscribe(listener: (change: StoreChange) => void): Promise<Unwatch> {
    const remove = this.#listeners.add(listener)
    try {
      await this.#enqueue(() => this.#startIfNeeded())
    } catch (error) {
      await remove()
      throw error
    }
    let subscribed = true
    return async () => {
      if (!subscribed) return
      subscribed = false
      await remove()
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
      deliver: (change) => this.#listeners.deliver(change),
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
}
