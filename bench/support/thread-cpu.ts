/**
 * CPU time by thread, from Linux's `/proc/self/task/<tid>/schedstat` (nanoseconds on the CPU,
 * user and kernel together): the main thread apart from the rest (V8's helpers, which mark and
 * sweep concurrently and compile optimized code, libuv's pool, the loader thread of
 * `--import tsx`). `process.cpuUsage()` gives only their sum. Undefined where there is no such
 * file (another OS, or a kernel without scheduler statistics).
 */
import { readdirSync, readFileSync } from 'node:fs'

/** Nanoseconds on the CPU so far, per thread id. */
export type ThreadTimes = ReadonlyMap<number, number>

const TASKS = '/proc/self/task'

export function threadTimes(): ThreadTimes | undefined {
  let tids: string[]
  try {
    tids = readdirSync(TASKS)
  } catch {
    return undefined
  }
  const times = new Map<number, number>()
  for (const tid of tids) {
    try {
      const [onCpu] = readFileSync(`${TASKS}/${tid}/schedstat`, 'latin1').split(' ')
      times.set(Number(tid), Number(onCpu))
    } catch {
      // The thread ended between the listing and the read: it ran nothing since.
    }
  }
  return times
}

/**
 * CPU µs between two readings: the main thread's (whose id is the process's), and every other
 * thread's (threads that started in between count from zero).
 */
export function threadSplit(
  before: ThreadTimes | undefined,
  after: ThreadTimes | undefined,
): { mainMicros: number; otherMicros: number } | undefined {
  if (before === undefined || after === undefined) return undefined
  let mainMicros = 0
  let otherMicros = 0
  for (const [tid, nanos] of after) {
    const micros = (nanos - (before.get(tid) ?? 0)) / 1000
    if (tid === process.pid) mainMicros += micros
    else otherMicros += micros
  }
  return { mainMicros, otherMicros }
}
