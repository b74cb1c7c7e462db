import { describe, expect, it } from 'vitest'
import { TextPool } from './text-pool.js'

describe('TextPool', () => {
  it('gives back a text equal to the one asked for, holding each text once', () => {
    const pool = new TextPool()
    const first = ['proj', '1'].join('_')
    const second = ['proj', '1'].join('_')
    expect(pool.share(first)).toBe('proj_1')
    expect(pool.share(second)).toBe('proj_1')
    expect(pool.share('sk_test')).toBe('sk_test')
    expect(pool.size).toBe(2)
  })

  it('starts afresh at its limit, so texts that never repeat cannot grow it', () => {
    const pool = new TextPool(3)
    for (let i = 0; i < 10; i++) expect(pool.share(`10.0.${i}.0/24`)).toBe(`10.0.${i}.0/24`)
    expect(pool.size).toBeLessThanOrEqual(3)
    expect(pool.size).toBeGreaterThan(0)
  })

  it('is safe to pass as a callback (Array#map)', () => {
    const pool = new TextPool()
    expect(['a', 'b', 'a'].map(pool.share)).toEqual(['a', 'b', 'a'])
    expect(pool.size).toBe(2)
  })
})
