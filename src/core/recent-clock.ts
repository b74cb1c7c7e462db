/**
 * `Date.now()` as read at most {@link RECENT_MS} ago: what a warm key decision uses for the
 * cache's ttl, the refresh ahead of it and the key's last use, when the gate runs on the default
 * clock.
 *
 * Reading the clock is cheap in a loop and not on a server: `Date.now` goes from JavaScript into
 * V8's C++ runtime, Node's platform and the kernel's vDSO, and between two requests the framework
 * and Node run through enough code of their own that all of it has left the processor's caches.
 * With that code evicted between calls, one `Date.now()` cost some 1.4 µs here against 50–60 ns
 * warm (`npx tsx bench/cold-clock.ts`; `docs/performance.md`, "The clock, read once per 10 ms"),
 * next to a Koa request of some 50–90 µs. So the time is read once, kept, and forgotten by a
 * timer: the first read after the timer has run reads the clock again and re-arms it. Under load that is one read and one
 * timer per {@link RECENT_MS}; idle, nothing runs (the timer fires once, and is not re-armed
 * until the next read). The timer is unref'd: it never keeps a process alive.
 *
 * What the value may be used for: anything a few milliseconds early is harmless for (a cache
 * entry trusted until `now + ttl` then lapses that much sooner; a key's `lastUsedAt` is that much
 * earlier). Never for a key's expiry: that is compared with the gate's own clock, read then.
 */

/**
 * The default clock: `Date.now()`, looked up at each call, so that a stub of it (a test's
 * `vi.spyOn(Date, 'now')`) moves the gate's time as it moves {@link recentNow}'s.
 */
export function currentTime(): number {
  return Date.now()
}

/** How long a reading is used: an upper bound, plus however long the event loop is busy. */
export const RECENT_MS = 10

let recent = 0
let fresh = false
/** The timer that forgets the reading; null where timers cannot be re-armed in place. */
let timer: { refresh(): unknown } | null | undefined

function forget(): void {
  fresh = false
}

/**
 * Makes the timer on first use. Where a timer has no `refresh` and `unref` (Node's `Timeout`
 * has both), no reading is kept: every call reads the clock.
 */
function arm(): boolean {
  const made = setTimeout(forget, RECENT_MS) as unknown as { refresh?: unknown; unref?: unknown }
  if (typeof made.refresh !== 'function' || typeof made.unref !== 'function') {
    clearTimeout(made as unknown as ReturnType<typeof setTimeout>)
    timer = null
    return false
  }
  made.unref()
  timer = made as { refresh(): unknown }
  return true
}

/** `Date.now()`, as read within the last {@link RECENT_MS} (or so: see above). */
export function recentNow(): number {
  if (fresh) return recent
  recent = Date.now()
  if (timer === undefined) {
    fresh = arm()
  } else if (timer !== null) {
    timer.refresh()
    fresh = true
  }
  return recent
}
