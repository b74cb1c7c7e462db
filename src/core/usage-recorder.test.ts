import { describe, expect, it } from 'vitest'
import { makeKey } from '../testing/fixtures.js'
import { KeyTable, PENDING } from './key-table.js'
import type { KeyUsage } from './store.js'
import { UsageRecorder } from './usage-recorder.js'

/** A key table holding keys of these ids, and each one's slot. */
function tableOf(...ids: string[]) {
  const table = new KeyTable(ids.length)
  const slots = ids.map((id) => {
    const key = Object.freeze({ ...makeKey(0), id })
    return table.set(key.hash, key, 0)
  })
  return { table, slots }
}

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

/** A written batch as key id → lastUsedAt: the order of a batch is not part of the contract. */
const byId = (batch: readonly KeyUsage[] | undefined) =>
  new Map(batch?.map(({ id, lastUsedAt }) => [id, lastUsedAt]))

describe('UsageRecorder', () => {
  it('writes the newest use of each key, whatever order uses were noted in', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written } = recorder(start)
    const { table, slots } = tableOf('key_a')
    const a = slots[0] as number
    usage.note(table, a, start + 500)
    usage.note(table, a, start + 200)
    usage.record('key_b', start + 300)
    expect(usage.latest('key_a', start)).toBe(start + 500)
    expect(usage.latest('key_a', start + 900)).toBe(start + 900)
    await usage.flush()
    expect(written).toHaveLength(1)
    expect(byId(written[0])).toEqual(
      new Map([
        ['key_a', start + 500],
        ['key_b', start + 300],
      ]),
    )
    expect((table.bits[a] as number) & PENDING).toBe(0)
    expect(usage.latest('key_a', null)).toBeNull()
    await usage.close()
  })

  it('gives exact times across days of uptime', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written, set } = recorder(start)
    const { table, slots } = tableOf('key_a')
    const slot = slots[0] as number
    for (let at = start; at <= start + 40 * DAY; at += DAY / 4) {
      set(at)
      usage.note(table, slot, at)
      await usage.flush()
      expect(written.at(-1)).toEqual([{ id: 'key_a', lastUsedAt: at }])
    }
    const later = start + 365 * DAY + 123.5
    set(later)
    usage.note(table, slot, later)
    await usage.flush()
    expect(written.at(-1)).toEqual([{ id: 'key_a', lastUsedAt: later }])
    await usage.close()
  })

  it('keeps the use of a slot freed before the next batch, by id', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written } = recorder(start)
    const { table, slots } = tableOf('key_a', 'key_b')
    const [a, b] = slots as [number, number]
    usage.note(table, a, start + 10)
    usage.note(table, b, start + 20)
    // key_a's slot is freed (evicted, revoked): its use is kept all the same.
    table.delete((table.record(a) as { hash: string }).hash)
    expect(usage.latest('key_a', null)).toBe(start + 10)
    // A use noted by id while the key has a pending slot is merged with it in the batch.
    usage.record('key_b', start + 30)
    await usage.flush()
    expect(written).toHaveLength(1)
    expect(byId(written[0])).toEqual(
      new Map([
        ['key_a', start + 10],
        ['key_b', start + 30],
      ]),
    )
    await usage.close()
  })

  it('merges two slots of one key into one use', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written } = recorder(start)
    const { table, slots } = tableOf('key_a')
    const cached = slots[0] as number
    const scratch = table.scratch(table.record(cached) as Parameters<KeyTable['scratch']>[0])
    usage.note(table, cached, start + 50)
    usage.note(table, scratch, start + 40)
    table.release(scratch)
    await usage.flush()
    expect(written).toEqual([[{ id: 'key_a', lastUsedAt: start + 50 }]])
    await usage.close()
  })

  it('answers latest() from pending slots, also while the set of them changes', async () => {
    const start = Date.UTC(2026, 0, 1)
    const { usage, written } = recorder(start)
    const { table, slots } = tableOf('key_a', 'key_b')
    const [a, b] = slots as [number, number]
    expect(usage.latest('key_a', start)).toBe(start)
    usage.note(table, a, start + 10)
    expect(usage.latest('key_a', null)).toBe(start + 10)
    expect(usage.latest('key_b', start + 1)).toBe(start + 1)
    // A slot flagged after the answer above is seen by the next one.
    usage.note(table, b, start + 20)
    expect(usage.latest('key_b', null)).toBe(start + 20)
    // A later use of a slot already pending is read where it is kept.
    usage.note(table, a, start + 30)
    expect(usage.latest('key_a', null)).toBe(start + 30)
    // The same key pending in a second slot: the newer of the two is the answer.
    const scratch = table.scratch(table.record(a) as Parameters<KeyTable['scratch']>[0])
    usage.note(table, scratch, start + 40)
    expect(usage.latest('key_a', null)).toBe(start + 40)
    expect(usage.latest('key_a', start + 50)).toBe(start + 50)
    table.release(scratch)
    expect(usage.latest('key_a', null)).toBe(start + 40)
    await usage.flush()
    expect(byId(written[0])).toEqual(
      new Map([
        ['key_a', start + 40],
        ['key_b', start + 20],
      ]),
    )
    expect(usage.latest('key_a', null)).toBeNull()
    await usage.close()
  })

  it('serves the slots of one key table only', async () => {
    const { usage } = recorder(Date.UTC(2026, 0, 1))
    const first = tableOf('key_a')
    const second = tableOf('key_b')
    usage.note(first.table, first.slots[0] as number, 1)
    expect(() => usage.note(second.table, second.slots[0] as number, 2)).toThrow(/second key table/)
    await usage.close()
  })

  it('keeps a failed batch, merged with newer uses, for the next write', async () => {
    const start = Date.UTC(2026, 0, 1)
    let fail = true
    const written: KeyUsage[][] = []
    // A 10-day interval: only the test's own flush() calls write.
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
    expect(byId(written[0])).toEqual(
      new Map([
        ['key_a', start + 2 * DAY - 10],
        ['key_b', start + 2 * DAY + 7],
      ]),
    )
    await usage.close()
  })

  it('merges a failed batch into a slot pending again meanwhile', async () => {
    const start = Date.UTC(2026, 0, 1)
    let fail = true
    const written: KeyUsage[][] = []
    const { usage, errors } = recorder(
      start,
      async (batch) => {
        await Promise.resolve()
        if (fail) throw new Error('store down')
        written.push([...batch])
      },
      10 * DAY,
    )
    const { table, slots } = tableOf('key_a')
    const slot = slots[0] as number
    usage.note(table, slot, start + 50)
    const failing = usage.flush()
    // A use while the batch is being written (and then fails): an older time, noted on the slot.
    usage.note(table, slot, start + 20)
    await failing
    expect(errors).toHaveLength(1)
    expect(usage.latest('key_a', null)).toBe(start + 50)
    expect((table.bits[slot] as number) & PENDING).toBe(PENDING)
    fail = false
    await usage.flush()
    expect(written).toEqual([[{ id: 'key_a', lastUsedAt: start + 50 }]])
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
