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
  canonical.set(address, address)
  return address
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
