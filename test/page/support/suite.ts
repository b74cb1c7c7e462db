/**
 * What each browser test file of the API keys page shares: the matrix it runs on (Express 5
 * and Koa 3, each on SQLite and on PostgreSQL when it answers), one running platform per
 * combination, and the calls a customer's server would make with a key.
 */
import { once } from 'node:events'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import type { ApiKeysPageGrant } from '../../../src/express/index.js'
import type { Portcullis } from '../../../src/index.js'
import type { ManualClock } from '../../../src/testing/index.js'
import { browserAvailable, serviceAvailable } from '../../support/services.js'
import { type Customer, launchChromium, openCustomer } from './browser.js'
import {
  createPlatformApp,
  createPlatformGate,
  EMBEDDED_PATH,
  type Framework,
  MOUNT,
} from './page-app.js'

export const TEST_TIMEOUT_MS = 60_000

interface Listening {
  readonly port: number
  close(): Promise<void>
}

/** Serves `handler` on 127.0.0.1, on a free port. */
async function listen(handler: RequestListener): Promise<Listening> {
  const server: Server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export interface Combination {
  readonly framework: Framework
  readonly dialect: 'sqlite' | 'postgres'
  /** False when its database does not answer: its tests are reported as skipped. */
  readonly available: boolean
}

export interface SuitePlan {
  /** Chromium's path; null: no Chromium, every test is reported as skipped. */
  readonly chromium: string | null
  readonly combinations: readonly Combination[]
}

/**
 * Chromium's path and the combinations: each framework on SQLite, and on PostgreSQL when it
 * answers. A missing Chromium or PostgreSQL skips its tests (with the reason printed), or
 * fails the file under PORTCULLIS_REQUIRE_SERVICES=1.
 */
export async function suitePlan(): Promise<SuitePlan> {
  const chromium = await browserAvailable()
  const postgres = chromium !== null && (await serviceAvailable('postgres'))
  if (chromium !== null && !postgres) {
    console.warn('API keys page suites on PostgreSQL skipped: nothing answers at DATABASE_URL')
  }
  const frameworks: Framework[] = ['Express 5', 'Koa 3']
  return {
    chromium,
    combinations: frameworks.flatMap((framework) => [
      { framework, dialect: 'sqlite' as const, available: true },
      { framework, dialect: 'postgres' as const, available: postgres },
    ]),
  }
}

/** One `describe` per combination, named "Express 5 on sqlite"; skipped when unavailable. */
export function describeEach(plan: SuitePlan, body: (combination: Combination) => void): void {
  for (const combination of plan.combinations) {
    describe.skipIf(!combination.available)(
      `${combination.framework} on ${combination.dialect}`,
      () => body(combination),
    )
  }
}

export interface Environment {
  readonly gate: Portcullis
  readonly clock: ManualClock
  readonly origin: string
  /** The page's URL as a user types it: the mount path, without its trailing slash. */
  readonly pageUrl: string
  /** The platform's own page that embeds `<portcullis-api-keys>`. */
  readonly embeddedUrl: string
  /** What the page told the app's `onEvent` (its audit log), as JSON lines. */
  readonly auditLog: readonly string[]
  signIn(grant: ApiKeysPageGrant): string
  /** A browser context signed in as that session (null: signed out). */
  open(sessionId: string | null): Promise<Customer>
  /** An API request with a key, from this machine (127.0.0.1), as a customer's server makes it. */
  http(
    path: string,
    credential: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; code: string | undefined }>
}

/** The README's screenshot of the page, refreshed by `PORTCULLIS_UPDATE_SCREENSHOTS=1`. */
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../../docs/api-keys-page.png', import.meta.url))
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/**
 * Takes screenshots: kept in `PORTCULLIS_SCREENSHOT_DIR` when set, else in a temporary
 * directory removed afterwards. With `PORTCULLIS_UPDATE_SCREENSHOTS=1`, the one named `docs`
 * also replaces docs/api-keys-page.png, the README's.
 */
export function screenshots() {
  const keep = process.env.PORTCULLIS_SCREENSHOT_DIR
  const updateDocs = process.env.PORTCULLIS_UPDATE_SCREENSHOTS === '1'
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'portcullis-page-shots-'))
  afterAll(() => {
    if (keep === undefined) rmSync(dir, { recursive: true, force: true })
  })
  /** `fullPage` for the page itself; a dialog's backdrop covers the viewport only. */
  return async (page: Page, name: string, options: { fullPage?: boolean; docs?: boolean } = {}) => {
    const path = join(dir, `${name}.png`)
    // Once the last confirmation ("… created.") has gone, so it hides nothing.
    await page
      .getByRole('status')
      .filter({ hasText: /created|rolled|revoked|saved|deleted/ })
      .waitFor({ state: 'detached', timeout: 6000 })
    await page.screenshot({ path, fullPage: options.fullPage ?? true })
    expect(readFileSync(path).subarray(0, 8)).toEqual(PNG_SIGNATURE)
    if (options.docs === true && updateDocs) copyFileSync(path, DOCS_SCREENSHOT)
    return path
  }
}

/** One browser for the file; skip the file's suites when `chromium` is null. */
export function useBrowser(chromium: string | null): () => Browser {
  let browser: Browser | undefined
  beforeAll(async () => {
    if (chromium !== null) browser = await launchChromium(chromium)
  }, TEST_TIMEOUT_MS)
  afterAll(async () => {
    await browser?.close()
  })
  return () => browser as Browser
}

/** A running platform for `combination`, for the suite it is called in. */
export function usePlatform(combination: Combination, browser: () => Browser): () => Environment {
  let environment: Environment | undefined
  let server: Listening | undefined
  let closeGate: (() => Promise<void>) | undefined
  const customers: Customer[] = []
  beforeAll(async () => {
    const platform = await createPlatformGate(combination.dialect)
    closeGate = platform.close
    const app = createPlatformApp(combination.framework, platform.gate)
    server = await listen(app.handler)
    const origin = `http://127.0.0.1:${server.port}`
    environment = {
      gate: platform.gate,
      clock: platform.clock,
      origin,
      pageUrl: `${origin}${MOUNT}`,
      embeddedUrl: `${origin}${EMBEDDED_PATH}`,
      auditLog: app.auditLog,
      signIn: app.signIn,
      async open(sessionId) {
        const customer = await openCustomer(browser(), origin, sessionId)
        customers.push(customer)
        return customer
      },
      async http(path, credential, headers = {}) {
        const response = await fetch(`${origin}${path}`, {
          headers: { authorization: `Bearer ${credential}`, ...headers },
        })
        const body = (await response.json()) as { error?: { code?: string } }
        return { status: response.status, code: body.error?.code }
      },
    }
  }, TEST_TIMEOUT_MS)
  afterAll(async () => {
    await Promise.all(customers.splice(0).map((customer) => customer.close()))
    await server?.close()
    await closeGate?.()
  }, TEST_TIMEOUT_MS)
  return () => environment as Environment
}
