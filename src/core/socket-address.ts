import type { AuthenticateRequest } from './authenticate.js'
import type { RequestHeaders } from './read-credential.js'

/**
 * Each socket's peer address, read from the socket once. Node's `socket.remoteAddress` is a
 * getter that reaches the socket's handle through three more getters (each a lookup V8 cannot
 * specialise, since sockets take many shapes), on every request of a keep-alive connection; a
 * connected socket's peer never changes, so the bindings ask here instead: one weak-map lookup
 * per request. Weak: a closed socket's entry goes with it.
 */
const addresses = new WeakMap<object, string>()

/**
 * One string per address text among the sockets seen lately. Each socket's address is a string
 * of its own, and an allowlist answer kept on a key is keyed by the address it came from: with
 * one shared string, a request on another connection from the same address matches it by
 * identity instead of comparing characters. Bounded: emptied when full, which costs only that.
 */
const canonical = new Map<string, string>()
const MAX_CANONICAL = 4096

function canonicalOf(address: string): string {
  const known = canonical.get(address)
  if (known !== undefined) return known
  if (canonical.size >= MAX_CANONICAL) canonical.clear()
  const shared = internalized(address)
  canonical.set(address, shared)
  return shared
}

/**
 * `text` as V8's internalized string of it: the one a property of that name is keyed by. A
 * comparison that has only ever seen internalized strings on both sides is compiled as a
 * comparison of references, where other strings cost a call that compares lengths and then
 * characters (the allowlist's check of the kept peer, on every request of a key with an
 * allowlist). An address text is never an array index (it has a dot or a colon), so it is a
 * named property; anything else is still the same text, only compared the slower way.
 */
function internalized(text: string): string {
  for (const key in { [text]: 0 }) return key
  return text
}

/**
 * `socket.remoteAddress`, remembered for the socket once it is known. An address not known yet
 * (a socket not connected, or one already destroyed before it was read) is not remembered, so
 * it is read again next time.
 */
export function socketAddress(
  socket: { readonly remoteAddress?: string | undefined } | null | undefined,
): string | undefined {
  if (typeof socket !== 'object' || socket === null) return undefined
  let address = addresses.get(socket)
  if (address === undefined) {
    address = socket.remoteAddress
    if (typeof address === 'string') {
      address = canonicalOf(address)
      addresses.set(socket, address)
    }
  }
  return address
}

/** What {@link socketAddress} reads: a socket, or nothing. */
type SocketLike = Parameters<typeof socketAddress>[0]

/**
 * What a guard hands the core for one request: the headers, the raw header list, and the
 * socket's address read only when a rule asks for it (a key's IP allowlist). Most decisions
 * never do (a publishable key, a session, a secret key without an allowlist), and reading it
 * costs a lookup on the request and one in the weak map above. `request` is the framework's
 * Node request, read through `Reflect.get`, which an Express request needs (see its binding's
 * `readRequest`); a request Node made and nobody re-prototyped takes {@link NodeGuardRequest}.
 * Not for spreading into another object: the address is a getter on the prototype, which a
 * spread leaves behind.
 */
export class GuardRequest implements AuthenticateRequest {
  readonly headers: RequestHeaders
  readonly rawHeaders: readonly string[] | undefined
  readonly #request: object

  constructor(headers: RequestHeaders, rawHeaders: readonly string[] | undefined, request: object) {
    this.headers = headers
    this.rawHeaders = rawHeaders
    this.#request = request
  }

  get remoteAddress(): string | undefined {
    return socketAddress(Reflect.get(this.#request, 'socket') as SocketLike)
  }
}

/**
 * {@link GuardRequest} for a request as Node made it (Koa's `ctx.req`): its `socket` is an own
 * property of one of a few hidden classes, which a plain load reads inline, where `Reflect.get`
 * costs a call into V8's generic lookup (some 170 instructions a request over HTTP, counted by
 * `npm run bench:http-instructions -- --functions`). A class of its own, not a subclass sharing
 * the fields: through a shared base class the decision cost some 220 instructions more on both
 * frameworks (`npm run bench:instructions`).
 */
export class NodeGuardRequest implements AuthenticateRequest {
  readonly headers: RequestHeaders
  readonly rawHeaders: readonly string[] | undefined
  readonly #request: { readonly socket?: SocketLike }

  constructor(
    headers: RequestHeaders,
    rawHeaders: readonly string[] | undefined,
    request: { readonly socket?: SocketLike },
  ) {
    this.headers = headers
    this.rawHeaders = rawHeaders
    this.#request = request
  }

  get remoteAddress(): string | undefined {
    return socketAddress(this.#request.socket)
  }
}

/**
 * One instance of each kept for the process's life. A request's instance is garbage as soon as
 * it is decided, so at a full collection often none is alive; V8 holds the hidden classes the
 * constructor builds only weakly (from the class, and from the code compiled against them), so
 * they would die with the last instance, and the middleware compiled against them would be
 * thrown away and compiled again after every full collection. These keep them.
 */
const _keptShapes = [new GuardRequest({}, undefined, {}), new NodeGuardRequest({}, undefined, {})]
