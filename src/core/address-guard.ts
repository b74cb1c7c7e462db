import type { AuthenticateRequest } from './authenticate.js'
import { requestClientAddress } from './client-address.js'
import { AuthenticationError } from './errors.js'
import { compileAllowlist, normalizeAllowlist } from './ip.js'
import type { GateCore } from './options.js'

/** The outcome of a static allowlist check. */
export type AddressCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: AuthenticationError }

/**
 * Compiles a static allowlist once (throwing `InvalidRequestError` for a bad entry) and returns
 * a check that resolves the client address the way `authenticate` does (socket address, or
 * `X-Forwarded-For` through `trustedProxies` only) and refuses anyone not on the list.
 */
export function createAddressGuard(core: GateCore) {
  return (list: readonly string[]): ((request: AuthenticateRequest) => AddressCheck) => {
    const matches = compileAllowlist(normalizeAllowlist(list, 'allowlist'))
    return (request) => {
      const address = requestClientAddress(request, core.trust)
      return matches(address)
        ? { ok: true }
        : { ok: false, error: new AuthenticationError('ip_not_allowed') }
    }
  }
}
