import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { makeKey } from '../testing/fixtures.js'
import {
  ALLOWED,
  CHECKS_ADDRESS,
  EXPIRES,
  HAS_RECORD,
  KeyTable,
  LIVE,
  MISSING,
  modeOf,
  NO_PEER,
  PENDING,
  RESTRICTS_CLIENT,
  typeOf,
} from './key-table.js'
import type { StoredKey } from './store.js'

const NOW = Date.UTC(2026, 0, 1)
const records = new Map<string, StoredKey>()
/** A record whose id names it, the same object for the same name. */
function record(name: string): StoredKey {
  let made = records.get(name)
  if (made === undefined) {
    made = Object.freeze({ ...makeKey(NOW), id: name })
    records.set(name, made)
  }
  return made
}

/** A minimal cache-like view of a table: `get` gives the id of the key held, or undefined. */
class Cache {
  readonly table: KeyTable
  constructor(max: number) {
    this.table = new KeyTable(max)
  }
  get size() {
    return this.table.size
  }
  get(name: string): { name: string } | undefined {
    const slot = this.table.get(name)
    return slot === undefined ? undefined : { name: this.table.idOf(slot) }
  }
  set(name: string, entry: { name: string }): void {
    this.table.set(name, record(entry.name), NOW + 1000)
  }
  delete(name: string): boolean {
    return this.table.delete(name)
  }
  clear(): void {
    this.table.clear()
  }
}
const entry = (name: string) => ({ name })

function filled(max: number, names: string[]): Cache {
  const cache = new Cache(max)
  for (const name of names) cache.set(name, entry(name))
  return cache
}

