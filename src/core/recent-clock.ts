import { AsyncResource } from 'node:async_hooks'

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
 * next to a Koa request of some 50–90 µs. So the time is read once and kept, until a timer has
 * run (10 ms, or the rest of an event-loop turn that runs longer) or {@link RECENT_USES} reads
 * have used it; the next read then reads the clock again and re-arms the timer. Under load that
 * is one read and one timer per {@link RECENT_MS}; idle, nothing runs (the timer fires once, and
 * is not re-armed until the next read). The timer is unref'd: it never keeps a process alive.
 *
 * What the value may be used for: anything a few milliseconds early is harmless for (a cache
 * entry trusted until `now + ttl` then lapses that much sooner; a key's `lastUsedAt` is that much
 * earlier). Never for a key's expiry: that is compared with the gate's own clock, read then; nor
 * for the cache's ttl while it is the only bound on another instance's change (no change feed:
 * see `authenticate-key.ts`). A test that moves time by stubbing `Date.now` moves expiries at
 * once and the rest within {@link RECENT_MS}; one that passes the gate a `clock` moves
 * everything at once.
 */

/**
 * The default clock: `Date.now()`, looked up at each call, so that a stub of it (a test's
 * `vi.spyOn(Date, 'now')`) moves the gate's time as it moves {@link recentNow}'s.
 */
export function currentTime(): number {
  return Date.now()
}

/**
 * How long a reading is used: until a timer of this many milliseconds has run, which happens
 * between two turns of the event loop (so a turn that runs longer keeps the reading longer), or
 * until {@link RECENT_USES} reads have used it, whichever comes first.
 */
export const RECENT_MS = 10

/**
 * How many reads one reading serves at most. A timer runs only when the event loop turns, and a
 * caller can keep it from turning (a loop of awaited decisions that all hit the cache settles in
 * microtasks); the count bounds the reading's age then too: a warm decision takes a microsecond
 * or more, so 1,024 of them take a millisecond or more.
 */
export const RECENT_USES = 1024

let recent = 0
let fresh = false
let uses = 0
/** The timer that forgets the reading; null where timers cannot be re-armed in place. */
let timer: { refresh(): unknown } | null | undefined

function forget(): void {
  fresh = false
}

/**
 * Made outside any request: a timer keeps the async context it was made in (an
 * `AsyncLocalStorage` store, say) for as long as it lives, and this one lives as long as the
 * process.
 */
const detached = new AsyncResource('PortcullisRecentClock')

/**
 * Makes the timer on first use. Where a timer has no `refresh` and `unref` (Node's `Timeout`
 * has both), no reading is kept: every call reads the clock.
 */
function arm(): boolean {
  const made = detached.runInAsyncScope(setTimeout, null, forget, RECENT_MS) as unknown as {
    refresh?: unknown
    unref?: unknown
  }
  if (typeof made.refresh !== 'function' || typeof made.unref !== 'function') {
    clearTimeout(made as unknown as ReturnType<typeof setTimeout>)
    timer = null
    return false
  }
  made.unref()
  timer = made as { refresh(): unknown }
  return true
}

function rearm(): void {
  ;(timer as { refresh(): unknown }).refresh()
}

/** `Date.now()`, as read within the last {@link RECENT_MS} (see above). */
export function recentNow(): number {
  if (fresh) {
    if (--uses > 0) return recent
    // The count ran out before the timer: a long turn, or a timer that no longer runs (fake
    // timers, uninstalled since they made it). A new one, to be sure.
    if (timer) clearTimeout(timer as unknown as ReturnType<typeof setTimeout>)
    timer = undefined
  }
  recent = Date.now()
  uses = RECENT_USES
  if (timer === undefined) {
    fresh = arm()
  } else if (timer !== null) {
    // Re-armed in the detached scope too: a `Timeout` that has run takes the async context of
    // whoever re-arms it.
    detached.runInAsyncScope(rearm)
    fresh = true
  }
  return recent
}
