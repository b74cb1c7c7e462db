/**
 * The reliability suites' size. `npm run test:reliability` sets PORTCULLIS_RELIABILITY=full;
 * the default `npm test` runs a fast subset.
 */
export const FULL = process.env.PORTCULLIS_RELIABILITY === 'full'

/** A fast-check property may take this long (full mode runs ten times the cases). */
export const PROPERTY_TIMEOUT_MS = FULL ? 300_000 : 60_000

/**
 * A file's fast-check budget: each property's numRuns (its full count in full mode, a tenth,
 * rounded up, otherwise), a counter the properties bump per case they actually ran, and the
 * one-line summary the file prints.
 */
export function caseBudget<Name extends string>(fullRuns: Readonly<Record<Name, number>>) {
  const ran = new Map<Name, number>()
  return {
    /** Cases planned in full mode, over every property. */
    fullTotal: (Object.values(fullRuns) as number[]).reduce((sum, n) => sum + n, 0),
    runsOf: (name: Name): number => (FULL ? fullRuns[name] : Math.ceil(fullRuns[name] / 10)),
    counted: (name: Name): void => {
      ran.set(name, (ran.get(name) ?? 0) + 1)
    },
    /** e.g. `1200 generated cases` and `(fast mode: a 100, b 20)` around `extra`. */
    summary(label: string, extra = ''): string {
      const total = [...ran.values()].reduce((sum, n) => sum + n, 0)
      const detail = (Object.keys(fullRuns) as Name[])
        .map((name) => `${name} ${ran.get(name) ?? 0}`)
        .join(', ')
      return `${label}: ${total} generated cases${extra} (${FULL ? 'full' : 'fast'} mode: ${detail})`
    },
  }
}
