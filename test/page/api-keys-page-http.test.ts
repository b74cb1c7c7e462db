/**
 * The API keys page over plain HTTP, on every binding it ships for (Express 4 and 5, Koa 2 and
 * 3 with `prefix`, Koa 3 under @koa/router), mounted at a non-root path behind a login that
 * here is a header: the document and its headers, the static files and their size, the CSRF
 * rules of its JSON API, the grant `authorize` returns, and that the browser never names a
 * project. Runs without a browser or any service; the Chromium suites beside it drive the page.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, get, type IncomingMessage, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import * as forExpress from '../../src/express/index.js'
import type { OperatorEvent, Portcullis } from '../../src/index.js'
import * as forKoa from '../../src/koa/index.js'
import { pageAssets, SCRIPT_NAME, STYLE_NAME } from '../../src/page/assets.js'
import { PAGE_CSP } from '../../src/page/html.js'
import { makeGate } from '../helpers.js'

const MOUNT = '/settings/api-keys'
const root = fileURLToPath(new URL('../..', import.meta.url))
/** The budget for the page's script and stylesheet together, gzipped. */
const BUDGET_BYTES = 60 * 1024

/** The signed-in user's grant, from the login the app already has (a header stands in). */
type Authorize = (headers: Record<string, unknown>) => forExpress.ApiKeysPageGrant | false

interface Mounted {
  readonly app: RequestListener
  readonly events: OperatorEvent[]
  /** How many times `authorize` was called. */
  readonly calls: () => number
}

interface Framework {
  readonly name: string
  mount(gate: Portcullis, authorize: Authorize): Mounted
}

function counting(authorize: Authorize) {
  let calls = 0
  return {
    authorize: (headers: Record<string, unknown>) => {
      calls += 1
      return authorize(headers)
    },
    calls: () => calls,
  }
}

const expressFramework = (name: string, express: typeof express5): Framework => ({
  name,
  mount(gate, authorize) {
    const events: OperatorEvent[] = []
    const counted = counting(authorize)
    const app = express()
    app.use(
      MOUNT,
      forExpress.apiKeysPage(gate, {
        authorize: (req) => counted.authorize(req.headers),
        onEvent: (event) => events.push(event),
      }),
    )
    app.get('/elsewhere', (_req, res) => {
      res.send('the app')
    })
    return { app, events, calls: counted.calls }
  },
})

const koaFramework = (name: string, Koa: typeof Koa3): Framework => ({
  name,
  mount(gate, authorize) {
    const events: OperatorEvent[] = []
    const counted = counting(authorize)
    const app = new Koa()
    app.silent = true
    app.use(
      forKoa.apiKeysPage(gate, {
        prefix: MOUNT,
        authorize: (ctx) => counted.authorize(ctx.request.headers),
        onEvent: (event) => events.push(event),
      }),
    )
    app.use((ctx) => {
      if (ctx.path === '/elsewhere') ctx.body = 'the app'
    })
    return { app: app.callback(), events, calls: counted.calls }
  },
})

const koaRouterFramework: Framework = {
  name: 'Koa 3 with @koa/router',
  mount(gate, authorize) {
    const events: OperatorEvent[] = []
    const counted = counting(authorize)
    const app = new Koa3()
    app.silent = true
    const router = new Router()
    router.use(
      MOUNT,
      forKoa.apiKeysPage(gate, {
        authorize: (ctx) => counted.authorize(ctx.request.headers),
        onEvent: (event) => events.push(event),
      }),
    )
    router.get('/elsewhere', (ctx) => {
      ctx.body = 'the app'
    })
    app.use(router.routes())
    return { app: app.callback(), events, calls: counted.calls }
  },
}

const frameworks: Framework[] = [
  expressFramework('Express 5', express5),
  expressFramework('Express 4', express4),
  koaFramework('Koa 3', Koa3),
  koaFramework('Koa 2', Koa2 as typeof Koa3),
  koaRouterFramework,
]

/** The page's API header, and the app's login: user `alice` manages proj_a. */
const PAGE = { 'X-Portcullis-Page': '1' }
const AS_ALICE = { ...PAGE, 'X-User': 'alice' }
const USERS: Record<string, forExpress.ApiKeysPageGrant> = {
  alice: { projectId: 'proj_a' },
  tester: { projectId: 'proj_a', modes: ['test'] },
}
const byUser: Authorize = (headers) => {
  const user = headers['x-user']
  return (typeof user === 'string' && USERS[user]) || false
}

