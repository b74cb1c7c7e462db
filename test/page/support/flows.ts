/**
 * Steps of the API keys page as a person takes them, by role and accessible name (never by CSS
 * class), shared by the browser test files.
 */
import type { Locator, Page } from 'playwright-core'
import { expect } from 'vitest'
import type { Customer } from './browser.js'
import type { Environment } from './suite.js'

/** Every axe finding per screen, printed once at the end of a file. */
export const axeReport: string[] = []

/** axe-core finds no serious or critical violation on what `customer` shows now. */
export async function expectAccessible(customer: Customer, screen: string): Promise<void> {
  const findings = await customer.axe()
  axeReport.push(
    `${screen}: ${findings.length === 0 ? 'no serious or critical violation' : JSON.stringify(findings)}`,
  )
  expect(findings, `axe on ${screen}`).toEqual([])
}

/** No CSP violation and no script error happened on the page. */
export async function expectNoProblems(customer: Customer): Promise<void> {
  expect(await customer.problems()).toEqual([])
}

/**
 * Opens the page as a user types its address (no trailing slash: the page redirects), and
 * waits for the keys of the first mode.
 */
export async function openPage(customer: Customer, environment: Environment): Promise<Page> {
  const { page } = customer
  const response = await page.goto(environment.pageUrl)
  expect(response?.status()).toBe(200)
  expect(page.url()).toBe(`${environment.pageUrl}/`)
  await keysTable(page).waitFor()
  return page
}

export function keysTable(page: Page, mode: 'test' | 'live' = 'test'): Locator {
  return page.getByRole('table', { name: `${mode === 'test' ? 'Test' : 'Live'} mode keys` })
}

/** The row of the key shown as `redacted`. */
export function keyRow(page: Page, redacted: string): Locator {
  return page.getByRole('row').filter({ hasText: redacted })
}

/** A row's button, by its accessible name: "Roll Secret key (sk_test_…x9Qa)". */
export function keyButton(page: Page, action: string, name: string, redacted: string): Locator {
  return page.getByRole('button', { name: `${action} ${name} (${redacted})`, exact: true })
}

export interface NewKey {
  readonly type: 'Secret key' | 'Restricted key' | 'Publishable key'
  readonly name: string
  /** Fills the type's own fields in the create dialog. */
  readonly fill?: (dialog: Locator) => Promise<void>
}

/** Creates a key in the dialog and returns the dialog that shows it (still open). */
export async function submitNewKey(page: Page, key: NewKey): Promise<Locator> {
  await page.getByRole('button', { name: 'Create key', exact: true }).click()
  const dialog = page.getByRole('dialog', { name: /^Create a (test|live) key$/ })
  await dialog.getByRole('radio', { name: key.type }).check()
  await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill(key.name)
  await key.fill?.(dialog)
  await dialog.getByRole('button', { name: 'Create key' }).click()
  return page.getByRole('dialog', { name: /^Your new (secret|restricted|publishable) key$/ })
}

/**
 * A key the page showed, once dismissed, is nowhere in the browser: not in the DOM, and never
 * in a URL, a console message, web storage or a cookie.
 */
export async function expectKeyGone(customer: Customer, key: string): Promise<void> {
  expect(await customer.domContains(key), 'the key is still in the DOM').toBe(false)
  expect(await customer.leaks(key)).toEqual([])
}

/** Reads the key a dialog shows, dismisses it (Done) and checks it left the DOM. */
export async function takeShownKey(customer: Customer, dialog: Locator): Promise<string> {
  const key = await dialog.getByRole('textbox').inputValue()
  expect(key).toMatch(/^(sk|rk|pk)_(test|live)_[0-9A-Za-z]{49}$/)
  await dialog.getByRole('button', { name: 'Done' }).click()
  await dialog.waitFor({ state: 'detached' })
  await expectKeyGone(customer, key)
  return key
}

export async function createKey(customer: Customer, key: NewKey): Promise<string> {
  return takeShownKey(customer, await submitNewKey(customer.page, key))
}
