/**
 * One copy of each repeated text among the records a MemoryStore keeps: a project's id, a key
 * prefix such as `sk_test`, an allowlist entry several keys share. Each arrives as a string of
 * its own (from a request body, a template, a normalization), and a store of many keys would
 * otherwise hold one copy per key, each a heap object the collector marks again at every full
 * collection.
 *
 * Bounded: when it holds `limit` texts it starts afresh, so texts that never repeat (every
 * key's own `/24`, say) cost at most `limit` entries, and records already sharing a copy keep
 * it.
 */
export class TextPool {
  readonly #texts = new Map<string, string>()
  readonly #limit: number

  constructor(limit = 4096) {
    this.#limit = limit
  }

  /** The pooled copy of `text` (equal to it), `text` itself the first time it is seen. */
  share = (text: string): string => {
    const held = this.#texts.get(text)
    if (held !== undefined) return held
    if (this.#texts.size >= this.#limit) this.#texts.clear()
    this.#texts.set(text, text)
    return text
  }

  /** How many texts it holds now. */
  get size(): number {
    return this.#texts.size
  }
}
