/**
 * A real Chromium, headless, driven by playwright-core (which never downloads a browser: the
 * executable comes from `browserAvailable()`, so the system's Chromium is what runs).
 */
import { type Browser, chromium, type Page } from 'playwright-core'
import type { PageResult } from './pages.js'

/** Launch and every wait of a page are bounded, so a stuck browser fails a test, never hangs it. */
export const BROWSER_TIMEOUT_MS = 10_000

/** Starts Chromium with a fresh temporary profile (Playwright creates and removes it). */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: BROWSER_TIMEOUT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * Opens `url` in a new context of its own (no cache, cookie or preflight cache shared with
 * other tests), waits for the page's script to have made every call and returns what it read.
 * `screenshot` is a PNG path to save the finished page to. Page errors fail the call.
 */
export async function runPage(
  browser: Browser,
  url: string,
  screenshot?: string,
): Promise<PageResult[]> {
  const context = await browser.newContext({ viewport: { width: 900, height: 420 } })
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS)
  const problems: string[] = []
  try {
    const page: Page = await context.newPage()
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    const response = await page.goto(url)
    if (response?.status() !== 200) throw new Error(`${url} answered ${response?.status()}`)
    await page.waitForFunction('document.body.dataset.done === "true"')
    if (problems.length > 0) throw new Error(problems.join('\n'))
    if (screenshot !== undefined) await page.screenshot({ path: screenshot, fullPage: true })
    return JSON.parse((await page.locator('#results').textContent()) ?? '[]') as PageResult[]
  } finally {
    await context.close()
  }
}
