import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from './errors.js'
import { canonicalOriginPattern, compileOriginMatcher, requestOrigin } from './origins.js'

type Headers = Record<string, string | string[]>

/** Whether a key limited to `patterns` (stored canonical, as the core stores them) admits a request. */
function admits(patterns: readonly string[], headers: Headers): boolean {
  const stored = patterns.map((pattern, i) =>
    canonicalOriginPattern(pattern, `allowedOrigins[${i}]`),
  )
  const seen = requestOrigin(headers)
  return seen !== null && compileOriginMatcher(stored)(seen.origin)
}

const origin = (value: string): Headers => ({ origin: value })
const referer = (value: string): Headers => ({ referer: value })

const APP = 'https://app.example.com'
const WILD = 'https://*.example.com'
const LOCAL = 'http://localhost:*'
const BUCHER = 'https://bücher.example'

// [pattern, request headers, admitted?, why]
const CASES: [string, Headers, boolean, string][] = [
  // Exact origins and their lookalikes.
  [APP, origin(APP), true, 'the very origin'],
  [APP, origin('https://app.example.com/'), true, 'a trailing slash is still the origin'],
  [
    APP,
    origin('https://app.example.com.evil.com'),
    false,
    'the pattern as a prefix of another host',
  ],
  ['https://example.com', origin('https://example.com.evil.com'), false, 'suffix attack'],
  ['https://example.com', origin('https://evilexample.com'), false, 'a host ending in the name'],
  ['https://example.com', origin('https://example.co'), false, 'a host that is a prefix'],
  ['https://example.com', origin('https://sub.example.com'), false, 'a subdomain of an exact host'],
  [APP, origin('https://app.example.com@evil.com'), false, 'user info in an Origin'],
  [APP, origin('https://app.example.com/path'), false, 'an Origin with a path is no Origin'],
  [APP, origin('https://*.example.com'), false, 'a literal * in a request origin'],
  // Referer, used only without Origin.
  [APP, referer('https://app.example.com/checkout?step=2#pay'), true, 'Referer only, with a path'],
  [APP, referer('https://app.example.com:443/x'), true, 'Referer only, with the default port'],
  [
    'https://example.com',
    referer('https://evil.com/?https://example.com'),
    false,
    'the pattern in a Referer query',
  ],
  ['https://example.com', referer('https://evil.com/https://example.com'), false, 'in a path'],
  ['https://example.com', referer('https://example.com@evil.com/'), false, 'as Referer user info'],
  [APP, { origin: 'https://evil.com', referer: `${APP}/` }, false, 'Origin wins over Referer'],
  [APP, { origin: 'null', referer: `${APP}/` }, false, 'Origin "null" is not replaced by Referer'],
  // No usable origin at all.
  [APP, origin('null'), false, 'Origin "null" (sandboxed frame, file page, redirect)'],
  [APP, {}, false, 'no Origin and no Referer'],
  [APP, origin(''), false, 'an empty Origin'],
  [APP, origin('not a url'), false, 'an unparsable Origin'],
  [APP, { origin: [APP, APP] }, false, 'Origin sent twice'],
  [APP, origin('file:///etc/passwd'), false, 'a file origin'],
  [APP, origin('chrome-extension://abcdefghijklmnop'), false, 'an extension origin'],
  // Scheme and port.
  [APP, origin('http://app.example.com'), false, 'http where https is allowed'],
  ['http://app.example.com', origin(APP), false, 'https where http is allowed'],
  [APP, origin('https://app.example.com:8443'), false, 'a port other than the default'],
  [APP, origin('https://app.example.com:80'), false, 'the http default port over https'],
  [APP, origin('https://app.example.com:443'), true, 'the default port given explicitly'],
  ['https://app.example.com:443', origin(APP), true, 'the pattern naming the default port'],
  ['http://app.example.com:80', origin('http://app.example.com'), true, 'http default port'],
  ['https://app.example.com:8443', origin('https://app.example.com:8443'), true, 'a named port'],
  ['https://app.example.com:8443', origin(APP), false, 'a named port, the request on 443'],
  // Case and trailing dots.
  [APP, origin('HTTPS://APP.EXAMPLE.COM'), true, 'an uppercase origin'],
  ['HTTPS://App.Example.COM', origin(APP), true, 'an uppercase pattern'],
  [
    APP,
    origin('https://app.example.com.'),
    true,
    'a trailing dot (the same name, fully qualified)',
  ],
  ['https://app.example.com.', origin(APP), true, 'a pattern with a trailing dot'],
  // IDNA: patterns in Unicode are compared as browsers send them, in punycode.
  [BUCHER, origin('https://xn--bcher-kva.example'), true, 'punycode origin, Unicode pattern'],
  ['https://xn--bcher-kva.example', origin('https://xn--bcher-kva.example'), true, 'punycode both'],
  ['https://xn--bcher-kva.example', origin(BUCHER), true, 'Unicode origin, punycode pattern'],
  [BUCHER, origin('https://bucher.example'), false, 'the name without its umlaut'],
  ['https://apple.com', origin('https://xn--pple-43d.com'), false, 'a Cyrillic а homograph'],
  [
    'https://*.bücher.example',
    origin('https://shop.xn--bcher-kva.example'),
    true,
    'a wildcard over a Unicode name',
  ],
  // Wildcards: each * is exactly one label.
  [WILD, origin(APP), true, 'one label'],
  [WILD, origin('https://example.com'), false, 'zero labels'],
  [WILD, origin('https://a.b.example.com'), false, 'two labels'],
  [WILD, origin('https://app.example.com.evil.com'), false, 'the wildcard pattern as a prefix'],
  [WILD, origin('https://appexample.com'), false, 'no dot before the suffix'],
  [WILD, origin('https://app.evil-example.com'), false, 'a lookalike suffix'],
  [WILD, origin('http://app.example.com'), false, 'wildcard, wrong scheme'],
  [WILD, origin('https://app.example.com:8443'), false, 'wildcard, wrong port'],
  [WILD, origin('https://my_app.example.com'), false, 'a label that is no host name label'],
  ['https://*.*.example.com', origin('https://a.b.example.com'), true, 'two wildcards, two labels'],
  ['https://*.*.example.com', origin(APP), false, 'two wildcards, one label'],
  ['https://*.example.com:*', origin('https://a.example.com:8443'), true, 'any port, any label'],
  // IP literals.
  ['http://[::1]:3000', origin('http://[::1]:3000'), true, 'IPv6 loopback'],
  ['http://[0:0::1]:3000', origin('http://[::1]:3000'), true, 'IPv6 written another way'],
  ['http://[::1]:3000', origin('http://[::1]:3001'), false, 'IPv6, another port'],
  ['https://[2001:db8::1]', origin('https://[2001:db8::2]'), false, 'another IPv6 address'],
  ['http://127.0.0.1:8080', origin('http://127.0.0.1:8080'), true, 'IPv4 loopback'],
  ['http://127.0.0.1:8080', origin('http://localhost:8080'), false, 'IPv4 is not localhost'],
  // Local development on any port.
  [LOCAL, origin('http://localhost:3000'), true, 'localhost:3000'],
  [LOCAL, origin('http://localhost:5173'), true, 'localhost:5173 (Vite)'],
  [LOCAL, origin('http://localhost:8080'), true, 'localhost:8080'],
  [LOCAL, origin('http://localhost'), true, 'localhost on port 80'],
  [LOCAL, origin('https://localhost:3000'), false, 'https where the pattern says http'],
  [LOCAL, origin('http://localhost.evil.com:3000'), false, 'a host starting with localhost'],
  [LOCAL, origin('http://app.localhost:3000'), false, 'a subdomain of localhost'],
  [LOCAL, origin('http://127.0.0.1:3000'), false, 'the loopback address is another origin'],
]

