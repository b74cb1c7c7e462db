import { describe, expect, it } from 'vitest'
import { isPortcullisError } from './errors.js'
import { checkMetadata, MAX_METADATA_BYTES } from './metadata.js'

const refused = (value: unknown): string => {
  try {
    checkMetadata(value)
  } catch (error) {
    if (isPortcullisError(error) && error.code === 'invalid_request') return error.message
    throw error
  }
  throw new Error(`accepted ${String(value)}`)
}

describe('key metadata', () => {
  it('accepts plain JSON and returns a frozen deep copy the caller cannot change', () => {
    const input = { team: 'billing', limits: { daily: 100 }, tags: ['a', 'b'], on: true, x: null }
    const copy = checkMetadata(input)
    expect(copy).toEqual(input)
    input.limits.daily = 5
    input.tags.push('c')
    expect(copy).toEqual({
      team: 'billing',
      limits: { daily: 100 },
      tags: ['a', 'b'],
      on: true,
      x: null,
    })
    expect(Object.isFrozen(copy)).toBe(true)
    expect(Object.isFrozen(copy.limits)).toBe(true)
    expect(checkMetadata(Object.assign(Object.create(null), { a: 1 }))).toEqual({ a: 1 })
    expect(checkMetadata(null)).toEqual({})
  })

  it('refuses functions, cycles, class instances and other non-JSON values, naming where', () => {
    const cyclic: Record<string, unknown> = { a: {} }
    ;(cyclic.a as Record<string, unknown>).back = cyclic
    expect(refused({ run: () => 1 })).toMatch(/metadata\.run is a function/)
    expect(refused(cyclic)).toMatch(/metadata\.a\.back refers to itself/)
    expect(refused({ at: new Date(0) })).toMatch(/metadata\.at is an instance of Date/)
    expect(refused({ n: 10n })).toMatch(/metadata\.n is a bigint/)
    expect(refused({ n: Number.NaN })).toMatch(/metadata\.n must be a finite number/)
    expect(refused({ u: undefined })).toMatch(/metadata\.u is undefined/)
    expect(refused({ [Symbol('s')]: 1 })).toMatch(/symbol keys/)
    expect(refused(JSON.parse('{"__proto__":{"admin":true}}'))).toMatch(/__proto__/)
    expect(refused([1, 2])).toMatch(/plain JSON object/)
    expect(refused('text')).toMatch(/plain JSON object/)
    expect(refused(new Map())).toMatch(/plain JSON object/)
    let deep: Record<string, unknown> = {}
    const root = deep
    for (let i = 0; i < 20; i++) {
      deep.next = {}
      deep = deep.next as Record<string, unknown>
    }
    expect(refused(root)).toMatch(/nested deeper than 16 levels/)
  })

  it('refuses more than 4 KiB of JSON, and takes exactly 4 KiB', () => {
    const overhead = JSON.stringify({ text: '' }).length
    expect(checkMetadata({ text: 'x'.repeat(MAX_METADATA_BYTES - overhead) })).toBeDefined()
    expect(refused({ text: 'x'.repeat(5 * 1024) })).toMatch(/at most 4096/)
    // Counted in UTF-8 bytes, not characters.
    expect(refused({ text: 'é'.repeat(2100) })).toMatch(/at most 4096/)
  })
})
