import { describe, expect, it } from 'vitest'
import { isBrowserRequest } from './browser-request.js'

const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'

/** Lower-case header sets, as Node parses them: [what, headers, a browser?]. */
const CASES: [string, Record<string, string>, boolean][] = [
  ['Sec-Fetch-Site alone', { 'sec-fetch-site': 'cross-site' }, true],
  ['Sec-Fetch-Dest alone', { 'sec-fetch-dest': 'empty' }, true],
  [
    'an Origin with a browser User-Agent',
    { origin: 'http://a.example', 'user-agent': CHROME },
    true,
  ],
  ['an Origin without a User-Agent', { origin: 'http://a.example' }, false],
  [
    'an Origin with a server User-Agent',
    { origin: 'http://a.example', 'user-agent': 'node' },
    false,
  ],
  ['a browser User-Agent without an Origin', { 'user-agent': CHROME }, false],
  [
    "Node's fetch: Sec-Fetch-Mode and User-Agent node",
    { 'sec-fetch-mode': 'cors', 'user-agent': 'node' },
    false,
  ],
  ['curl', { 'user-agent': 'curl/8.5.0', accept: '*/*' }, false],
]

describe('isBrowserRequest', () => {
  for (const [what, headers, browser] of CASES) {
    it(`${what}: ${browser ? 'a browser' : 'not a browser'}, as plain headers and as fetch Headers`, () => {
      expect(isBrowserRequest(headers)).toBe(browser)
      expect(isBrowserRequest(new Headers(headers))).toBe(browser)
    })
  }
})