describe('origin patterns against request origins', () => {
  it('has a case for every lookalike worth naming', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40)
  })

  it.each(CASES)('%s with %j: %s (%s)', (pattern, headers, expected) => {
    expect(admits([pattern], headers)).toBe(expected)
  })

  it('admits an origin any one of several patterns matches', () => {
    const patterns = [APP, WILD, LOCAL]
    expect(admits(patterns, origin('https://admin.example.com'))).toBe(true)
    expect(admits(patterns, origin('http://localhost:4000'))).toBe(true)
    expect(admits(patterns, origin('https://example.com'))).toBe(false)
  })
})

describe('the origin a request names', () => {
  it('is shown canonical, for the refusal message', () => {
    expect(requestOrigin(origin('HTTPS://App.Example.COM:443'))?.text).toBe(APP)
    expect(requestOrigin(origin('http://localhost:5173'))?.text).toBe('http://localhost:5173')
    expect(requestOrigin(referer('https://app.example.com./a?b'))?.text).toBe(APP)
    expect(requestOrigin(origin('https://bücher.example'))?.text).toBe(
      'https://xn--bcher-kva.example',
    )
  })

  it('is read from a fetch Headers object too', () => {
    expect(requestOrigin(new Headers({ origin: APP }))?.text).toBe(APP)
    expect(requestOrigin(new Headers({ referer: `${APP}/x` }))?.text).toBe(APP)
    expect(requestOrigin(new Headers())).toBeNull()
  })
})

