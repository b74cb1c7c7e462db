import type { StoreChange, Unwatch } from './store.js'
import { isMode } from './types.js'

const isText = (value: unknown): value is string => typeof value === 'string'

/**
 * Reads a {@link StoreChange} from the JSON a store carried it in (a pub/sub message, a
 * changes-table row, a notification payload). Anything that is not a well-formed change yields
 * null: a backend is shared, so what it delivers is checked rather than trusted (`reset`
 * included: a store announces that itself, on a reconnect). Only the
 * change's own fields are kept (a store may add others, such as a sequence number).
 *
 * @example
 * ```ts
 * subscriber.on('message', (_channel, message) => {
 *   const change = parseStoreChange(message)
 *   if (change !== null) listeners.deliver(change)
 * })
 * ```
 */
export function parseStoreChange(message: string): StoreChange | null {
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const fields = value as Record<string, unknown>
  switch (fields.type) {
    case 'key':
      return isText(fields.keyId) && isText(fields.hash)
        ? { type: 'key', keyId: fields.keyId, hash: fields.hash }
        : null
    case 'session':
      return isText(fields.sessionId) ? { type: 'session', sessionId: fields.sessionId } : null
    case 'client':
      return isText(fields.projectId) && isMode(fields.mode) && isText(fields.clientId)
        ? {
            type: 'client',
            projectId: fields.projectId,
            mode: fields.mode,
            clientId: fields.clientId,
          }
        : null
    default:
      return null
  }
}

/**
 * The listeners of a store's `watch()`, and the fan-out of each change to them. The semantics
 * every store shares (the conformance suite checks them):
 * - each `add` is its own registration: the same function watched twice hears every change
 *   twice, and each returned `Unwatch` removes only its own registration (once);
 * - a change is frozen, then delivered to every listener registered when it arrived;
 * - one listener's failure never keeps a change from the others: it goes to `onError`.
 *
 * @example
 * ```ts
 * class MyStore implements PortcullisStore {
 *   readonly #listeners = new ChangeListeners()
 *   async watch(listener: (change: StoreChange) => void) {
 *     return this.#listeners.add(listener)
 *   }
 *   async deleteKey(id: string) {
 *     // … delete, then:
 *     this.#listeners.deliver({ type: 'key', keyId: id, hash })
 *   }
 * }
 * ```
 */
export class ChangeListeners {
  readonly #registrations = new Set<{ readonly listener: (change: StoreChange) => void }>()
  readonly #onError: (error: unknown) => void

  constructor(onError: (error: unknown) => void = () => {}) {
    this.#onError = onError
  }

  /** How many registrations listen. */
  get size(): number {
    return this.#registrations.size
  }

  /** Registers `listener`; the returned function removes this registration only. */
  add(listener: (change: StoreChange) => void): Unwatch {
    if (typeof listener !== 'function') throw new TypeError('watch() takes a listener function')
    const registration = { listener }
    this.#registrations.add(registration)
    return async () => {
      this.#registrations.delete(registration)
    }
  }

  /** Delivers `change` to every registration. */
  deliver(change: StoreChange): void {
    Object.freeze(change)
    for (const { listener } of [...this.#registrations]) {
      try {
        listener(change)
      } catch (error) {
        this.#onError(error)
      }
    }
  }

  /** Forgets every registration (a store being closed). */
  clear(): void {
    this.#registrations.clear()
  }
}
