import { describe, expect, it } from 'vitest'
import { optionalCount, optionalMilliseconds } from './option-checks.js'

describe('numeric option checks', () => {
  it('takes the fallback for undefined and a whole number at or above the minimum', () => {
    expect(optionalMilliseconds(undefined, 250, 'SqlStore: pollIntervalMs', 10)).toBe(250)
    expect(optionalMilliseconds(10, 250, 'SqlStore: pollIntervalMs', 10)).toBe(10)
    expect(optionalMilliseconds(0, 60_000, 'MemoryStore: sweepIntervalMs')).toBe(0)
    expect(optionalCount(undefined, 5, 'cache.maxEntries')).toBe(5)
  })

  it('refuses anything else with one wording, naming whose option it is', () => {
    for (const bad of [9, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, '100', null]) {
      expect(() => optionalMilliseconds(bad, 250, 'SqlStore: pollIntervalMs', 10)).toThrow(
        new TypeError(
          'SqlStore: pollIntervalMs must be a whole number of milliseconds, at least 10',
        ),
      )
    }
    expect(() => optionalCount(0, 5, 'cache.maxMisses')).toThrow(
      new TypeError('cache.maxMisses must be a whole number, at least 1'),
    )
  })
})