describe('origin patterns at configuration', () => {
  it.each([
    ['HTTPS://App.Example.COM:443/', APP],
    ['https://app.example.com.', APP],
    ['http://localhost:*', 'http://localhost:*'],
    ['http://localhost:*/', 'http://localhost:*'],
    ['https://*.Bücher.example', 'https://*.xn--bcher-kva.example'],
    ['https://*.*.example.com', 'https://*.*.example.com'],
    ['http://[0:0::1]:3000', 'http://[::1]:3000'],
    ['https://app.example.com:8443', 'https://app.example.com:8443'],
    ['http://app.example.com:80', 'http://app.example.com'],
  ])('stores %s as %s', (pattern, canonical) => {
    expect(canonicalOriginPattern(pattern, 'allowedOrigins[0]')).toBe(canonical)
  })

  const REFUSED: [unknown, RegExp][] = [
    ['https://*example.com', /only as whole leftmost labels/],
    ['*.com', /needs a scheme/],
    ['*.example.com', /needs a scheme/],
    ['https://*.com', /at least two named labels/],
    ['https://*', /at least two named labels/],
    ['https://*.*', /at least two named labels/],
    ['https://app.example.com/path', /no path, query or fragment/],
    ['https://app.example.com/?', /no path, query or fragment/],
    ['https://app.example.com?x=1', /no path, query or fragment/],
    ['https://app.example.com#top', /no path, query or fragment/],
    ['https://user@app.example.com', /must not name a user/],
    ['https://user:secret@app.example.com', /must not name a user/],
    ['ftp://files.example.com', /must use http or https/],
    ['wss://app.example.com', /must use http or https/],
    ['app.example.com', /needs a scheme/],
    ['javascript:alert(1)', /needs a scheme/],
    ['https://app.*.example.com', /only as whole leftmost labels/],
    ['https://app.example.*', /only as whole leftmost labels/],
    ['https://*.example.com:8*', /only as whole leftmost labels/],
    ['http://*.168.1.1', /IP address|not a valid origin/],
    ['http://*.0.0.1:3000', /IP address|not a valid origin/],
    ['http://*.[::1]', /at least two named labels|IP address/],
    ['http://*.[::ffff:1.2.3.4]', /IP address|not a valid origin/],
    ['https://', /no host|not a valid origin|not a valid host/],
    ['https://exa mple.com', /not a valid/],
    ['https://app.example.com:99999', /not a valid origin/],
    ['https://my_app.example.com', /not a valid host name/],
    ['', /is not an origin pattern/],
    [42, /is not an origin pattern/],
    [null, /is not an origin pattern/],
    [`https://${'a'.repeat(300)}.com`, /is not an origin pattern/],
  ]

  it.each(REFUSED)('refuses %j with invalid_request naming the entry', (pattern, why) => {
    let thrown: unknown
    try {
      canonicalOriginPattern(pattern, 'allowedOrigins[3]')
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InvalidRequestError)
    const error = thrown as InvalidRequestError
    expect(error.code).toBe('invalid_request')
    expect(error.param).toBe('allowedOrigins[3]')
    expect(error.message).toMatch(why)
    expect(error.message.startsWith(`allowedOrigins[3]: ${JSON.stringify(pattern)}`)).toBe(true)
    expect(error.toJSON().error.param).toBe('allowedOrigins[3]')
  })

  it('matches nothing with a stored pattern that no longer compiles (fail closed)', () => {
    const matcher = compileOriginMatcher(['https://*.com', 'not a pattern'])
    const seen = requestOrigin(origin('https://example.com'))
    expect(seen).not.toBeNull()
    expect(matcher(seen?.origin as NonNullable<typeof seen>['origin'])).toBe(false)
  })
})
