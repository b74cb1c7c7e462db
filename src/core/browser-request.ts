import type { RequestHeaders } from './read-credential.js'
import { readHeader } from './read-credential.js'

/**
 * Whether a request was sent by a web browser. Chrome, Firefox and Safari add `Sec-Fetch-Site`
 * and `Sec-Fetch-Dest` to every request to an https (or loopback) URL, and page scripts can
 * neither set nor remove them; otherwise (plain http, older browsers) a browser is recognised
 * by an `Origin` together with a browser User-Agent, which every cross-origin fetch and every
 * POST carries. Node's own fetch (undici) sends `Sec-Fetch-Mode: cors` on every request, so
 * that header alone does not count; curl, Python requests and Go's net/http send none of these.
 */
export function isBrowserRequest(headers: RequestHeaders): boolean {
  if (readHeader(headers, 'sec-fetch-site') !== undefined) return true
  if (readHeader(headers, 'sec-fetch-dest') !== undefined) return true
  if (readHeader(headers, 'origin') === undefined) return false
  const agent = readHeader(headers, 'user-agent')
  return typeof agent === 'string' && /^Mozilla\/\d/.test(agent)
}
