/**
 * Chromium for the API keys page suite: one headless browser (playwright-core drives the
 * system's Chromium; it never downloads one), one context per signed-in customer, with axe-core
 * and the suite's in-page helpers (in-page.js) injected into every page through the DevTools
 * protocol, so the page's own strict CSP, which forbids inline script, still governs the page.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { BROWSER_TIMEOUT_MS, launchChromium } from '../../browser/support/chromium.js'
import { SESSION_COOKIE } from './page-app.js'

// Launched as the CORS suite launches it: one place for the flags and the time bound.
export { BROWSER_TIMEOUT_MS, launchChromium }

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
const helpersPath = fileURLToPath(new URL('./in-page.js', import.meta.url))

/** An axe finding, as the tests report it. */
export interface AxeFinding {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly targets: string[]
}

/** The element that has focus, through shadow roots. */
export interface Focused {
  readonly tag: string
  /** Its aria-label, else its label's text (fields, radio buttons), else its text. */
  readonly name: string
  /** Whether it is inside an open dialog. */
  readonly inDialog: boolean
}

export interface CallResult {
  readonly status: number
  readonly body: { error?: { code?: string; param?: string } } & Record<string, unknown>
}

export interface Customer {
  readonly context: BrowserContext
  readonly page: Page
  /** axe-core's serious and critical violations on what the page shows now. */
  axe(): Promise<AxeFinding[]>
  /**
   * CSP violations, page errors and requests to anywhere but the app's origin so far (the page
   * loads nothing from a CDN or any other site).
   */
  problems(): Promise<string[]>
  /**
   * Where `secret` is besides the DOM: in the URL of any request the browser made, in a console
   * message, in local or session storage, or in a cookie. Empty when nowhere.
   */
  leaks(secret: string): Promise<string[]>
  /** Whether `text` is anywhere in the DOM: text, attributes, input values, shadow roots. */
  domContains(text: string): Promise<boolean>
  focused(): Promise<Focused>
  /** A call of the page's JSON API from inside the page, as a forger with this session would. */
  call(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<CallResult>
  close(): Promise<void>
}

const PAGE_HEADERS = { 'X-Portcullis-Page': '1', 'Content-Type': 'application/json' }

/** A browser context signed in with `sessionId` (its cookie on `origin`), on a blank page. */
export async function openCustomer(
  browser: Browser,
  origin: string,
  sessionId: string | null,
): Promise<Customer> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale: 'en-US',
    timezoneId: 'UTC',
    reducedMotion: 'reduce',
  })
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS)
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin })
  if (sessionId !== null) {
    await context.addCookies([
      { name: SESSION_COOKIE, value: sessionId, url: origin, httpOnly: true, sameSite: 'Strict' },
    ])
  }
  await context.addInitScript({ path: axePath })
  await context.addInitScript({ path: helpersPath })
  const page = await context.newPage()
  const errors: string[] = []
  const urls: string[] = []
  const logged: string[] = []
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  context.on('request', (request) => urls.push(request.url()))
  context.on('console', (message) => logged.push(message.text()))
  const run = <T>(expression: string): Promise<T> => page.evaluate(expression) as Promise<T>
  return {
    context,
    page,
    axe: () => run<AxeFinding[]>('portcullisTest.axe()'),
    async problems() {
      const csp = await run<string[]>('portcullisTest.cspViolations()')
      const elsewhere = urls.filter((url) => new URL(url).origin !== origin)
      return [
        ...errors,
        ...csp.map((violation) => `CSP violation: ${violation}`),
        ...elsewhere.map((url) => `request to another origin: ${url}`),
      ]
    },
    async leaks(secret) {
      const found: string[] = []
      for (const url of urls) if (url.includes(secret)) found.push(`request URL ${url}`)
      for (const text of logged) if (text.includes(secret)) found.push(`console: ${text}`)
      const storage = await run<string>('portcullisTest.webStorage()')
      if (storage.includes(secret)) found.push('web storage')
      for (const cookie of await context.cookies()) {
        if (cookie.value.includes(secret)) found.push(`cookie ${cookie.name}`)
      }
      return found
    },
    domContains: (text) => run<boolean>(`portcullisTest.domContains(${JSON.stringify(text)})`),
    focused: () => run<Focused>('portcullisTest.focused()'),
    call: (method, path, options = {}) =>
      run<CallResult>(
        `portcullisTest.call(${[method, path, options.body, options.headers ?? PAGE_HEADERS]
          .map((value) => (value === undefined ? 'undefined' : JSON.stringify(value)))
          .join(', ')})`,
      ),
    close: () => context.close(),
  }
}
