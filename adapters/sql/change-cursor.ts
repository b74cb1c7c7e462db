/**
 * Remembers which change numbers (`seq`) a watcher has delivered. Numbers are handed out when a
 * row is inserted but become visible when its transaction commits, so on MySQL and PostgreSQL
 * a later number can appear before an earlier one. The cursor therefore keeps the numbers it
 * skipped over ("gaps") for a while and asks for them again, instead of assuming that
 * everything below the highest number seen has been seen. Gaps that never fill (rolled-back
 * inserts, auto-increment steps) are forgotten after `gapTimeoutMs`.
 */
export class ChangeCursor {
  #highest: number
  readonly #gaps = new Map<number, number>()
  readonly #gapTimeoutMs: number
  readonly #maxGaps: number

  constructor(start: number, gapTimeoutMs = 10_000, maxGaps = 1000) {
    this.#highest = start
    this.#gapTimeoutMs = gapTimeoutMs
    this.#maxGaps = maxGaps
  }

  /** The highest number delivered so far (or the starting point). */
  get highest(): number {
    return this.#highest
  }

  /** Records `seq` as delivered; true if it had not been delivered before. */
  accept(seq: number, now: number = Date.now()): boolean {
    if (seq > this.#highest) {
      // Only a bounded run of skipped numbers is remembered: a huge jump is an id-space
      // change (e.g. auto_increment_offset), not transactions still in flight.
      const from = Math.max(this.#highest + 1, seq - this.#maxGaps)
      for (let missing = from; missing < seq; missing++) this.#gaps.set(missing, now)
      this.#highest = seq
      this.#trim()
      return true
    }
    return this.#gaps.delete(seq)
  }

  /** Numbers skipped recently enough that their transaction may still commit. */
  pendingGaps(now: number = Date.now()): number[] {
    for (const [seq, since] of this.#gaps) {
      if (now - since > this.#gapTimeoutMs) this.#gaps.delete(seq)
    }
    return [...this.#gaps.keys()]
  }

  #trim(): void {
    // Map iteration follows insertion order, so the oldest gaps go first.
    for (const seq of this.#gaps.keys()) {
      if (this.#gaps.size <= this.#maxGaps) break
      this.#gaps.delete(seq)
    }
  }
}
