import { IncomingMessage } from 'node:http'
import type { AuthContext } from '../core/auth-context.js'

/*
 * Where `req.auth` lives.
 *
 * Express re-prototypes every request (`Object.setPrototypeOf(req, app.request)`). V8 then
 * treats the request's hidden class as detached: a property added after that gets no shared
 * transition, so each request copies its hidden class and descriptor array once more (about
 * 1.3 KB allocated per request, by V8's sampling heap profiler). Setting `req.auth` as an own
 * property cost about 4 % more of an Express server's CPU per request than this accessor
 * (`npm run bench:req-auth`, docs/performance.md). So on such a request, `auth` is an accessor
 * that Express's shared request prototype (the object right above
 * `http.IncomingMessage.prototype`, from which every app's `app.request` inherits, mounted apps'
 * too) gets once, and the value sits in a weak map keyed by the request. Reading `req.auth`
 * works as before, anywhere in the app.
 *
 * Everything else keeps the own property: a request Express did not re-prototype, a chain in
 * which something else already defines `auth`, or a request that already has its own `auth`
 * (another library's, say). Assigning `req.auth` yourself still makes an own property, which
 * then wins, as an assignment did before (the setter also forgets the weak map's value, so
 * that {@link requestAuth} can look there first).
 */

const authOf = new WeakMap<object, AuthContext>()

/** Per prototype a request came with: whether `auth` on such requests is our accessor. */
const viaAccessor = new WeakMap<object, boolean>()

function readAuth(this: object): AuthContext | undefined {
  return authOf.get(this)
}

function writeAuth(this: object, value: unknown): void {
  authOf.delete(this)
  Object.defineProperty(this, 'auth', {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  })
}

/**
 * Whether requests with this prototype read `auth` from our accessor: installs it on the base of
 * the chain (the object whose prototype is `IncomingMessage.prototype`) when nothing defines
 * `auth` yet.
 */
function prepare(proto: object): boolean {
  if (proto === IncomingMessage.prototype) return false
  let base = proto
  for (;;) {
    const up: unknown = Object.getPrototypeOf(base)
    if (up === IncomingMessage.prototype) break
    if (up === null || typeof up !== 'object') return false
    base = up
  }
  if (!('auth' in proto)) {
    Object.defineProperty(base, 'auth', {
      configurable: true,
      enumerable: false,
      get: readAuth,
      set: writeAuth,
    })
  }
  // Ours only if the lookup from this prototype ends at our accessor.
  for (let at: object | null = proto; at !== null; at = Object.getPrototypeOf(at)) {
    const own = Object.getOwnPropertyDescriptor(at, 'auth')
    if (own !== undefined) return own.get === readAuth
  }
  return false
}

/** Sets `req.auth` for the rest of the request. */
export function setRequestAuth(req: object, auth: AuthContext): void {
  const proto: unknown = Object.getPrototypeOf(req)
  if (proto !== null && typeof proto === 'object') {
    let ours = viaAccessor.get(proto)
    if (ours === undefined) {
      ours = prepare(proto)
      viaAccessor.set(proto, ours)
    }
    if (ours && !Object.hasOwn(req, 'auth')) {
      authOf.set(req, auth)
      return
    }
  }
  ;(req as { auth?: AuthContext }).auth = auth
}

/**
 * `req.auth`, read without a property lookup when portcullis set it through the accessor: a
 * request Express re-prototyped has a hidden class of its own, so every property read from it
 * misses V8's inline caches and walks the prototype chain in the runtime.
 */
export function requestAuth(req: object): unknown {
  return authOf.get(req) ?? (req as { auth?: unknown }).auth
}
