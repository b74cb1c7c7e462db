/** Small order statistics for the benchmark reports. */

/** The median of the values (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

/**
 * The `p`-th percentile (0–100) by linear interpolation between the closest ranks, so that
 * p50 of an even count is the mean of the middle two. NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return percentileOfSorted(sorted, p)
}

/** As {@link percentile}, for values already sorted ascending. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  const lowValue = sorted[low] as number
  const highValue = sorted[high] as number
  return lowValue + (highValue - lowValue) * (rank - low)
}

/**
 * A percentile bootstrap interval for a statistic of `count` independent units (cycles of a
 * benchmark, say): the statistic is recomputed on `resamples` resamplings of the units with
 * replacement, and the central `confidence` share of those values is returned. The resampling
 * is seeded, so the same measurements always give the same interval.
 */
export function bootstrapInterval(
  count: number,
  statistic: (units: readonly number[]) => number,
  options: BootstrapOptions = {},
): { low: number; high: number } {
  return nestedBootstrapInterval([count], ([units]) => statistic(units ?? []), options)
}

export interface BootstrapOptions {
  readonly confidence?: number
  readonly resamples?: number
  readonly seed?: number
}

/**
 * As {@link bootstrapInterval}, for a statistic of several independent sets of units at once
 * (the cycles of a benchmark, and the processes each variant ran in, say): every resample
 * draws each set with replacement, `counts[i]` indices from `0 … counts[i] - 1`, and hands the
 * draws to `statistic` in the same order. Variation of every set then shows in the interval.
 */
export function nestedBootstrapInterval(
  counts: readonly number[],
  statistic: (draws: readonly (readonly number[])[]) => number,
  { confidence = 0.9, resamples = 4000, seed = 1 }: BootstrapOptions = {},
): { low: number; high: number } {
  if (counts.length === 0 || counts.some((count) => count < 1) || Math.max(...counts) < 2) {
    return { low: Number.NaN, high: Number.NaN }
  }
  let state = seed >>> 0
  // mulberry32: small, fast, and good enough to draw resampling indices.
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const values = new Float64Array(resamples)
  const draws = counts.map((count) => new Array<number>(count))
  for (let r = 0; r < resamples; r++) {
    for (const [set, count] of counts.entries()) {
      const draw = draws[set] as number[]
      for (let i = 0; i < count; i++) draw[i] = Math.floor(random() * count)
    }
    values[r] = statistic(draws)
  }
  values.sort()
  const tail = ((1 - confidence) / 2) * 100
  return { low: percentileOfSorted(values, tail), high: percentileOfSorted(values, 100 - tail) }
}

/** Formats a number with a fixed count of decimals, or an em dash when it is not finite. */
export function fixed(value: number, decimals: number): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : '—'
}

/** Formats an integer with thousands separators (`12,345`). */
export function grouped(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—'
}

/** A difference with its sign (`+1.2`, `−0.5`), or an em dash when it is not finite. */
export function signed(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return '—'
  return `${value < 0 ? '−' : '+'}${fixed(Math.abs(value), decimals)}`
}

/** A ratio as `1.23×`. */
export function times(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—'
}
