import {
  ChangeListeners,
  parseStoreChange,
  type StoreChange,
  StoreUnavailableError,
  type Unwatch,
} from '../../src/index.js'
import type { ChannelSubscriber } from './watch-subscriber.js'

type Listener = (change: StoreChange) => void

/** Announced after the subscriber reconnected: changes published meanwhile were missed. */
const RESET: StoreChange = Object.freeze({ type: 'reset' })

/**
 * The `watch()` side of a RedisStore: one subscription to the change channel, shared by every
 * listener of this store, opened with the first listener and closed after the last.
 */
export class ChannelWatch {
  readonly #subscribe: ChannelSubscriber
  readonly #channel: string
  readonly #listeners = new ChangeListeners()
  /** Counts close() calls, so a watch() that was subscribing meanwhile can tell. */
  #closes = 0
  /** The open (or opening) subscription; resolves to the function that closes it. */
  #subscription: Promise<() => Promise<void>> | null = null

  constructor(subscribe: ChannelSubscriber, channel: string) {
    this.#subscribe = subscribe
    this.#channel = channel
  }

  async watch(listener: Listener): Promise<Unwatch> {
    if (typeof listener !== 'function') {
      throw new TypeError('RedisStore: watch() takes a listener function')
    }
    const remove = this.#listeners.add(listener)
    const closes = this.#closes
    try {
      this.#subscription ??= this.#subscribe(
        this.#channel,
        (message) => this.#deliver(message),
        () => this.#listeners.deliver(RESET),
      )
      await this.#subscription
    } catch (error) {
      await remove()
      if (this.#listeners.size === 0) this.#subscription = null
      throw new StoreUnavailableError(
        `RedisStore: could not subscribe to ${this.#channel}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    }
    if (this.#closes !== closes) {
      // close() ran while this watch() was subscribing: nothing will be delivered to it.
      throw new StoreUnavailableError('RedisStore: the store was closed while watch() subscribed')
    }
    let stopped = false
    return async () => {
      if (stopped) return
      stopped = true
      await remove()
      if (this.#listeners.size === 0) await this.#end()
    }
  }

  /** Ends the subscription and forgets every listener, whoever still listens. */
  async close(): Promise<void> {
    this.#closes++
    this.#listeners.clear()
    await this.#end()
  }

  async #end(): Promise<void> {
    const subscription = this.#subscription
    if (subscription === null) return
    this.#subscription = null
    try {
      await (await subscription)()
    } catch {
      // Nothing is delivered any more either way; a connection that is down has no
      // subscription to end, and the client drops it from its resubscribe list.
    }
  }

  #deliver(message: string): void {
    const change = parseStoreChange(message)
    if (change !== null) this.#listeners.deliver(change)
  }
}