async function setup(framework: Framework, authorize: Authorize = byUser) {
  const made = makeGate({ revealKey: randomBytes(32), resources: ['charges'] })
  const a = await made.gate.projects.provision('proj_a')
  const b = await made.gate.projects.provision('proj_b')
  return { ...made, a, b, ...framework.mount(made.gate, authorize) }
}

describe.each(frameworks)('the API keys page on $name', (framework) => {
  it('serves the document at its mount path: strict CSP, nothing inline, relative URLs', async () => {
    const { app } = await setup(framework)
    const bare = await request(app).get(`${MOUNT}?tab=live`).set(AS_ALICE)
    expect(bare.status).toBe(302)
    expect(bare.headers.location).toBe('./api-keys/?tab=live')
    const page = await request(app).get(`${MOUNT}/`).set(AS_ALICE)
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toBe(PAGE_CSP)
    expect(PAGE_CSP).toContain("default-src 'self'")
    expect(PAGE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/)
    expect(page.headers['x-frame-options']).toBe('SAMEORIGIN')
    expect(page.headers['referrer-policy']).toBe('no-referrer')
    expect(page.headers['cache-control']).toBe('no-store')
    const { version } = pageAssets()
    expect(page.text).toContain(
      `<script type="module" src="assets/${version}/${SCRIPT_NAME}"></script>`,
    )
    expect(page.text).toContain(`<link rel="stylesheet" href="assets/${version}/${STYLE_NAME}">`)
    expect(page.text).toContain('<portcullis-api-keys api="."></portcullis-api-keys>')
    // No inline script or style: every <script> has a src, no <style>, no style attribute,
    // no event handler attribute.
    expect(page.text.match(/<script\b[^>]*>/g)).toEqual([
      `<script type="module" src="assets/${version}/${SCRIPT_NAME}">`,
    ])
    expect(page.text).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i)
    // Nothing absolute: the page works under any mount path, and behind a proxy's prefix.
    expect(page.text).not.toMatch(/(src|href)="\//)
  })

  it('refuses a user authorize says no to: a 403 page, and 403 on every call', async () => {
    const { app, gate } = await setup(framework)
    const page = await request(app).get(`${MOUNT}/`)
    expect(page.status).toBe(403)
    expect(page.headers['content-security-policy']).toBe(PAGE_CSP)
    expect(page.text).toContain('You do not have access')
    for (const [method, path] of [
      ['get', 'context'],
      ['get', 'keys?mode=test'],
      ['post', 'keys'],
    ] as const) {
      const call = request(app)[method](`${MOUNT}/api/${path}`).set(PAGE)
      const answer =
        method === 'post' ? await call.send({ type: 'secret', mode: 'test' }) : await call
      expect(answer.status, path).toBe(403)
      expect(answer.body.error.code).toBe('forbidden')
    }
    expect(await gate.keys.list('proj_a')).toHaveLength(4)
  })

  it('serves its script and stylesheet, gzipped and cached, without calling authorize', async () => {
    const { app, calls } = await setup(framework)
    const { version, files } = pageAssets()
    for (const [name, type] of [
      [SCRIPT_NAME, 'text/javascript; charset=utf-8'],
      [STYLE_NAME, 'text/css; charset=utf-8'],
    ] as const) {
      const file = files.get(name)
      if (file === undefined) throw new Error(`no ${name}`)
      const pinned = await request(app)
        .get(`${MOUNT}/assets/${version}/${name}`)
        .set('Accept-Encoding', 'gzip')
      expect(pinned.status).toBe(200)
      expect(pinned.headers['content-type']).toBe(type)
      expect(pinned.headers['content-encoding']).toBe('gzip')
      expect(pinned.headers['cache-control']).toBe('public, max-age=31536000, immutable')
      expect(pinned.headers['x-content-type-options']).toBe('nosniff')
      expect(Buffer.from(pinned.text)).toEqual(file.body)
      // The unversioned URL, for embedding: revalidated, with an ETag.
      const latest = await request(app).get(`${MOUNT}/assets/${name}`).set('Accept-Encoding', '')
      expect(latest.status).toBe(200)
      expect(latest.headers['content-encoding']).toBeUndefined()
      expect(latest.headers['cache-control']).toBe('no-cache')
      const again = await request(app)
        .get(`${MOUNT}/assets/${name}`)
        .set('If-None-Match', latest.headers.etag as string)
      expect(again.status).toBe(304)
    }
    expect(calls()).toBe(0)
    // Not the page's: on to the app.
    expect((await request(app).get(`${MOUNT}/assets/other.js`)).status).toBe(404)
    expect((await request(app).get(`${MOUNT}/nothing-here`).set(AS_ALICE)).status).toBe(404)
    expect((await request(app).get('/elsewhere')).text).toBe('the app')
  })

  it('refuses calls without its custom header, from another site, or without a JSON body (CSRF)', async () => {
    const { app, gate } = await setup(framework)
    const body = { type: 'secret', mode: 'test' }
    const login = { 'X-User': 'alice' }
    const bare = await request(app).post(`${MOUNT}/api/keys`).set(login).send(body)
    expect(bare.status).toBe(400)
    expect(bare.body.error).toMatchObject({ code: 'invalid_request', param: 'X-Portcullis-Page' })
    const read = await request(app).get(`${MOUNT}/api/keys?mode=test`).set(login)
    expect(read.status).toBe(400)
    expect(read.body.error.param).toBe('X-Portcullis-Page')
    const wrong = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set({ ...login, 'X-Portcullis-Page': 'yes' })
      .send(body)
    expect(wrong.status).toBe(400)
    const crossSite = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set({ ...AS_ALICE, 'Sec-Fetch-Site': 'cross-site' })
      .send(body)
    expect(crossSite.status).toBe(403)
    // What an HTML form or a no-preflight fetch can send: refused.
    const form = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set({ ...AS_ALICE, 'Content-Type': 'text/plain' })
      .send(JSON.stringify(body))
    expect(form.status).toBe(400)
    expect(form.body.error.param).toBe('Content-Type')
    expect(await gate.keys.list('proj_a')).toHaveLength(4)
    const sent = await request(app).post(`${MOUNT}/api/keys`).set(AS_ALICE).send(body)
    expect(sent.status).toBe(201)
  })

  it('works on the granted project only: the browser never names one', async () => {
    const { app, gate, b } = await setup(framework)
    const context = await request(app).get(`${MOUNT}/api/context`).set(AS_ALICE)
    expect(context.body).toMatchObject({
      projectId: 'proj_a',
      modes: ['test', 'live'],
      resources: ['charges', 'client_sessions'],
      can: {
        create: true,
        reveal: true,
        roll: true,
        delete: true,
        allowlist: true,
        sessions: true,
      },
    })
    const listed = await request(app).get(`${MOUNT}/api/keys?mode=test`).set(AS_ALICE)
    expect(listed.status).toBe(200)
    expect(listed.body.data.map((key: { type: string }) => key.type)).toEqual([
      'secret',
      'publishable',
    ])
    const named = await request(app)
      .get(`${MOUNT}/api/keys?mode=test&projectId=proj_b`)
      .set(AS_ALICE)
    expect(named.status).toBe(400)
    const inBody = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set(AS_ALICE)
      .send({ type: 'secret', mode: 'test', projectId: 'proj_b' })
    expect(inBody.body.error.param).toBe('projectId')
    expect(
      (await request(app).get(`${MOUNT}/api/proj_b/keys?mode=test`).set(AS_ALICE)).status,
    ).toBe(404)
    // Another project's key, by id: as if it did not exist; nothing changes.
    const theirs = b.test.secretKey.record.id
    const before = await gate.keys.get(theirs)
    const roll = await request(app)
      .post(`${MOUNT}/api/keys/${theirs}/roll`)
      .set(AS_ALICE)
      .send({ gracePeriodMs: 0 })
    expect(roll.status).toBe(404)
    expect(roll.body.error.code).toBe('resource_missing')
    expect(await gate.keys.get(theirs)).toEqual(before)
    expect(await gate.keys.list('proj_b')).toHaveLength(4)
  })

  it('withholds what the grant withholds: a mode, or any capability', async () => {
    const capabilities = ['create', 'reveal', 'roll', 'delete', 'allowlist', 'sessions'] as const
    for (const withheld of capabilities) {
      let grant: forExpress.ApiKeysPageGrant = { projectId: 'proj_a', can: { [withheld]: false } }
      const { app, gate, a } = await setup(framework, (headers) =>
        headers['x-user'] === 'alice' ? grant : false,
      )
      const key = a.test.secretKey.record.id
      const calls: Record<(typeof capabilities)[number], () => request.Test> = {
        create: () =>
          request(app)
            .post(`${MOUNT}/api/keys`)
            .set(AS_ALICE)
            .send({ type: 'secret', mode: 'test' }),
        reveal: () => request(app).post(`${MOUNT}/api/keys/${key}/reveal`).set(AS_ALICE).send({}),
        roll: () =>
          request(app)
            .post(`${MOUNT}/api/keys/${key}/roll`)
            .set(AS_ALICE)
            .send({ gracePeriodMs: 0 }),
        delete: () => request(app).delete(`${MOUNT}/api/keys/${key}`).set(AS_ALICE).send({}),
        allowlist: () =>
          request(app)
            .patch(`${MOUNT}/api/keys/${key}`)
            .set(AS_ALICE)
            .send({ allowedIps: ['203.0.113.7'] }),
        sessions: () =>
          request(app).get(`${MOUNT}/api/client-sessions?mode=test&clientId=user_1`).set(AS_ALICE),
      }
      const context = await request(app).get(`${MOUNT}/api/context`).set(AS_ALICE)
      expect(context.body.can[withheld], withheld).toBe(false)
      const refused = await calls[withheld]()
      expect(refused.status, withheld).toBe(403)
      expect(refused.body.error.code).toBe('forbidden')
      expect(JSON.stringify(refused.body)).not.toMatch(/sk_test_\w{49}/)
      expect((await gate.keys.get(key))?.allowedIps, withheld).toEqual([])
      expect(await gate.keys.list('proj_a'), withheld).toHaveLength(4)
      // The same call with the capability granted goes through.
      grant = { projectId: 'proj_a' }
      expect((await calls[withheld]()).status, withheld).toBeLessThan(300)
    }
    const { app } = await setup(framework)
    const tester = { ...PAGE, 'X-User': 'tester' }
    expect((await request(app).get(`${MOUNT}/api/context`).set(tester)).body.modes).toEqual([
      'test',
    ])
    expect((await request(app).get(`${MOUNT}/api/keys?mode=live`).set(tester)).status).toBe(403)
    const live = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set(tester)
      .send({ type: 'secret', mode: 'live' })
    expect(live.status).toBe(403)
  })

  it('answers 500, never a guess, when authorize returns something other than a grant or false', async () => {
    for (const returned of [
      true,
      null,
      { projectId: 'proj_a', can: { reveel: false } },
      { projectId: 'proj_a', can: { reveal: 'no' } },
      { projectId: 'proj_a', modes: [] },
      { projectId: 'proj_a', modes: ['staging'] },
      { project: 'proj_a' },
      { projectId: '' },
    ]) {
      const { app } = await setup(
        framework,
        () => returned as unknown as forExpress.ApiKeysPageGrant,
      )
      const page = await request(app).get(`${MOUNT}/`)
      expect(page.status, JSON.stringify(returned)).toBe(500)
      const call = await request(app).get(`${MOUNT}/api/keys?mode=test`).set(PAGE)
      expect(call.status, JSON.stringify(returned)).toBe(500)
      expect(call.text).not.toMatch(/[sp]k_test_/)
    }
  })

  it('hands over a key in one response body only: never in a list, a URL or an event', async () => {
    const { app, events } = await setup(framework)
    const created = await request(app)
      .post(`${MOUNT}/api/keys`)
      .set(AS_ALICE)
      .send({ type: 'restricted', mode: 'test', name: 'CI', permissions: { charges: 'read' } })
    expect(created.status).toBe(201)
    const key = created.body.key as string
    expect(key).toMatch(/^rk_test_\w{49}$/)
    expect(created.headers['cache-control']).toBe('no-store')
    const rolled = await request(app)
      .post(`${MOUNT}/api/keys/${created.body.record.id}/roll`)
      .set(AS_ALICE)
      .send({ gracePeriodMs: 3_600_000 })
    expect(rolled.body.previous.expiresAt).toBeGreaterThan(0)
    const revealed = await request(app)
      .post(`${MOUNT}/api/keys/${rolled.body.record.id}/reveal`)
      .set(AS_ALICE)
      .send({})
    expect(revealed.body.key).toBe(rolled.body.key)
    const listed = await request(app).get(`${MOUNT}/api/keys?mode=test`).set(AS_ALICE)
    for (const secret of [key, rolled.body.key as string]) {
      expect(listed.text).not.toContain(secret)
      expect(JSON.stringify(events)).not.toContain(secret)
    }
    expect(events.map((event) => event.type)).toEqual(['key.created', 'key.rolled', 'key.revealed'])
    // The platform's metadata about a key is not the customer's to see.
    expect(listed.body.data[0]).not.toHaveProperty('metadata')
  })
})

