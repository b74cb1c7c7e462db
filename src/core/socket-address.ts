/**
 * Each socket's peer address, read from the socket once. Node's `socket.remoteAddress` is a
 * getter that reaches the socket's handle through three more getters (each a lookup V8 cannot
 * specialise, since sockets take many shapes), on every request of a keep-alive connection; a
 * connected socket's peer never changes, so the bindings ask here instead: one weak-map lookup
 * per request. Weak: a closed socket's entry goes with it.
 */
const addresses = new WeakMap<object, string>()

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
    if (typeof address === 'string') addresses.set(socket, address)
  }
  return address
}
