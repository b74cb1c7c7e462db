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
 * a batch collects the pending slots by scanning the table's flags, merging the slots and
 * uses of one key. A use noted by id alone, a slot freed while pending, and a batch that
 * failed are kept by id. Nothing is held per key beside the table: an index of the pending
 * slots by id is built only when {@link latest} is asked (the key listings), then kept up to
 * date as slots are flagged, and dropped when one is unflagged.
 */
export class UsageRecorder {
  /** Newest uses kept by key id (noted by id alone, of freed slots, of failed batches). */
  readonly #byId = new Map<string, number>()
  /** The key table whose slots the recorder reads (one per gate). */
  #table: KeyTable | null = null
  /** Slots flagged {@link PENDING} since the last batch (some may have been freed since). */
  #pendingSlots = 0
  /**
   * The pending slots by key id, for {@link latest}: built on demand, kept up to date as slots
   * are flagged, dropped (null) when one is unflagged. A key pending in two slots (rare) maps
   * to -1, and is looked up.
   */
  #index: Map<string, number> | null = null
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

  /** Puts a slot in the next batch. Other uses of the same key are merged when it is written. */
  #hold(table: KeyTable, slot: number, at: number): void {
    if (this.#table !== table) this.#bind(table)
    table.at[slot] = at
    table.flag(slot, PENDING, true)
    this.#pendingSlots++
    const index = this.#index
    if (index !== null) {
      // Another entry for the id is another pending slot: a freed one would have dropped it.
      const id = table.idOf(slot)
      index.set(id, index.has(id) ? -1 : slot)
    }
  }

  #bind(table: KeyTable): void {
    if (this.#table !== null) throw new Error('UsageRecorder: slots of a second key table')
    this.#table = table
    table.onReleasePending = (slot) => {
      // The slot is about to be freed: its use is kept by id.
      this.#keep(table.idOf(slot), table.at[slot] as number)
      table.flag(slot, PENDING, false)
      this.#index = null
    }
  }

  /** Keeps `at` as the newest use of `keyId` by id, if it is newer than the one held. */
  #keep(keyId: string, at: number): void {
    const held = this.#byId.get(keyId)
    if (held === undefined || at > held) this.#byId.set(keyId, at)
  }

  /** The newest known use of a key: the pending one if newer than the stored one. */
  latest(keyId: string, stored: number | null): number | null {
    let newest = newer(stored, this.#byId.get(keyId))
    const table = this.#table
    if (table === null || this.#pendingSlots === 0) return newest
    const slot = this.#indexOf(table).get(keyId)
    if (slot === undefined) return newest
    if (slot >= 0) return newer(newest, table.at[slot])
    for (const each of pendingSlots(table)) {
      if (table.idOf(each) === keyId) newest = newer(newest, table.at[each])
    }
    return newest
  }

  #indexOf(table: KeyTable): Map<string, number> {
    if (this.#index !== null) return this.#index
    const index = new Map<string, number>()
    for (const slot of pendingSlots(table)) {
      const id = table.idOf(slot)
      index.set(id, index.has(id) ? -1 : slot)
    }
    this.#index = index
    return index
  }

  /** Writes everything pending. Resolves when written; never rejects (errors go to onError). */
  async flush(): Promise<void> {
    while (this.#inFlight !== null) await this.#inFlight
    if (this.#byId.size === 0 && this.#pendingSlots === 0) return
    // One entry per key: the newest of its uses kept by id and in every slot pending for it.
    const newest = new Map(this.#byId)
    this.#byId.clear()
    const table = this.#table
    if (table !== null && this.#pendingSlots > 0) {
      for (const slot of pendingSlots(table)) {
        const id = table.idOf(slot)
        newest.set(id, newer(newest.get(id) ?? null, table.at[slot]) as number)
        table.flag(slot, PENDING, false)
      }
    }
    this.#pendingSlots = 0
    this.#index = null
    const batch: KeyUsage[] = []
    for (const [id, lastUsedAt] of newest) batch.push({ id, lastUsedAt })
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

/** The slots of `table` flagged {@link PENDING}, in order (read as the flags stand then). */
function* pendingSlots(table: KeyTable): Generator<number> {
  for (let slot = 0; slot < table.bits.length; slot++) {
    if (((table.bits[slot] as number) & PENDING) !== 0) yield slot
  }
}

/** The later of a known use (or none) and another (or none). */
function newer(known: number | null, other: number | undefined): number | null {
  return other !== undefined && (known === null || other > known) ? other : known
}