describe('the API keys page on a gate without a revealKey', () => {
  it('offers no key as revealable, and reveals none', async () => {
    const { gate } = makeGate()
    const { test } = await gate.projects.provision('proj_a')
    const { app } = expressFramework('Express 5', express5).mount(gate, byUser)
    const listed = await request(app).get(`${MOUNT}/api/keys?mode=test`).set(AS_ALICE)
    expect(listed.body.data.map((key: { revealable: boolean }) => key.revealable)).toEqual([
      false,
      false,
    ])
    const reveal = await request(app)
      .post(`${MOUNT}/api/keys/${test.secretKey.record.id}/reveal`)
      .set(AS_ALICE)
      .send({})
    expect(reveal.status).toBeGreaterThanOrEqual(400)
    expect(reveal.text).not.toContain(test.secretKey.key)
  })
})

describe('apiKeysPage construction', () => {
  const { gate } = makeGate()
  it.each([
    ['Express', forExpress.apiKeysPage as (gate: Portcullis, options?: unknown) => unknown],
    ['Koa', forKoa.apiKeysPage as (gate: Portcullis, options?: unknown) => unknown],
  ])('%s: refuses to build without authorize, or with an unknown option', (_name, apiKeysPage) => {
    expect(() => apiKeysPage(gate)).toThrow(/authorize\(request\) function are required/)
    expect(() => apiKeysPage(gate, {})).toThrow(TypeError)
    expect(() => apiKeysPage(gate, { authorize: true })).toThrow(/authorize must be a function/)
    expect(() => apiKeysPage(gate, { authorize: () => false, autorize: 1 })).toThrow(
      /unknown option "autorize"/,
    )
    expect(() => apiKeysPage(gate, { authorize: () => false, title: '' })).toThrow(/title/)
  })

  it('Koa: refuses a @koa/router mount path with parameters', () => {
    const router = new Router()
    expect(() =>
      router.use('/projects/:id/keys', forKoa.apiKeysPage(gate, { authorize: () => false })),
    ).toThrow(/literal path/)
  })
})

