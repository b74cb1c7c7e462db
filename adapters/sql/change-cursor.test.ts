import { describe, expect, it } from 'vitest'
import { ChangeCursor } from './change-cursor.js'

describe('ChangeCursor', () => {
  it('delivers each number once, in any order', () => {
    const cursor = new ChangeCursor(10)
    expect(cursor.accept(11, 0)).toBe(true)
    expect(cursor.accept(11, 0)).toBe(false)
    expect(cursor.accept(10, 0)).toBe(false)
    expect(cursor.highest).toBe(11)
  })

  it('remembers skipped numbers, so a transaction that commits late is still delivered', () => {
    const cursor = new ChangeCursor(0)
    expect(cursor.accept(3, 0)).toBe(true)
    expect(cursor.pendingGaps(0)).toEqual([1, 2])
    expect(cursor.accept(2, 0)).toBe(true)
    expect(cursor.accept(2, 0)).toBe(false)
    expect(cursor.pendingGaps(0)).toEqual([1])
  })

  it('forgets gaps that never fill after the timeout, and keeps at most maxGaps', () => {
    const cursor = new ChangeCursor(0, 1000, 5)
    cursor.accept(4, 0)
    expect(cursor.pendingGaps(1001)).toEqual([])
    expect(cursor.accept(1, 1001)).toBe(false)
    cursor.accept(100, 2000)
    expect(cursor.pendingGaps(2000)).toEqual([95, 96, 97, 98, 99])
  })
})
