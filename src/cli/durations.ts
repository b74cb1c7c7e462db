/** Durations typed on the command line (`--grace 30d`), and limits shown in the unit typed. */
import { UsageError } from './errors.js'

const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const
type Unit = keyof typeof UNIT_MS
const DURATION = /^(\d+)(ms|s|m|h|d)$/

/** A duration as typed, so that messages about it can use the same unit. */
export interface Duration {
  readonly ms: number
  readonly unit: Unit
}

export function parseDuration(text: string, flag: string): Duration {
  const match = DURATION.exec(text)
  // A bare number is refused: "--grace 30" would otherwise mean 30 ms to some and 30 min to others.
  if (match === null) throw new UsageError(`${flag} takes a duration such as 90s, 30m, 2h or 1d`)
  const unit = match[2] as Unit
  return { ms: Number(match[1]) * UNIT_MS[unit], unit }
}

/** `ms` in `unit` when it is a whole number of them, else in the largest unit that is. */
export function formatDuration(ms: number, unit: Unit): string {
  if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  const exact = (['d', 'h', 'm', 's', 'ms'] as const).find((u) => ms % UNIT_MS[u] === 0) ?? 'ms'
  return `${ms / UNIT_MS[exact]}${exact}`
}
