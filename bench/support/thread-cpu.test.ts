import { describe, expect, it } from 'vitest'
import { threadSplit, threadTimes } from './thread-cpu.js'

describe('threadSplit', () => {
  it('splits CPU time between the main thread and the others, counting new threads from zero', () => {
    const before = new Map([
      [process.pid, 1_000_000],
      [process.pid + 1, 500_000],
    ])
    const after = new Map([
      [process.pid, 4_000_000],
      [process.pid + 1, 1_500_000],
      [process.pid + 2, 250_000],
    ])
    expect(threadSplit(before, after)).toEqual({ mainMicros: 3000, otherMicros: 1250 })
  })

  it('is undefined without readings', () => {
    expect(threadSplit(undefined, new Map())).toBeUndefined()
  })
})

describe.runIf(process.platform === 'linux')('threadTimes', () => {
  it("reads the main thread's time, which grows while it computes", () => {
    const before = threadTimes()
    const until = performance.now() + 20
    let spin = 0
    while (performance.now() < until) spin++
    const split = threadSplit(before, threadTimes())
    expect(spin).toBeGreaterThan(0)
    expect(split?.mainMicros).toBeGreaterThan(5000)
  })
})
