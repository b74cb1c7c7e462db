/** A clock that moves only when told to, so expiry is tested without waiting. */
export interface ManualClock {
  /** The current instant, epoch ms. Pass `clock.now` wherever a `clock` option is taken. */
  readonly now: () => number
  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): void
  /** Sets the current instant; it must not be earlier than the present one. */
  set(epochMs: number): void
}

/** A manual clock starting at `startMs` (default: the real current time). */
export function createManualClock(startMs: number = Date.now()): ManualClock {
  let current = startMs
  return {
    now: () => current,
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0)
        throw new RangeError('advance() takes a non-negative number of ms')
      current += ms
    },
    set(epochMs) {
      if (epochMs < current) throw new RangeError('a manual clock never goes backwards')
      current = epochMs
    },
  }
}
