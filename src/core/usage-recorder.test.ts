import { describe, expect, it } from 'vitest'
import type { KeyUsage } from './store.js'
import { UsageRecorder } from './usage-recorder.js'

const DAY = 86_400_000

function recorder(
  start: number,
  write?: (usage: readonly KeyUsage[]) => Promise<void>,
  flushIntervalMs = 60_000,
) {
  let now = start
  const written: KeyUsage[][] = []
  const errors: unknown[] = []
  const usage = new UsageRecorder({
    write:
      write ??
      (async (batch) => {
        written.push([...batch])
      }),
    clock: () => now,
    flushIntervalMs,
    onError: (error) => errors.push(error),
  })
  return {
    usage,
    written,
    errors,
    set: (at: number) => {
      now = at
    },
  }
}

describe('UsageRecorder', () => {
  it('writes the newest use of each key, whatever order uses were noted in', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written } = recorder(start)
    const a = usage.mark('key_a')
    usage.note(a, start + 500)
    usage.note(a, start + 200)
    usage.record('key_b', start + 300)
    expect(usage.latest('key_a', start)).toBe(start + 500)
    expect(usage.latest('key_a', start + 900)).toBe(start + 900)
    await usage.flush()
    expect(written).toEqual([
      [
        { id: 'key_a', lastUsedAt: start + 500 },
        { id: 'key_b', lastUsedAt: start + 300 },
      ],
    ])
    expect(usage.latest('key_a', null)).toBeNull()
    await usage.close()
  })

  it('keeps marks as small integers, and exact times across days of uptime', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written, set } = recorder(start)
    const mark = usage.mark('key_a')
    // Used every 6 hours for 40 days, flushed each time: offsets never reach 2^31 ms.
    for (let at = start; at <= start + 40 * DAY; at += DAY / 4) {
      set(at)
      usage.note(mark, at)
      expect(Number.isInteger(mark.at) && Math.abs(mark.at) < 2 ** 31).toBe(true)
      await usage.flush()
      expect(written.at(-1)).toEqual([{ id: 'key_a', lastUsedAt: at }])
    }
    // A quiet spell of a year: the next use still comes out exact, as a small offset.
    const later = start + 365 * DAY + 123
    set(later)
    usage.note(mark, later)
    expect(Number.isInteger(mark.at) && Math.abs(mark.at) < 2 ** 31).toBe(true)
    await usage.flush()
    expect(written.at(-1)).toEqual([{ id: 'key_a', lastUsedAt: later }])
    await usage.close()
  })

  it('keeps a failed batch, merged with newer uses, for the next write', async () => {
    const start = Date.UTC(2026, 0, 1)
    let fail = true
    const written: KeyUsage[][] = []
    // Flushed by hand only: the first flush, two days on, also moves the recorder's epoch.
    const { usage, errors, set } = recorder(
      start,
      async (batch) => {
        if (fail) throw new Error('store down')
        written.push([...batch])
      },
      10 * DAY,
    )
    set(start + 2 * DAY)
    usage.record('key_a', start + 2 * DAY - 10)
    usage.record('key_b', start + 2 * DAY - 5)
    await usage.flush()
    expect(errors).toHaveLength(1)
    usage.record('key_b', start + 2 * DAY + 7)
    fail = false
    await usage.flush()
    expect(written).toHaveLength(1)
    expect(new Map(written[0]?.map(({ id, lastUsedAt }) => [id, lastUsedAt]))).toEqual(
      new Map([
        ['key_a', start + 2 * DAY - 10],
        ['key_b', start + 2 * DAY + 7],
      ]),
    )
    await usage.close()
  })

  it('gives fractional clock readings back exactly', async () => {
    const start = 1_764_000_000_000.25
    const { usage, written } = recorder(start)
    usage.record('key_a', start + 1.5)
    await usage.flush()
    expect(written).toEqual([[{ id: 'key_a', lastUsedAt: start + 1.5 }]])
    await usage.close()
  })
})