describe('KeyTable eviction (second chance)', () => {
  it('never holds more than max entries', () => {
    const cache = new Cache(3)
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
          const cache = new Cache(max)
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

  it('refuses a bound that is not a whole number', () => {
    for (const max of [-1, 1.5, Number.NaN]) {
      expect(() => new KeyTable(max)).toThrow(/max must be a whole number/)
    }
  })
})

/** A table whose pending uses, when handed over, are recorded by key id (as the recorder keeps them). */
function tableRecordingReleases(max: number) {
  const table = new KeyTable(max)
  const released: string[] = []
  table.onReleasePending = (slot) => {
    released.push(table.idOf(slot))
    table.flag(slot, PENDING, false)
  }
  return { table, released }
}

describe('KeyTable slots', () => {
  it("packs a record's flags into its slot, and answers MISSING with none", () => {
    const table = new KeyTable(4)
    const live = Object.freeze({
      ...makeKey(NOW, { allowedIps: ['203.0.113.7'], expiresAt: NOW + 5000 }),
      mode: 'live' as const,
      type: 'restricted' as const,
      clientRestrictions: { kind: 'origins' as const, origins: ['https://shop.example'] },
    })
    const slot = table.set(live.hash, live, NOW + 1000)
    const bits = table.bits[slot] as number
    expect(slot).not.toBe(MISSING)
    expect(typeOf(bits)).toBe('restricted')
    expect(modeOf(bits)).toBe('live')
    for (const flag of [HAS_RECORD, LIVE, CHECKS_ADDRESS, EXPIRES, RESTRICTS_CLIENT]) {
      expect(bits & flag).toBe(flag)
    }
    expect(table.validUntil[slot]).toBe(NOW + 1000)
    expect(table.record(slot)).toBe(live)
    const plain = Object.freeze(makeKey(NOW))
    const other = table.set(plain.hash, plain, NOW)
    expect(typeOf(table.bits[other] as number)).toBe(plain.type)
    expect((table.bits[other] as number) & (LIVE | CHECKS_ADDRESS | EXPIRES)).toBe(0)
    expect(table.bits[MISSING]).toBe(0)
    expect(table.record(MISSING)).toBeNull()
  })

  it('grows past its first arrays, keeping every slot', () => {
    const table = new KeyTable(1000)
    const held = new Map<string, number>()
    for (let i = 0; i < 1000; i++) {
      const key = Object.freeze({ ...makeKey(NOW), id: `key_${i}` })
      held.set(key.hash, table.set(key.hash, key, NOW + i))
    }
    expect(table.size).toBe(1000)
    for (const [hash, slot] of held) {
      expect(table.peek(hash)).toBe(slot)
      expect(table.validUntil[slot]).toBe(
        NOW + Number((table.record(slot) as StoredKey).id.slice(4)),
      )
    }
  })

  it('replaces a held hash in its slot, dropping what was derived, keeping a pending use', () => {
    const table = new KeyTable(4)
    const first = Object.freeze(makeKey(NOW))
    const slot = table.set(first.hash, first, NOW + 1000)
    table.lastPeer[slot] = '127.0.0.1'
    table.flag(slot, ALLOWED, true)
    table.flag(slot, PENDING, true)
    table.at[slot] = NOW + 5
    const changed = Object.freeze({ ...first, allowedIps: ['203.0.113.7'] })
    expect(table.set(changed.hash, changed, NOW + 2000)).toBe(slot)
    expect(table.record(slot)).toBe(changed)
    expect(table.lastPeer[slot]).toBe(NO_PEER)
    expect(table.auth[slot]).toBeUndefined()
    expect((table.bits[slot] as number) & ALLOWED).toBe(0)
    expect((table.bits[slot] as number) & PENDING).toBe(PENDING)
    expect(table.at[slot]).toBe(NOW + 5)
  })

  it('hands a pending use over when a held hash is refilled with another key', () => {
    const { table, released } = tableRecordingReleases(2)
    const slot = table.set('h', record('key_a'), NOW)
    table.flag(slot, PENDING, true)
    expect(table.set('h', record('key_b'), NOW)).toBe(slot)
    expect(released).toEqual(['key_a'])
    expect((table.bits[slot] as number) & PENDING).toBe(0)
  })

  it('refuses a malformed record before it changes anything', () => {
    const table = new KeyTable(1)
    const slot = table.set('a', record('key_a'), NOW)
    const malformed = { ...record('key_b'), allowedIps: null } as unknown as StoredKey
    expect(() => table.set('b', malformed, NOW)).toThrow(TypeError)
    expect(() => table.set('a', malformed, NOW)).toThrow(TypeError)
    expect(() => table.scratch(malformed)).toThrow(TypeError)
    expect(table.size).toBe(1)
    expect(table.peek('a')).toBe(slot)
    expect(table.record(slot)?.id).toBe('key_a')
    // The next scratch slot is the first past the cached ones: none leaked.
    expect(table.scratch(record('key_c'))).toBe(slot + 1)
  })

  it('hands a pending use over before freeing its slot, and reuses freed slots', () => {
    const { table, released } = tableRecordingReleases(2)
    const [a, b, c] = ['key_a', 'key_b', 'key_c'].map(record) as [StoredKey, StoredKey, StoredKey]
    const slotA = table.set('a', a, NOW)
    table.set('b', b, NOW)
    table.flag(slotA, PENDING, true)
    // Full: c evicts a (the oldest, unused), and takes its slot.
    expect(table.set('c', c, NOW)).toBe(slotA)
    expect(released).toEqual(['key_a'])
    expect(table.idOf(slotA)).toBe('key_c')
    expect(table.peek('a')).toBeUndefined()
  })

  it('gives scratch slots outside the cache, freed on release; cached slots stay', () => {
    const table = new KeyTable(2)
    const cached = table.set('a', record('key_a'), NOW + 1000)
    const scratch = table.scratch(record('key_b'))
    expect(table.size).toBe(1)
    expect(table.record(scratch)?.id).toBe('key_b')
    table.release(cached)
    table.release(scratch)
    expect(table.peek('a')).toBe(cached)
    expect(table.record(cached)?.id).toBe('key_a')
    expect(table.record(scratch)).toBeNull()
    // A table of scratch slots only (no cache) hands them out and caches nothing.
    const bare = new KeyTable(0)
    const slot = bare.scratch(record('key_c'))
    expect(bare.record(slot)?.id).toBe('key_c')
    bare.release(slot)
    expect(() => bare.set('c', record('key_c'), NOW)).toThrow(/caches nothing/)
  })
})