describe('the page’s shipped files', () => {
  it(`are at most ${BUDGET_BYTES / 1024} KB gzipped, script and stylesheet together`, async () => {
    const { app } = expressFramework('Express 5', express5).mount(makeGate().gate, () => false)
    const server = createServer(app).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    try {
      let total = 0
      const sizes: string[] = []
      for (const name of [SCRIPT_NAME, STYLE_NAME]) {
        // node:http, which (unlike fetch or supertest) hands over the bytes on the wire.
        const response = await new Promise<IncomingMessage>((resolve, reject) => {
          get(
            `http://127.0.0.1:${port}${MOUNT}/assets/${name}`,
            { headers: { 'accept-encoding': 'gzip' } },
            resolve,
          ).once('error', reject)
        })
        expect(response.headers['content-encoding']).toBe('gzip')
        let bytes = 0
        for await (const chunk of response) bytes += (chunk as Buffer).length
        expect(bytes).toBe(pageAssets().files.get(name)?.gzipped.length)
        sizes.push(`${name} ${bytes} B`)
        total += bytes
      }
      console.info(
        `page assets, gzipped: ${sizes.join(', ')}; total ${total} B of ${BUDGET_BYTES} B`,
      )
      expect(total).toBeGreaterThan(0)
      expect(total).toBeLessThanOrEqual(BUDGET_BYTES)
    } finally {
      server.close()
    }
  })

  it('use nothing from elsewhere, no web storage, no console, no markup from strings', () => {
    const script = pageAssets().files.get(SCRIPT_NAME)?.body.toString('utf8') ?? ''
    expect(script).toContain('customElements.define(TAG, ApiKeysElement)')
    // URLs only in the help texts that show what to type; no import from another origin.
    const urls = script.match(/\bhttps?:\/\/[^\s'"`,)]+/g) ?? []
    expect(urls.filter((url) => !/example\.com|localhost/.test(url))).toEqual([])
    expect(script).not.toMatch(/^\s*import\b/m)
    expect(script).not.toMatch(/\b(localStorage|sessionStorage|indexedDB|document\.cookie)\b/)
    expect(script).not.toMatch(/\bconsole\./)
    expect(script).not.toMatch(/\b(innerHTML|outerHTML|insertAdjacentHTML|eval)\b|new Function/)
    const style = pageAssets().files.get(STYLE_NAME)?.body.toString('utf8') ?? ''
    expect(style).not.toMatch(/@import|url\(/)
  })

  it('are the ones src/page/assets compiles to: generated-assets.ts is up to date', () => {
    const check = spawnSync(process.execPath, ['scripts/build.mjs', '--page', '--check'], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(check.stderr).toContain('src/page/generated-assets.ts is up to date')
    expect(check.status).toBe(0)
  }, 120_000)
})
