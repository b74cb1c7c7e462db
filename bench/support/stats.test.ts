import { describe, expect, it } from 'vitest'
import { bootstrapInterval, nestedBootstrapInterval, signed } from './stats.js'

const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / values.length

describe('bootstrap intervals', () => {
  const cycles = [0.9, 1.0, 1.1, 1.0, 0.95, 1.05, 1.0, 0.98]

  it('brackets the statistic of the whole sample, and is the same every time (seeded)', () => {
    const interval = bootstrapInterval(cycles.length, (units) =>
      mean(units.map((unit) => cycles[unit] as number)),
    )
    expect(interval.low).toBeLessThan(mean(cycles))
    expect(interval.high).toBeGreaterThan(mean(cycles))
    expect(interval.high).toBeLessThan(1.1)
    expect(
      bootstrapInterval(cycles.length, (units) =>
        mean(units.map((unit) => cycles[unit] as number)),
      ),
    ).toEqual(interval)
  })

  it('draws one set exactly as the single-set interval does', () => {
    const statistic = (units: readonly number[]) =>
      mean(units.map((unit) => cycles[unit] as number))
    expect(nestedBootstrapInterval([cycles.length], ([units = []]) => statistic(units))).toEqual(
      bootstrapInterval(cycles.length, statistic),
    )
  })

  it('widens with the spread of a second set', () => {
    // Each value is a cycle's effect times a process's own speed.
    const statistic = (speeds: readonly number[]) => (draws: readonly (readonly number[])[]) => {
      const [cycleDraw = [], processDraw = []] = draws
      return mean(
        cycleDraw.flatMap((cycle) =>
          processDraw.map((index) => (cycles[cycle] as number) * (speeds[index] as number)),
        ),
      )
    }
    const same = nestedBootstrapInterval([cycles.length, 3], statistic([1, 1, 1]))
    const apart = nestedBootstrapInterval([cycles.length, 3], statistic([0.9, 1, 1.1]))
    expect(apart.high - apart.low).toBeGreaterThan(same.high - same.low)
  })

  it('has no interval for fewer than two units', () => {
    const interval = nestedBootstrapInterval([1, 1], () => 1)
    expect(interval.low).toBeNaN()
    expect(interval.high).toBeNaN()
  })
})

describe('signed', () => {
  it('writes a difference with its sign, and a dash for what is not a number', () => {
    expect(signed(1.25, 1)).toBe('+1.3')
    expect(signed(0, 2)).toBe('+0.00')
    expect(signed(-0.5, 1)).toBe('−0.5')
    expect(signed(Number.NaN, 1)).toBe('—')
  })
})
