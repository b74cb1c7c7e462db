/**
 * What a {@link SecondChanceCache} value carries: a small integer of flags whose lowest bit,
 * {@link USED}, is set on every hit and cleared as the hand passes; the other bits are the
 * value's own. A plain field, not an accessor: the hit path writes it on every request, and a
 * setter is not always inlined into its caller.
 */
export interface Referenced {
  bits: number
}

/** The bit of {@link Referenced.bits} that marks a value used since the hand last passed it. */
export const USED = 1

/**
 * A bounded map with second-chance ("clock") eviction, for the cache of verified keys.
 *
 * A hit costs one `Map.get` and a flag write: no list to reorder, no options to read, which is
 * what most of an LRU's cost per hit is. When the map is full, the oldest entry goes unless it
 * was used since the hand last passed it; a used one is moved to the newest end with its flag
 * cleared. Entries in use therefore stay, and one never used since insertion is the first to go,
 * as with an LRU; what differs is only the order among entries not used since the hand passed.
 */
export class SecondChanceCache<V extends Referenced> {
  readonly #entries = new Map<string, V>()
  readonly max: number
  /**
   * The hand: an iterator kept between evictions. A Map keeps the slots of deleted entries
   * until it next rehashes, and every entry the hand passes is deleted (evicted, or moved to
   * the newest end), so a fresh iteration would first step over all of them, thousands per
   * eviction in a full cache (`npm run bench:hot`: 7 µs per miss at 10,000 entries and 57 µs
   * at 100,000, against 0.3 and 0.8 µs with the hand kept). It is kept only while evictions
   * follow one another, so that an idle iterator never holds on to a table the Map replaced.
   */
  #hand: MapIterator<[string, V]> | undefined

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new TypeError(`SecondChanceCache: max must be a positive integer, not ${max}`)
    }
    this.max = max
  }

  get size(): number {
    return this.#entries.size
  }

  /** The value for `key`, marked as used; undefined when absent. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) value.bits |= USED
    return value
  }

  /** The value for `key` without marking it used; undefined when absent. */
  peek(key: string): V | undefined {
    return this.#entries.get(key)
  }

  /** Stores `value` as the newest entry, evicting one first when the map is full. */
  set(key: string, value: V): void {
    const entries = this.#entries
    if (entries.delete(key) === false && entries.size >= this.max) this.#evictOne()
    else this.#hand = undefined
    value.bits &= ~USED
    entries.set(key, value)
  }

  /** Every value, in no particular order; the hand does not move. */
  values(): MapIterator<V> {
    return this.#entries.values()
  }

  delete(key: string): boolean {
    return this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
    this.#hand = undefined
  }

  /**
   * Removes the oldest entry not used since the hand last passed it. Used entries on the way
   * move to the newest end, unmarked; after at most one full turn an unmarked one is found.
   * Every live entry lies at or after the hand (it deletes whatever it passes), so resuming it
   * evicts exactly what a fresh iteration from the oldest entry would.
   */
  #evictOne(): void {
    const entries = this.#entries
    for (;;) {
      this.#hand ??= entries.entries()
      const step = this.#hand.next()
      if (step.done === true) {
        // The end of a turn: entries moved to the newest end meanwhile are visited next turn.
        this.#hand = undefined
        continue
      }
      const [key, value] = step.value
      entries.delete(key)
      if ((value.bits & USED) === 0) return
      value.bits &= ~USED
      entries.set(key, value)
    }
  }
}
