/**
 * `n` as a small integer when it is one. A difference of two timestamps is a boxed number in
 * V8 even when it is whole, and one such value stored in a field turns that field into a
 * separate number box in every object of its shape: one more memory read each time it is
 * read. `| 0` gives a small integer (a Smi, kept in the object itself); a fraction, or anything
 * beyond 2^31, is returned as it is.
 */
export function smallInteger(n: number): number {
  const truncated = n | 0
  return truncated === n ? truncated : n
}

/**
 * How far the clock may move from an epoch before times stored as offsets from it count from
 * a new one: a day, well inside the 2^31 ms (24.8 days) a small integer holds.
 */
export const EPOCH_SPAN_MS = 86_400_000
