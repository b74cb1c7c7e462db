import { readFileSync } from 'node:fs'

/** Microseconds per clock tick of /proc/stat (USER_HZ, 100 on every mainstream Linux). */
const MICROS_PER_TICK = 10_000

/**
 * CPU time the whole machine has spent busy (every state but idle and iowait) and stolen by
 * the hypervisor, in µs, from /proc/stat; null where there is none (not Linux).
 */
export function readSystemCpu(): { busyMicros: number; stealMicros: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const [label, ...fields] = line.trim().split(/\s+/)
    if (label !== 'cpu') return null
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number)
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>(
      (sum, value) => sum + (value ?? 0),
      0,
    )
    return { busyMicros: busy * MICROS_PER_TICK, stealMicros: (steal ?? 0) * MICROS_PER_TICK }
  } catch {
    return null
  }
}
