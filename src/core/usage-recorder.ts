import type { KeyTable } from './key-table.js'
import * as keyTable from './key-table.js'
import type { KeyUsage } from './store.js'

/** This module's own constant: V8 compiles it into the code, where it loads an imported one. */
const { PENDING } = keyTable

/**
 * Keeps `lastUsedAt` without a store write per request: uses are collected in memory and
 * written as one batch at most every `flushIntervalMs` (and on `flush()`), so the stored value
 * lags by at most that interval plus one write. A failed batch is kept for the next one.
 *
 * A cached key's newest use is kept in its slot of the gate's {@link KeyTable} (its `at`, and
 * the {@link PENDING} flag), so that a request costs an array write rather than a map update;
 * the recorder indexes those slots by key id once per batch. A use noted by id alone, a slot
 * freed while pending, and a batch that failed are kept by id.
 */
export class UsageRecorder {
  /** Newest uses of keys that have no pending slot, by key id. */
  readonly #byId = new Map<string, number>()
  /** The pending slots of {@link #table}, by key id. */
  readonly #slots = new Map<string, number>()
  /** The key table whose slots the recorder reads (one per gate). */
  #table: KeyTable | null = null
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

  /** Notes a use of a key by id. */
  record(keyId: string, at: number): void {
    this.#keep(keyId, at)
    this.#schedule(at)
  }

  /** Notes a use of the key in a slot of `table`; starts a background flush when due. */
  note(table: KeyTable, slot: number, at: number): void {
    if (((table.bits[slot] as number) & PENDING) === 0) this.#hold(table, slot, at)
    else if (at > (table.at[slot] as number)) table.at[slot] = at
    this.#schedule(at)
  }

  #schedule(at: number): void {
    if (at - this.#lastFlushAt >= this.#flushIntervalMs) void this.flush()
    else if (this.#timer === null) this.#startTimer()
  }

  /**
   * Real-time fallback so a last burst of traffic is written even if no request follows. A
   * method of its own: the timer's callback is a closure over `this`, and V8 allocates the
   * context a closure needs on every call of the function that makes it, so made in `#schedule`
   * it would cost every decision an allocation.
   */
  #startTimer(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.flush()
    }, this.#flushIntervalMs)
    this.#timer.unref()
  }

  /**
   * Puts a slot in the next batch, taking over (and merging) any other use of the same key
   * held: by id, or in another slot (a key read again while a change was announced is decided
   * on a slot of its own).
   */
  #hold(table: KeyTable, slot: number, at: number): void {
    if (this.#table !== table) this.#bind(table)
    const id = table.idOf(slot)
    let newest = at
    const byId = this.#byId.get(id)
    if (byId !== undefined) {
      if (byId > newest) newest = byId
      this.#byId.delete(id)
    }
    const other = this.#slots.get(id)
    if (other !== undefined) {
      const otherAt = table.at[other] as number
      if (otherAt > newest) newest = otherAt
      table.flag(other, PENDING, false)
    }
    table.at[slot] = newest
    table.flag(slot, PENDING, true)
    this.#slots.set(id, slot)
  }

  #bind(table: KeyTable): void {
    if (this.#table !== null) throw new Error('UsageRecorder: slots of a second key table')
    this.#table = table
    table.onReleasePending = (slot) => {
      // The slot is about to be freed: its use is kept by id.
      const id = table.idOf(slot)
      if (this.#slots.get(id) === slot) {
        this.#slots.delete(id)
        this.#keep(id, table.at[slot] as number)
      }
      table.flag(slot, PENDING, false)
    }
  }

  /** Keeps `at` as the newest use of `keyId` if it is newer than the one held. */
  #keep(keyId: string, at: number): void {
    const slot = this.#slots.get(keyId)
    const table = this.#table
    if (slot !== undefined && table !== null) {
      if (at > (table.at[slot] as number)) table.at[slot] = at
      return
    }
    const held = this.#byId.get(keyId)
    if (held === undefined || at > held) this.#byId.set(keyId, at)
  }

  /** The newest known use of a key: the pending one if newer than the stored one. */
  latest(keyId: string, stored: number | null): number | null {
    const slot = this.#slots.get(keyId)
    const pending =
      slot !== undefined && this.#table !== null
        ? (this.#table.at[slot] as number)
        : this.#byId.get(keyId)
    if (pending === undefined) return stored
    return stored === null || pending > stored ? pending : stored
  }

  /** Writes everything pending. Resolves when written; never rejects (errors go to onError). */
  async flush(): Promise<void> {
    while (this.#inFlight !== null) await this.#inFlight
    if (this.#byId.size === 0 && this.#slots.size === 0) return
    const batch: KeyUsage[] = []
    for (const [id, lastUsedAt] of this.#byId) batch.push({ id, lastUsedAt })
    this.#byId.clear()
    const table = this.#table
    if (table !== null) {
      for (const [id, slot] of this.#slots) {
        batch.push({ id, lastUsedAt: table.at[slot] as number })
        table.flag(slot, PENDING, false)
      }
    }
    this.#slots.clear()
    this.#lastFlushAt = this.#clock()
    this.#inFlight = this.#write(batch).then(
      () => undefined,
      (error: unknown) => {
        for (const { id, lastUsedAt } of batch) this.#keep(id, lastUsedAt)
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
