/**
 * `npx tsx bench/cold-clock.ts`: what one read of the clock costs when its code is not in the
 * processor's caches, as on a server, where the framework and Node run through far more code
 * between two requests than the caches hold. Before each timed call the script runs 3,000
 * distinct small functions (evicting code) and walks 8 MB of memory (evicting data), then times
 * one call with `process.hrtime.bigint()`. The same loop without the eviction shows the warm
 * cost. Printed: the median over 3,800 calls (the first 200 left out), less the median of timing
 * nothing, in ns. Pin it to one core (`taskset -c 0`) on a quiet machine.
 */
import { recentNow } from '../src/core/recent-clock.js'
import { median } from './support/stats.js'

const ROUNDS = 4000
const SKIPPED = 200

const evictors: ((value: number) => number)[] = []
for (let i = 0; i < 3000; i++) {
  // Distinct bodies: each is compiled to code of its own.
  evictors.push(
    new Function(
      'value',
      `let s = ${i}; for (let j = 0; j < 3; j++) s = (s * 31 + value + j + ${i}) | 0; return s ^ ${i * 7}`,
    ) as (value: number) => number,
  )
}
const memory = new Float64Array(1 << 20)
let sink = 0

function evict(round: number): void {
  for (const evictor of evictors) sink += evictor(round)
  for (let i = (round * 8) & 1023; i < memory.length; i += 512) sink += memory[i] as number
}

const reads: Record<string, () => number> = {
  nothing: () => 0,
  'Date.now()': () => Date.now(),
  'performance.now()': () => performance.now(),
  'recentNow()': recentNow,
}

function measure(cold: boolean): Map<string, number> {
  const samples = new Map<string, number[]>(Object.keys(reads).map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, read] of Object.entries(reads)) {
      if (cold) evict(round)
      const start = process.hrtime.bigint()
      sink += read()
      const took = process.hrtime.bigint() - start
      if (round >= SKIPPED) samples.get(name)?.push(Number(took))
    }
  }
  const middle = (name: string) => median(samples.get(name) as number[])
  const base = middle('nothing')
  return new Map(Object.keys(reads).map((name) => [name, middle(name) - base]))
}

const warm = measure(false)
const cold = measure(true)
console.log('clock read        warm ns   cold ns (beyond timing nothing)')
for (const name of Object.keys(reads)) {
  if (name === 'nothing') continue
  const row = [warm.get(name), cold.get(name)].map((ns) => (ns as number).toFixed(0).padStart(9))
  console.log(`${name.padEnd(18)}${row.join(' ')}`)
}
if (sink === Number.MIN_VALUE) console.log(sink)
