/**
 * The CORS recipe (examples/cors/*, as docs/client-restrictions.md shows it) in a real browser.
 * The API listens on http://127.0.0.1:A; pages on other loopback origins `fetch()` it with
 * `Authorization: Bearer <key>`, so Chromium itself decides what Origin, Referer and
 * Sec-Fetch-* headers go out, whether a preflight is needed and whether the page may read the
 * answer. Pages:
 *   http://localhost:B  — the origin the publishable key is limited to;
 *   http://127.0.0.1:C  — another host; http://localhost:D — the right host, another port;
 *   http://127.0.0.1:A  — the API's own origin: a same-origin GET sends Referer and no Origin.
 * Skipped (with the reason printed) without Chromium; a failure under
 * PORTCULLIS_REQUIRE_SERVICES=1. `PORTCULLIS_SCREENSHOT_DIR` keeps the screenshot it takes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { RequestListener } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp as createExpressApp } from '../../examples/cors/express.js'
import { createApp as createKoaApp } from '../../examples/cors/koa.js'
import type { Portcullis, PortcullisOptions } from '../../src/index.js'
import { makeGate } from '../helpers.js'
import { browserAvailable } from '../support/services.js'
import { launchChromium, runPage } from './support/chromium.js'
import {
  type Listening,
  listenApi,
  listenPages,
  type PageCall,
  type PageRegistry,
  type SeenRequest,
} from './support/pages.js'

const chromiumPath = await browserAvailable()

const TEST_TIMEOUT_MS = 20_000
const PROJECT = 'proj_browser'

type Framework = readonly [name: string, create: (gate: Portcullis) => RequestListener]
const FRAMEWORKS: readonly Framework[] = [
  ['Express 5', (gate) => createExpressApp(gate)],
  ['Koa 3', (gate) => createKoaApp(gate).callback()],
]

describe.skipIf(chromiumPath === null)('the CORS recipe in Chromium', () => {
  let browser: Browser
  const pages: PageRegistry = new Map()
  // The page servers: B (allowed), C (another host), D (another port).
  let servers: Listening[] = []
  let allowedOrigin: string
  let otherHostOrigin: string
  let otherPortOrigin: string
  let shotsDir: string
  const keepShots = process.env.PORTCULLIS_SCREENSHOT_DIR

  beforeAll(async () => {
    shotsDir = keepShots ?? (await mkdtemp(join(tmpdir(), 'portcullis-browser-')))
    browser = await launchChromium(chromiumPath as string)
    servers = await Promise.all([listenPages(pages), listenPages(pages), listenPages(pages)])
    const [b, c, d] = servers as [Listening, Listening, Listening]
    allowedOrigin = `http://localhost:${b.port}`
    otherHostOrigin = `http://127.0.0.1:${c.port}`
    otherPortOrigin = `http://localhost:${d.port}`
  }, TEST_TIMEOUT_MS)

  afterAll(async () => {
    await browser?.close()
    await Promise.all(servers.map((server) => server.close()))
    if (keepShots === undefined && shotsDir !== undefined) {
      await rm(shotsDir, { recursive: true, force: true })
    }
  }, TEST_TIMEOUT_MS)

  /** Registers a page and returns its URL on `origin`. */
  let pageCount = 0
  const page = (origin: string, calls: readonly PageCall[]) => {
    const id = `p${++pageCount}`
    pages.set(id, calls)
    return `${origin}/page/${id}`
  }

  describe.each(FRAMEWORKS)('%s', (name, create) => {
    let api: Awaited<ReturnType<typeof listenApi>>
    let lenientApi: Awaited<ReturnType<typeof listenApi>>
    const keys = {
      exact: '', // limited to http://localhost:B
      anyPort: '', // limited to http://localhost:*
      apiOrigin: '', // limited to the API's own origin
      secret: '',
      restricted: '',
      lenientSecret: '', // a secret key of a gate with refuseSecretKeysFromBrowsers: false
    }

    const start = async (options: Partial<PortcullisOptions>) => {
      const { gate } = makeGate(options)
      return { gate, server: await listenApi(create(gate), pages) }
    }

    beforeAll(async () => {
      const strict = await start({})
      api = strict.server
      const { gate } = strict
      const provisioned = await gate.projects.provision(PROJECT)
      keys.secret = provisioned.test.secretKey.key
      const publishable = async (allowedOrigins: string[]) =>
        (
          await gate.keys.create({
            projectId: PROJECT,
            type: 'publishable',
            mode: 'test',
            allowedOrigins,
          })
        ).key
      keys.exact = await publishable([allowedOrigin])
      keys.anyPort = await publishable(['http://localhost:*'])
      keys.apiOrigin = await publishable([`http://127.0.0.1:${api.port}`])
      keys.restricted = (
        await gate.keys.create({ projectId: PROJECT, type: 'restricted', mode: 'test' })
      ).key
      const lenient = await start({ refuseSecretKeysFromBrowsers: false })
      lenientApi = lenient.server
      keys.lenientSecret = (await lenient.gate.projects.provision(PROJECT)).test.secretKey.key
    }, TEST_TIMEOUT_MS)

    afterAll(async () => {
      await Promise.all([api?.close(), lenientApi?.close()])
    })

    const apiUrl = (path: string) => `http://127.0.0.1:${api.port}${path}`
    /** The requests the API got for `path` since the last call, emptying the record. */
    const takeSeen = (server: { seen: SeenRequest[] }, path: string) =>
      server.seen.splice(0).filter((request) => request.path === path)

    it(
      'a page on the allowed origin reads 200 and the JSON body, after a preflight CORS answered',
      async () => {
        api.seen.length = 0
        const results = await runPage(
          browser,
          page(allowedOrigin, [
            { label: 'key limited to this origin', url: apiUrl('/v1/config'), key: keys.exact },
            { label: 'key limited to localhost:*', url: apiUrl('/v1/config'), key: keys.anyPort },
          ]),
        )
        for (const result of results) {
          expect(result, result.label).toMatchObject({
            status: 200,
            body: { projectId: PROJECT, livemode: false },
          })
        }
        const seen = takeSeen(api, '/v1/config')
        // Authorization makes the request non-simple: Chromium asked first, and the CORS
        // middleware answered without the guard (a preflight carries no key).
        expect(seen[0]).toMatchObject({ method: 'OPTIONS', origin: allowedOrigin, status: 204 })
        const gets = seen.filter((request) => request.method === 'GET')
        expect(gets).toHaveLength(2)
        for (const request of gets) {
          expect(request).toMatchObject({ origin: allowedOrigin, secFetchSite: 'cross-site' })
          // Express adds an ETag, so Chromium revalidates the second GET of the same URL and
          // gets 304 for an identical body; the page still reads 200 from its cache.
          expect([200, 304]).toContain(request.status)
        }
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'pages on other origins read 403 origin_not_allowed naming the origin they came from',
      async () => {
        const otherHost = await runPage(
          browser,
          page(otherHostOrigin, [
            { label: 'key limited to localhost:B', url: apiUrl('/v1/config'), key: keys.exact },
            { label: 'key limited to localhost:*', url: apiUrl('/v1/config'), key: keys.anyPort },
          ]),
        )
        for (const result of otherHost) {
          expect(result, result.label).toMatchObject({
            status: 403,
            body: { error: { type: 'invalid_request_error', code: 'origin_not_allowed' } },
          })
          expect(result.body?.error?.message).toContain(otherHostOrigin)
        }
        const otherPort = await runPage(
          browser,
          page(otherPortOrigin, [
            { label: 'key limited to localhost:B', url: apiUrl('/v1/config'), key: keys.exact },
            { label: 'key limited to localhost:*', url: apiUrl('/v1/config'), key: keys.anyPort },
          ]),
        )
        expect(otherPort[0]).toMatchObject({
          status: 403,
          body: { error: { code: 'origin_not_allowed' } },
        })
        expect(otherPort[0]?.body?.error?.message).toContain(otherPortOrigin)
        expect(otherPort[1]).toMatchObject({ status: 200, body: { projectId: PROJECT } })
      },
      TEST_TIMEOUT_MS,
    )

    it(
      "a page's secret or restricted key gets 401 secret_key_from_browser; the same secret key from Node gets 200",
      async () => {
        const screenshot = name === FRAMEWORKS[0]?.[0] ? join(shotsDir, 'cors-page.png') : undefined
        const results = await runPage(
          browser,
          page(allowedOrigin, [
            { label: 'publishable key', url: apiUrl('/v1/config'), key: keys.exact },
            { label: 'secret key', url: apiUrl('/v1/charges'), key: keys.secret },
            { label: 'restricted key', url: apiUrl('/v1/charges'), key: keys.restricted },
          ]),
          screenshot,
        )
        expect(results[0]).toMatchObject({ status: 200 })
        for (const result of results.slice(1)) {
          expect(result, result.label).toMatchObject({
            status: 401,
            body: { error: { type: 'authentication_error', code: 'secret_key_from_browser' } },
          })
          // Exposed by the recipe, so the page can read the challenge too.
          expect(result.wwwAuthenticate).toMatch(/^Bearer /)
        }
        const fromNode = await fetch(apiUrl('/v1/charges'), {
          headers: { authorization: `Bearer ${keys.secret}` },
          signal: AbortSignal.timeout(5000),
        })
        expect(fromNode.status).toBe(200)
        expect(await fromNode.json()).toMatchObject({ object: 'list', livemode: false })
        if (screenshot !== undefined) {
          const png = await readFile(screenshot)
          expect(png.subarray(0, 8)).toEqual(Buffer.from('89504e470d0a1a0a', 'hex'))
        }
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'with refuseSecretKeysFromBrowsers: false, the same page may use a secret key',
      async () => {
        const results = await runPage(
          browser,
          page(allowedOrigin, [
            {
              label: 'secret key',
              url: `http://127.0.0.1:${lenientApi.port}/v1/charges`,
              key: keys.lenientSecret,
            },
          ]),
        )
        expect(results[0]).toMatchObject({ status: 200, body: { object: 'list' } })
      },
      TEST_TIMEOUT_MS,
    )

    it(
      "a same-origin GET sends Referer and no Origin, and is judged by the Referer's origin",
      async () => {
        api.seen.length = 0
        const url = page(apiUrl(''), [
          { label: 'key limited to localhost:B', url: '/v1/config', key: keys.exact },
          { label: 'key limited to the API origin', url: '/v1/config', key: keys.apiOrigin },
        ])
        const results = await runPage(browser, url)
        const seen = takeSeen(api, '/v1/config')
        // What Chromium sent: no preflight, no Origin, the page's full URL as Referer.
        expect(seen.map((request) => request.method)).toEqual(['GET', 'GET'])
        for (const request of seen) {
          expect(request).toMatchObject({
            origin: undefined,
            referer: url,
            secFetchSite: 'same-origin',
          })
        }
        expect(results[0]).toMatchObject({
          status: 403,
          body: { error: { code: 'origin_not_allowed' } },
        })
        expect(results[0]?.body?.error?.message).toContain(`from ${apiUrl('')}.`)
        expect(results[1]).toMatchObject({ status: 200, body: { projectId: PROJECT } })
      },
      TEST_TIMEOUT_MS,
    )
  })
})
