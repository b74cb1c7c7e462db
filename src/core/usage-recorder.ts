import type { KeyUsage } from './store.js'

/**
 * Keeps `lastUsedAt` without a store write per request: uses are collected in memory and
 * written as one batch at most every `flushIntervalMs` (and on `flush()`), so the stored value
 * lags by at most that interval plus one write. A failed batch is kept for the next one.
 */
export class UsageRecorder {
  readonly #pending = new Map<string, number>()
  readonly #write: (usage: readonly KeyUsage[]) => Promise<void>
  readonly #clock: () => number
  readonly #flushIntervalMs: number
  readonly #onError: (error: unknown) => void
  #lastFlushAt: number
  #inFlight: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null

  constructor(options: {
    write: (usage: readonly KeyUsage[]) => Promise<void>
    clock: () => number
    flushIntervalMs: number
    onError: (error: unknown) => void
  }) {
    this.#write = options.write
    this.#clock = options.clock
    this.#flushIntervalMs = options.flushIntervalMs
    this.#onError = options.onError
    this.#lastFlushAt = options.clock()
  }

  /** Notes a use; starts a background flush when the interval has passed. */
  record(keyId: string, at: number): void {
    const previous = this.#pending.get(keyId)
    if (previous === undefined || at > previous) this.#pending.set(keyId, at)
    if (at - this.#lastFlushAt >= this.#flushIntervalMs) {
      void this.flush()
    } else if (this.#timer === null) {
      // Real-time fallback so a last burst of traffic is written even if no request follows.
      this.#timer = setTimeout(() => {
        this.#timer = null
        void this.flush()
      }, this.#flushIntervalMs)
      this.#timer.unref()
    }
  }

  /** The newest known use of a key: the pending one if newer than the stored one. */
  latest(keyId: string, stored: number | null): number | null {
    const pending = this.#pending.get(keyId)
    if (pending === undefined) return stored
    return stored === null || pending > stored ? pending : stored
  }

  /** Writes everything pending. Resolves when written; never rejects (errors go to onError). */
  async flush(): Promise<void> {
    while (this.#inFlight !== null) await this.#inFlight
    if (this.#pending.size === 0) return
    const batch = [...this.#pending].map(([id, lastUsedAt]) => ({ id, lastUsedAt }))
    this.#pending.clear()
    this.#lastFlushAt = this.#clock()
    this.#inFlight = this.#write(batch).then(
      () => undefined,
      (error: unknown) => {
        for (const { id, lastUsedAt } of batch) {
          const newer = this.#pending.get(id)
          if (newer === undefined || newer < lastUsedAt) this.#pending.set(id, lastUsedAt)
        }
        this.#onError(error)
      },
    )
    try {
      await this.#inFlight
    } finally {
      this.#inFlight = null
    }
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    await this.flush()
  }
}
