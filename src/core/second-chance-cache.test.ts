import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SecondChanceCache } from './second-chance-cache.js'

const entry = (name: string) => ({ name, bits: 0 })
type Entry = ReturnType<typeof entry>

function filled(max: number, names: string[]): SecondChanceCache<Entry> {
  const cache = new SecondChanceCache<Entry>(max)
  for (const name of names) cache.set(name, entry(name))
  return cache
}

describe('SecondChanceCache', () => {
  it('never holds more than max entries', () => {
    const cache = new SecondChanceCache<Entry>(3)
    for (let i = 0; i < 100; i++) {
      cache.set(`k${i}`, entry(`k${i}`))
      if (i % 3 === 0) cache.get(`k${i}`)
      expect(cache.size).toBeLessThanOrEqual(3)
    }
    expect(cache.size).toBe(3)
  })

  it('evicts the oldest entry not used since it was inserted', () => {
    const cache = filled(3, ['a', 'b', 'c'])
    cache.get('a')
    cache.set('d', entry('d'))
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')?.name).toBe('a')
    expect(cache.get('c')?.name).toBe('c')
    expect(cache.get('d')?.name).toBe('d')
  })

  it('keeps an entry in use however many new ones arrive', () => {
    const cache = filled(4, ['hot', 'x1', 'x2', 'x3'])
    for (let i = 0; i < 50; i++) {
      expect(cache.get('hot')?.name).toBe('hot')
      cache.set(`new${i}`, entry(`new${i}`))
    }
    expect(cache.get('hot')?.name).toBe('hot')
  })

  it('evicts even when every entry was used (after one turn of the hand)', () => {
    const cache = filled(3, ['a', 'b', 'c'])
    for (const name of ['a', 'b', 'c']) cache.get(name)
    cache.set('d', entry('d'))
    expect(cache.size).toBe(3)
    // The hand cleared every mark on its turn, then took the oldest: a.
    expect(cache.get('a')).toBeUndefined()
    expect(cache.get('d')?.name).toBe('d')
  })

  it('replaces a present key without evicting another', () => {
    const cache = filled(2, ['a', 'b'])
    cache.set('a', entry('a2'))
    expect(cache.size).toBe(2)
    expect(cache.get('a')?.name).toBe('a2')
    expect(cache.get('b')?.name).toBe('b')
  })

  it('deletes and clears', () => {
    const cache = filled(3, ['a', 'b'])
    expect(cache.delete('a')).toBe(true)
    expect(cache.delete('a')).toBe(false)
    expect(cache.get('a')).toBeUndefined()
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.get('b')).toBeUndefined()
  })

  it('evicts what a plain list model of the clock evicts, over long runs of full-cache misses', () => {
    // The model: keys oldest first, a used flag each; an eviction scans from the oldest.
    type Operation = { kind: 'get' | 'set' | 'delete'; key: number } | { kind: 'clear' }
    const operation: fc.Arbitrary<Operation> = fc.oneof(
      { weight: 120, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(40) }) },
      { weight: 80, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.nat(40) }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(40) }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(operation, { maxLength: 400 }),
        (max, operations) => {
          const cache = new SecondChanceCache<Entry>(max)
          let model: { key: string; used: boolean }[] = []
          for (const op of operations) {
            if (op.kind === 'clear') {
              cache.clear()
              model = []
              continue
            }
            const key = `k${op.key}`
            const at = model.findIndex((item) => item.key === key)
            if (op.kind === 'get') {
              expect(cache.get(key)?.name).toBe(at === -1 ? undefined : key)
              if (at !== -1) (model[at] as { used: boolean }).used = true
            } else if (op.kind === 'delete') {
              expect(cache.delete(key)).toBe(at !== -1)
              if (at !== -1) model.splice(at, 1)
            } else {
              if (at !== -1) model.splice(at, 1)
              else if (model.length >= max) {
                for (;;) {
                  const oldest = model.shift() as { key: string; used: boolean }
                  if (!oldest.used) break
                  model.push({ key: oldest.key, used: false })
                }
              }
              cache.set(key, entry(key))
              model.push({ key, used: false })
            }
            expect(cache.size).toBe(model.length)
          }
          for (const { key } of model) expect(cache.get(key)?.name).toBe(key)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses a bound that is not a positive integer', () => {
    for (const max of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SecondChanceCache(max)).toThrow(/max must be a positive integer/)
    }
  })
})
