import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { AuthContext } from '../../core/auth-context.js'
import { createPortcullis, type Portcullis } from '../../core/portcullis.js'
import type { PortcullisStore } from '../../core/store.js'
import { randomProjectId } from '../fixtures.js'
import { createManualClock, type ManualClock } from '../manual-clock.js'
import type { TouchAnswer } from './assertions.js'
import type { ConformanceGroupOptions, TestBody } from './options.js'

export const HOUR_MS = 60 * 60 * 1000
export const DAY_MS = 24 * HOUR_MS

/** A cache-less gate over the store under test, with a clock each call can set. */
export interface RaceGate {
  readonly gate: Portcullis
  /** Runs `call` with the gate's clock reading `instant` (the gate reads it as a call starts). */
  at<T>(instant: number, call: () => T): T
  /** Every `touchSession` the gate made, in the order the answers arrived. */
  readonly touches: TouchAnswer[]
}

/** How each group registers its tests against the caller's runner and store factory. */
export interface ConformanceHarness<S extends PortcullisStore> {
  /** Registers `body`, or reports it as skipped when the store lacks what it needs. */
  itIf(enabled: boolean, name: string, body: TestBody): unknown
  /** Runs `body` with a fresh store and clock, releasing the store afterwards. */
  withStore(body: (store: S, clock: ManualClock) => Promise<void>): TestBody
  /** Runs `body` with a `createPortcullis` instance over a fresh store, closing it afterwards. */
  withGate(body: (gate: Portcullis, store: S, clock: ManualClock) => Promise<void>): TestBody
  /**
   * A gate for the races: the cache is off, so every authentication reaches the store; the
   * store is wrapped to record every touch the gate makes (the instant it passed and the
   * answer); and `at(instant, call)` runs a call with the gate's clock reading `instant`, so
   * parallel calls can carry instants in any order.
   */
  withRaceGate(body: (race: RaceGate, store: S, clock: ManualClock) => Promise<void>): TestBody
}

/** The helpers every group shares, bound to the caller's options. */
export function createConformanceHarness<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): ConformanceHarness<S> {
  const { it } = options
  const itIf = (enabled: boolean, name: string, body: TestBody) =>
    enabled ? it(name, body) : it.skip(name, body)

  const withStore =
    (body: (store: S, clock: ManualClock) => Promise<void>): TestBody =>
    async () => {
      const clock = createManualClock()
      const store = await options.createStore({ clock })
      try {
        await body(store, clock)
      } finally {
        await options.destroyStore?.(store)
      }
    }

  const withGate = (
    body: (gate: Portcullis, store: S, clock: ManualClock) => Promise<void>,
  ): TestBody =>
    withStore(async (store, clock) => {
      const gate = createPortcullis({
        store,
        clock: clock.now,
        sessionSecret: randomBytes(32),
        revealKey: randomBytes(32),
      })
      try {
        await body(gate, store, clock)
      } finally {
        await gate.close()
      }
    })

  const withRaceGate = (
    body: (race: RaceGate, store: S, clock: ManualClock) => Promise<void>,
  ): TestBody =>
    withStore(async (store, clock) => {
      let forced: number | undefined
      const touches: TouchAnswer[] = []
      const recording = new Proxy(store, {
        get(target, property) {
          if (property === 'touchSession') {
            return async (id: string, now: number) => {
              const answer = await target.touchSession(id, now)
              touches.push({ now, answer })
              return answer
            }
          }
          const value: unknown = Reflect.get(target, property, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const gate = createPortcullis({
        store: recording,
        clock: () => forced ?? clock.now(),
        sessionSecret: randomBytes(32),
        cache: false,
        // A thousand calls queue for a small connection pool: the races test outcomes, not
        // latency, so a slow answer must not turn into store_unavailable.
        storeTimeoutMs: 10_000,
      })
      const at = <T>(instant: number, call: () => T): T => {
        forced = instant
        try {
          return call()
        } finally {
          forced = undefined
        }
      }
      try {
        await body({ gate, at, touches }, store, clock)
      } finally {
        await gate.close()
      }
    })

  return { itIf, withStore, withGate, withRaceGate }
}

/** The request a client sends with `credential` as its bearer token. */
export const bearer = (credential: string) => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress: '203.0.113.7',
})

/** A new project's test and live secret keys, authenticated: the `auth` each mode acts with. */
export async function provisionBothModes(
  gate: Portcullis,
): Promise<{ testAuth: AuthContext; liveAuth: AuthContext }> {
  const { test, live } = await gate.projects.provision(randomProjectId())
  const testAuth = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
  const liveAuth = await gate.authenticate(bearer(live.secretKey.key), { credential: 'secret' })
  assert.ok(testAuth.ok && liveAuth.ok)
  return { testAuth: testAuth.auth, liveAuth: liveAuth.auth }
}

/** Flips the case of the first letter: the same text to a case-insensitive comparison. */
export function flipCase(text: string): string {
  const index = text.search(/[a-zA-Z]/)
  const char = text[index] as string
  const flipped = char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase()
  return text.slice(0, index) + flipped + text.slice(index + 1)
}

/** Shuffles `items` in place (Fisher–Yates), so parallel calls start in no particular order. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32BE(0) % (i + 1)
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

/** `count` distinct instants spread evenly over `[from, to]`, in random order. */
export function spread(from: number, to: number, count: number): number[] {
  if (count <= 1) return [to].slice(0, count)
  assert.ok(to - from >= count - 1, 'spread() needs room for distinct instants')
  return shuffle(
    Array.from({ length: count }, (_, i) => from + Math.floor((i * (to - from)) / (count - 1))),
  )
}
