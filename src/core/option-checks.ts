/*
 * The checks every constructor (the gate, the cache, each store) runs on its numeric options,
 * so a duration or a bound is refused with the same words wherever it is configured.
 */

/**
 * An optional duration option: `fallback` when undefined, else a whole number of milliseconds
 * of at least `min`. `name` says whose option it is, e.g. `SqlStore: pollIntervalMs`.
 */
export function optionalMilliseconds<F extends number | undefined>(
  value: unknown,
  fallback: F,
  name: string,
  min = 0,
): number | F {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${name} must be a whole number of milliseconds, at least ${min}`)
  }
  return value
}

/** An optional count option (a bound, a size): `fallback` when undefined, else at least `min`. */
export function optionalCount(value: unknown, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${name} must be a whole number, at least ${min}`)
  }
  return value
}
