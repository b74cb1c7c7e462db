import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../adapters/memory/index.js'
import { createPortcullis, type PortcullisOptions, type PortcullisStore } from '../src/index.js'
import { createManualClock } from '../src/testing/index.js'

export const HOUR_MS = 60 * 60 * 1000
export const DAY_MS = 24 * HOUR_MS

/**
 * `store` with some of its methods replaced, or taken away (`undefined`), and every other one
 * bound to it: a store that lies, waits or lacks a feature, for one test.
 */
export function overriding<S extends object>(
  store: S,
  overrides: { readonly [M in keyof PortcullisStore]?: PortcullisStore[M] | undefined },
): S {
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof PortcullisStore]
      const value = Reflect.get(target, property)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** Wraps a store so tests can count the calls the core makes. */
export function spyOn(store: PortcullisStore): { store: PortcullisStore; calls: string[] } {
  const calls: string[] = []
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push(String(property))
        return value.apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

/** A gate over a spied MemoryStore with a manual clock. */
export function makeGate(options: Partial<PortcullisOptions> = {}) {
  const clock = createManualClock()
  const memory = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
  const spied = spyOn(options.store ?? memory)
  const gate = createPortcullis({
    sessionSecret: randomBytes(32),
    clock: clock.now,
    ...options,
    store: spied.store,
  })
  return { gate, clock, memory, calls: spied.calls }
}

export function bearer(credential: string, remoteAddress = '203.0.113.7') {
  return { headers: { authorization: `Bearer ${credential}` }, remoteAddress }
}

/** The `auth` of a secret key, failing the test if it does not authenticate. */
export async function secretAuth(gate: ReturnType<typeof makeGate>['gate'], key: string) {
  const result = await gate.authenticate(bearer(key), { credential: 'secret' })
  if (!result.ok) throw new Error(`secret key refused: ${result.error.code}`)
  return result.auth
}

/**
 * A MemoryStore whose every method is replaced by `call` while `isDown()` says so: a dropped
 * connection (`() => Promise.reject(...)`) or a hung one (`() => new Promise(() => {})`).
 */
export function faultyStore(
  call: () => Promise<never>,
  isDown: () => boolean = () => true,
): PortcullisStore {
  return new Proxy(new MemoryStore({ sweepIntervalMs: 0 }), {
    get(target, property) {
      const value = Reflect.get(target, property)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => (isDown() ? call() : value.apply(target, args))
    },
  })
}

export const refused = () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379'))
export const hung = () => new Promise<never>(() => {})
