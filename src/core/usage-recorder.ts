import { EPOCH_SPAN_MS, smallInteger } from './small-integer.js'
import type { KeyUsage } from './store.js'

/**
 * The newest use of one key, held by whoever records uses of it often (a cached key entry), so
 * that a request costs a field write rather than a map update.
 */
export interface UsageMark {
  readonly id: string
  /**
   * The newest use, in milliseconds after the recorder's epoch (meaningful while `pending`). An
   * offset rather than a timestamp: it stays a small integer, which V8 keeps in the object
   * itself, where a timestamp would be a separate number box, one more memory read per request.
   */
  at: number
  /** Whether the recorder holds this mark for its next batch. */
  pending: boolean
}

/**
 * Keeps `lastUsedAt` without a store write per request: uses are collected in memory and
 * written as one batch at most every `flushIntervalMs` (and on `flush()`), so the stored value
 * lags by at most that interval plus one write. A failed batch is kept for the next one.
 */
export class UsageRecorder {
  readonly #pending = new Map<string, UsageMark>()
  readonly #write: (usage: readonly KeyUsage[]) => Promise<void>
  readonly #clock: () => number
  readonly #flushIntervalMs: number
  readonly #onError: (error: unknown) => void
  #lastFlushAt: number
  /** What marks' `at` counts from; moved on at a flush, when no mark is pending. */
  #epoch: number
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
    this.#epoch = this.#lastFlushAt
  }

  /** A mark for a key's uses, to pass to {@link note}; it holds no use yet. */
  mark(keyId: string): UsageMark {
    return { id: keyId, at: 0, pending: false }
  }

  /** Notes a use of a key by id. */
  record(keyId: string, at: number): void {
    this.note(this.#pending.get(keyId) ?? this.mark(keyId), at)
  }

  /** Notes a use on a mark; starts a background flush when the interval has passed. */
  note(mark: UsageMark, at: number): void {
    let offset = smallInteger(at - this.#epoch)
    if (!mark.pending) {
      // After a long quiet spell nothing is pending either: move the epoch here.
      if (this.#pending.size === 0 && Math.abs(offset) >= EPOCH_SPAN_MS) {
        this.#epoch = at
        offset = 0
      }
      // Its last use is written or being written: this one starts the next batch.
      mark.at = offset
      this.#hold(mark)
    } else if (offset > mark.at) {
      mark.at = offset
    }
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

  /** Puts a mark in the next batch, taking over (and merging) another mark of the same key. */
  #hold(mark: UsageMark): void {
    const other = this.#pending.get(mark.id)
    if (other !== undefined) {
      if (other.at > mark.at) mark.at = other.at
      other.pending = false
    }
    mark.pending = true
    this.#pending.set(mark.id, mark)
  }

  /** The newest known use of a key: the pending one if newer than the stored one. */
  latest(keyId: string, stored: number | null): number | null {
    const mark = this.#pending.get(keyId)
    if (mark === undefined) return stored
    const pending = this.#epoch + mark.at
    return stored === null || pending > stored ? pending : stored
  }

  /** Writes everything pending. Resolves when written; never rejects (errors go to onError). */
  async flush(): Promise<void> {
    while (this.#inFlight !== null) await this.#inFlight
    if (this.#pending.size === 0) return
    const batch: KeyUsage[] = []
    for (const mark of this.#pending.values()) {
      batch.push({ id: mark.id, lastUsedAt: this.#epoch + mark.at })
      mark.pending = false
    }
    this.#pending.clear()
    this.#lastFlushAt = this.#clock()
    // Nothing is pending: offsets can count from now on, staying far from V8's small-integer
    // limit (2^31 ms) however long the process runs.
    if (Math.abs(this.#lastFlushAt - this.#epoch) >= EPOCH_SPAN_MS) {
      this.#epoch = this.#lastFlushAt
    }
    this.#inFlight = this.#write(batch).then(
      () => undefined,
      (error: unknown) => {
        for (const { id, lastUsedAt } of batch) {
          const offset = smallInteger(lastUsedAt - this.#epoch)
          const newer = this.#pending.get(id)
          if (newer === undefined) this.#pending.set(id, { id, at: offset, pending: true })
          else if (newer.at < offset) newer.at = offset
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
