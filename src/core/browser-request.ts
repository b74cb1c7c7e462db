import type { RequestHeaders } from './read-credential.js'

type PlainHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

const BROWSER_AGENT = /^Mozilla\/\d/

/**
 * Whether a request was sent by a web browser. Chrome, Firefox and Safari add `Sec-Fetch-Site`
 * and `Sec-Fetch-Dest` to every request to an https (or loopback) URL, and page scripts can
 * neither set nor remove them; otherwise (plain http, older browsers) a browser is recognised
 * by an `Origin` together with a browser User-Agent, which every cross-origin fetch and every
 * POST carries. Node's own fetch (undici) sends `Sec-Fetch-Mode: cors` on every request, so
 * that header alone does not count; curl, Python requests and Go's net/http send none of these.
 *
 * It runs on every request that carries a secret key, so the usual case (Node's plain headers
 * object) is read with named property loads, and a fetch `Headers` is recognised once.
 */
export function isBrowserRequest(headers: RequestHeaders): boolean {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const fetchHeaders = headers as { get(name: string): string | null }
    if (fetchHeaders.get('sec-fetch-site') !== null) return true
    if (fetchHeaders.get('sec-fetch-dest') !== null) return true
    if (fetchHeaders.get('origin') === null) return false
    return BROWSER_AGENT.test(fetchHeaders.get('user-agent') ?? '')
  }
  const plain = headers as PlainHeaders
  if (plain['sec-fetch-site'] !== undefined) return true
  if (plain['sec-fetch-dest'] !== undefined) return true
  if (plain.origin === undefined) return false
  const agent = plain['user-agent']
  return typeof agent === 'string' && BROWSER_AGENT.test(agent)
}
