/**
 * The examples' dashboard in Chromium: examples/express and examples/koa mount the API keys page
 * at /dashboard behind their admin token. A signed-out visit lands on the sign-in form; the
 * token goes in a POSTed form (never a URL) and comes back as an HttpOnly, SameSite=Strict
 * session cookie; then the page manages the demo project. Skipped (with the reason printed)
 * without Chromium; a failure under PORTCULLIS_REQUIRE_SERVICES=1.
 */
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp as createExpressApp } from '../../examples/express/app.js'
import { createApp as createKoaApp } from '../../examples/koa/app.js'
import { type Demo, startDemo } from '../../examples/shared/demo.js'
import type { Portcullis } from '../../src/index.js'
import { type Customer, openCustomer } from './support/browser.js'
import {
  createKey,
  expectAccessible,
  expectNoProblems,
  keyRow,
  keysTable,
} from './support/flows.js'
import { suitePlan, TEST_TIMEOUT_MS, useBrowser } from './support/suite.js'

const plan = await suitePlan()
const TOKEN = 'an-admin-token-for-the-dashboard-test-0123456789'

const FRAMEWORKS: readonly (readonly [string, (gate: Portcullis) => RequestListener])[] = [
  ['Express', (gate) => createExpressApp(gate)],
  ['Koa', (gate) => createKoaApp(gate).callback()],
]

describe.skipIf(plan.chromium === null)('the examples’ dashboard in Chromium', () => {
  const browser = useBrowser(plan.chromium)

  describe.each(FRAMEWORKS)('the %s example', (_name, createApp) => {
    let demo: Demo
    let server: Server
    let origin: string
    let visitor: Customer
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-dashboard-'))

    beforeAll(async () => {
      process.env.PORTCULLIS_EXAMPLE_DIR = dir
      process.env.PORTCULLIS_EXAMPLE_QUIET = '1'
      process.env.ADMIN_TOKEN = TOKEN
      demo = await startDemo()
      server = createServer(createApp(demo.gate)).listen(0, '127.0.0.1')
      await once(server, 'listening')
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      visitor = await openCustomer(browser(), origin, null)
    }, TEST_TIMEOUT_MS)

    afterAll(async () => {
      await visitor?.close()
      server?.closeAllConnections()
      await new Promise((resolve) => server?.close(resolve))
      await demo?.close()
      rmSync(dir, { recursive: true, force: true })
    }, TEST_TIMEOUT_MS)

    it(
      'signs in with the admin token through a form, then manages the demo project',
      async () => {
        const { page } = visitor
        await page.goto(`${origin}/dashboard`)
        expect(page.url()).toBe(`${origin}/dashboard/sign-in`)
        const field = page.getByLabel(/^Admin token/)
        await expectAccessible(visitor, 'example dashboard: sign in')
        await field.fill(`${TOKEN}-wrong`)
        await page.getByRole('button', { name: 'Sign in' }).click()
        await page.getByRole('alert').filter({ hasText: 'That is not the admin token.' }).waitFor()
        await expectAccessible(visitor, 'example dashboard: sign in refused')
        expect(await visitor.context.cookies()).toEqual([])

        // By keyboard: the token, then Enter.
        await field.focus()
        await page.keyboard.type(TOKEN)
        await page.keyboard.press('Enter')
        await keysTable(page).waitFor()
        expect(page.url()).toBe(`${origin}/dashboard/`)
        const [cookie, ...others] = await visitor.context.cookies()
        expect(others).toEqual([])
        expect(cookie).toMatchObject({
          name: 'portcullis_dashboard',
          path: '/dashboard',
          httpOnly: true,
          sameSite: 'Strict',
        })
        expect(await page.evaluate('document.cookie')).toBe('')
        expect(await visitor.leaks(TOKEN)).toEqual([])

        const secret = demo.keys.test.secretKey
        if (secret.id === null) throw new Error('no demo key')
        const record = await demo.gate.keys.get(secret.id)
        await expect.poll(() => keyRow(page, record?.redacted ?? '?').count()).toBe(1)
        await expectAccessible(visitor, 'example dashboard: keys')
        const key = await createKey(visitor, { type: 'Secret key', name: 'From the dashboard' })
        const answer = await fetch(`${origin}/v1/account`, {
          headers: { authorization: `Bearer ${key}` },
        })
        expect(await answer.json()).toMatchObject({ projectId: 'proj_demo', mode: 'test' })
        await expectNoProblems(visitor)
      },
      TEST_TIMEOUT_MS,
    )
  })
})
