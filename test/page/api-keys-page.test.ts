/**
 * The API keys page in a real Chromium, end to end: Express 5 and Koa 3 (through @koa/router's
 * router.use), each on SQLite and on PostgreSQL, mounted at /settings/api-keys behind the
 * app's own cookie login. Every key the page hands over is then tried on the app's API over
 * HTTP. Elements are found by role and accessible name; axe-core checks every screen.
 * Skipped (with the reason printed) without Chromium; a failure under
 * PORTCULLIS_REQUIRE_SERVICES=1. Screenshots go to PORTCULLIS_SCREENSHOT_DIR when set;
 * PORTCULLIS_UPDATE_SCREENSHOTS=1 refreshes the README's (docs/api-keys-page.png).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProvisionedProject } from '../../src/index.js'
import type { Customer } from './support/browser.js'
import {
  axeReport,
  createKey,
  expectAccessible,
  expectKeyGone,
  expectNoProblems,
  keyButton,
  keyRow,
  keysTable,
  openPage,
  submitNewKey,
  takeShownKey,
} from './support/flows.js'
import {
  describeEach,
  screenshots,
  suitePlan,
  TEST_TIMEOUT_MS,
  useBrowser,
  usePlatform,
} from './support/suite.js'

const plan = await suitePlan()
const HOUR_MS = 3_600_000
const PROJECT = 'proj_acme'

describe.skipIf(plan.chromium === null)('the API keys page in Chromium', () => {
  const browser = useBrowser(plan.chromium)
  const shoot = screenshots()
  afterAll(() => console.info(`axe, per screen:\n${axeReport.join('\n')}`))

  describeEach(plan, (combination) => {
    const platform = usePlatform(combination, browser)
    // The docs' screenshots come from one combination.
    const documenting = combination.framework === 'Express 5' && combination.dialect === 'sqlite'
    let alice: Customer
    let provisioned: ProvisionedProject

    beforeAll(async () => {
      const { gate, signIn } = platform()
      provisioned = await gate.projects.provision(PROJECT)
      alice = await platform().open(signIn({ projectId: PROJECT }))
    }, TEST_TIMEOUT_MS)

    const secretRecord = () => provisioned.test.secretKey.record

    it(
      'serves the page at its mount path with a strict CSP; axe finds nothing serious',
      async () => {
        const page = await openPage(alice, platform())
        const response = await page.request.get(page.url())
        const headers = response.headers()
        expect(headers['content-security-policy']).toContain("default-src 'self'")
        expect(headers['content-security-policy']).toContain("script-src 'self'")
        expect(headers['content-security-policy']).toContain("frame-ancestors 'self'")
        expect(headers['x-content-type-options']).toBe('nosniff')
        expect(headers['referrer-policy']).toBe('no-referrer')
        await expect
          .poll(() => page.getByRole('heading', { name: 'API keys', level: 1 }).count())
          .toBe(1)
        await expect.poll(() => keyRow(page, secretRecord().redacted).count()).toBe(1)
        await expectAccessible(alice, 'keys list (test mode)')
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'creates secret, restricted and publishable keys, each shown once; they work over HTTP',
      async () => {
        const { gate, clock, http, auditLog } = platform()
        const page = await openPage(alice, platform())
        const secretDialog = await submitNewKey(page, {
          type: 'Secret key',
          name: 'Billing worker',
        })
        await expectAccessible(alice, 'new key dialog')
        await secretDialog.getByRole('button', { name: 'Copy' }).click()
        await expect
          .poll(() => secretDialog.getByRole('status').textContent())
          .toBe('Copied to the clipboard.')
        const copied = await page.evaluate('navigator.clipboard.readText()')
        if (documenting) await shoot(page, 'api-keys-page-new-key', { fullPage: false })
        const secret = await takeShownKey(alice, secretDialog)
        expect(copied).toBe(secret)
        const billing = (await gate.keys.list(PROJECT)).find(
          (each) => each.name === 'Billing worker',
        )
        if (billing === undefined) throw new Error('no key')
        // Columns: key, created, last used, expires, limits.
        const cell = (column: number) =>
          keyRow(page, billing.redacted).getByRole('cell').nth(column).textContent()
        expect(await cell(2)).toBe('Never')
        clock.advance(7 * 60_000)
        const usedAt = clock.now()
        expect(await http('/v1/account', secret)).toEqual({ status: 200, code: undefined })

        const restricted = await createKey(alice, {
          type: 'Restricted key',
          name: 'CI deploys',
          async fill(dialog) {
            await dialog.getByRole('combobox', { name: 'charges' }).selectOption('write')
            await dialog.getByRole('combobox', { name: 'customers' }).selectOption('read')
            await expectAccessible(alice, 'create dialog (restricted: permission picker)')
          },
        })
        const publishable = await createKey(alice, {
          type: 'Publishable key',
          name: 'Web checkout',
          async fill(dialog) {
            await dialog.getByRole('combobox', { name: 'Limit to' }).selectOption('allowedOrigins')
            await dialog
              .getByRole('textbox', { name: 'Allowed websites (origins)' })
              .fill('https://shop.example.com')
            await expectAccessible(alice, 'create dialog (publishable: websites)')
          },
        })
        const records = await gate.keys.list(PROJECT, { mode: 'test' })
        const byName = (name: string) => records.find((record) => record.name === name)
        expect(byName('CI deploys')).toMatchObject({
          type: 'restricted',
          permissions: { charges: 'write', customers: 'read' },
        })
        expect(byName('Web checkout')?.allowedOrigins).toEqual(['https://shop.example.com'])
        // The restricted key has only what was granted; the publishable key only its website.
        expect(await http('/v1/account', restricted)).toEqual({
          status: 403,
          code: 'permission_denied',
        })
        expect(
          await http('/v1/config', publishable, { origin: 'https://shop.example.com' }),
        ).toEqual({
          status: 200,
          code: undefined,
        })
        expect(await http('/v1/config', publishable, { origin: 'https://evil.example' })).toEqual({
          status: 403,
          code: 'origin_not_allowed',
        })
        for (const name of ['Billing worker', 'CI deploys', 'Web checkout']) {
          await expect
            .poll(() => page.getByRole('rowheader', { name: new RegExp(name) }).count())
            .toBe(1)
        }
        // The rows say what each key is and where it works.
        expect(await cell(0)).toBe(billing.redacted)
        expect(await cell(2)).toBe(shownTime(usedAt)) // drawn again after each creation
        expect(await cell(3)).toBe('Never')
        expect(await cell(4)).toBe('Any IP address')
        const ci = byName('CI deploys')?.redacted as string
        expect(await keyRow(page, ci).textContent()).toContain('charges: write, customers: read')
        const web = byName('Web checkout')?.redacted as string
        expect(await keyRow(page, web).textContent()).toContain(
          'Websites: https://shop.example.com',
        )
        // The app's audit log (onEvent) heard of each creation, and holds none of the keys.
        const log = auditLog.join('\n')
        expect(log.match(/"type":"key\.created"/g)).toHaveLength(3)
        for (const key of [secret, restricted, publishable]) expect(log).not.toContain(key)
        if (documenting) await shoot(page, 'api-keys-page', { docs: true })
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'shows the server’s message at the field it names, and creates nothing',
      async () => {
        const { gate } = platform()
        const page = await openPage(alice, platform())
        const before = (await gate.keys.list(PROJECT)).length
        await submitNewKey(page, {
          type: 'Secret key',
          name: 'Bad allowlist',
          fill: (dialog) =>
            dialog
              .getByRole('textbox', { name: 'Allowed IP addresses' })
              .fill('203.0.113.0/24\n10.0.0.300'),
        })
        const dialog = page.getByRole('dialog', { name: 'Create a test key' })
        const field = dialog.getByRole('textbox', { name: 'Allowed IP addresses' })
        await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true')
        const describedBy = (await field.getAttribute('aria-describedby')) ?? ''
        const message = await dialog
          .locator(`[id="${describedBy.split(' ').at(-1)}"]`)
          .textContent()
        expect(message).toMatch(/^Line 2: .*10\.0\.0\.300/)
        expect(await alice.focused()).toMatchObject({ tag: 'textarea', inDialog: true })
        await expectAccessible(alice, 'create dialog with a field error')
        await page.keyboard.press('Escape')
        await dialog.waitFor({ state: 'detached' })
        expect(await gate.keys.list(PROJECT)).toHaveLength(before)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'rolls a key with a grace period; the old key stops at the chosen time',
      async () => {
        const { gate, clock, http } = platform()
        const page = await openPage(alice, platform())
        const old = await createKey(alice, { type: 'Secret key', name: 'Nightly export' })
        const record = (await gate.keys.list(PROJECT)).find(
          (each) => each.name === 'Nightly export',
        )
        if (record === undefined) throw new Error('no key')
        await keyButton(page, 'Roll', record.name, record.redacted).click()
        const dialog = page.getByRole('dialog', { name: 'Roll Nightly export' })
        const until = new Date(clock.now() + HOUR_MS)
        await dialog.getByRole('radio', { name: 'In 1 hour' }).check()
        await expect.poll(() => dialog.textContent()).toContain(`works until ${formatUtc(until)}`)
        await expectAccessible(alice, 'roll dialog')
        if (documenting) await shoot(page, 'api-keys-page-roll', { fullPage: false })
        await dialog.getByRole('button', { name: 'Roll key' }).click()
        const shown = page.getByRole('dialog', { name: 'Your new secret key' })
        await expect
          .poll(() => shown.textContent())
          .toContain(`The old key ${record.redacted} works until ${formatUtc(until)}`)
        await expectAccessible(alice, 'rolled key dialog')
        const replacement = await takeShownKey(alice, shown)
        await expect.poll(() => keyRow(page, record.redacted).getByText('Rolled').count()).toBe(1)

        expect((await http('/v1/account', old)).status).toBe(200)
        clock.advance(HOUR_MS - 1)
        expect((await http('/v1/account', old)).status).toBe(200)
        clock.advance(1)
        expect(await http('/v1/account', old)).toEqual({ status: 401, code: 'api_key_expired' })
        expect((await http('/v1/account', replacement)).status).toBe(200)
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'edits an IP allowlist and a publishable key’s websites; each holds from the next request',
      async () => {
        const { gate, http } = platform()
        const page = await openPage(alice, platform())
        const key = await createKey(alice, { type: 'Secret key', name: 'Office tools' })
        const record = (await gate.keys.list(PROJECT)).find((each) => each.name === 'Office tools')
        if (record === undefined) throw new Error('no key')
        const edit = async (list: string) => {
          await keyButton(page, 'Allowlist of', record.name, record.redacted).click()
          const dialog = page.getByRole('dialog', { name: `IP allowlist of ${record.name}` })
          await dialog.getByRole('textbox', { name: 'Allowed IP addresses' }).fill(list)
          await dialog.getByRole('button', { name: 'Save' }).click()
          return dialog
        }
        const refused = await edit('203.0.113.0/24\nnot-an-address')
        const field = refused.getByRole('textbox', { name: 'Allowed IP addresses' })
        await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true')
        await expect.poll(() => refused.textContent()).toMatch(/Line 2: .*not-an-address/)
        await expectAccessible(alice, 'allowlist dialog with a field error')
        await refused.getByRole('button', { name: 'Cancel' }).click()
        expect((await http('/v1/account', key)).status).toBe(200)

        await (await edit('203.0.113.0/24')).waitFor({ state: 'detached' })
        expect(await http('/v1/account', key)).toEqual({ status: 403, code: 'ip_not_allowed' })
        await expect
          .poll(() => keyRow(page, record.redacted).textContent())
          .toContain('203.0.113.0/24')
        await (await edit('203.0.113.0/24\n127.0.0.1')).waitFor({ state: 'detached' })
        expect((await http('/v1/account', key)).status).toBe(200)

        const web = provisioned.test.publishableKey.record
        await keyButton(page, 'Limits of', web.name, web.redacted).click()
        const limits = page.getByRole('dialog', { name: `Websites and apps of ${web.name}` })
        await limits.getByRole('combobox', { name: 'Limit to' }).selectOption('allowedOrigins')
        const origins = limits.getByRole('textbox', { name: 'Allowed websites (origins)' })
        // A URL with a path is not an origin: the server says so, at the field; nothing changes.
        await origins.fill('https://app.example.com\nhttps://app.example.com/checkout')
        await limits.getByRole('button', { name: 'Save' }).click()
        await expect.poll(() => origins.getAttribute('aria-invalid')).toBe('true')
        await expect
          .poll(() => limits.textContent())
          .toMatch(/Line 2: .*app\.example\.com\/checkout/)
        expect(await alice.focused()).toMatchObject({ tag: 'textarea', inDialog: true })
        expect((await gate.keys.get(web.id))?.allowedOrigins).toEqual([])
        await expectAccessible(alice, 'websites and apps dialog with a field error')
        await origins.fill('https://app.example.com')
        await limits.getByRole('button', { name: 'Save' }).click()
        await limits.waitFor({ state: 'detached' })
        const pk = provisioned.test.publishableKey.key
        expect((await http('/v1/config', pk, { origin: 'https://app.example.com' })).status).toBe(
          200,
        )
        expect((await http('/v1/config', pk, { origin: 'https://other.example.com' })).code).toBe(
          'origin_not_allowed',
        )
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'reveals a test key until dismissed; a user without reveal gets no control and no key',
      async () => {
        const { gate, signIn, open, http } = platform()
        const page = await openPage(alice, platform())
        const record = secretRecord()
        await keyButton(page, 'Reveal', record.name, record.redacted).click()
        const dialog = page.getByRole('dialog', { name: `Your ${record.name}` })
        const shown = await dialog.getByRole('textbox').inputValue()
        expect(shown).toBe(await gate.keys.reveal(record.id))
        await expectAccessible(alice, 'revealed key dialog')
        await page.keyboard.press('Escape')
        await dialog.waitFor({ state: 'detached' })
        await expectKeyGone(alice, shown)
        // Live keys are never revealable: no control in live mode, where keys are made live.
        await page.getByRole('radio', { name: 'Live' }).check()
        await keysTable(page, 'live').waitFor()
        await expectAccessible(alice, 'keys list (live mode)')
        expect(await page.getByRole('button', { name: /^Reveal / }).count()).toBe(0)
        const live = await createKey(alice, { type: 'Secret key', name: 'Production API' })
        expect(live).toMatch(/^sk_live_/)
        expect(await http('/v1/account', live)).toMatchObject({ status: 200 })
        await expect.poll(() => keysTable(page, 'live').textContent()).toContain('Production API')
        expect(await page.getByRole('button', { name: /^Reveal / }).count()).toBe(0)
        expect(await keysTable(page, 'test').count()).toBe(0)

        const carol = await open(
          signIn({ projectId: PROJECT, modes: ['test'], can: { reveal: false } }),
        )
        const hers = await openPage(carol, platform())
        await expect.poll(() => keyRow(hers, record.redacted).count()).toBe(1)
        expect(await hers.getByRole('button', { name: /^Reveal / }).count()).toBe(0)
        expect(await hers.getByRole('radio', { name: 'Live' }).count()).toBe(0)
        await expectAccessible(carol, 'keys list without reveal, test mode only')
        const forged = await carol.call('POST', `keys/${record.id}/reveal`)
        expect(forged.status).toBe(403)
        expect(JSON.stringify(forged.body)).not.toContain(shown)
        expect((await carol.call('GET', 'keys?mode=live')).status).toBe(403)
        await expectNoProblems(carol)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'deletes a key after a confirmation naming it',
      async () => {
        const { gate, http } = platform()
        const page = await openPage(alice, platform())
        const key = await createKey(alice, { type: 'Secret key', name: 'Old importer' })
        const record = (await gate.keys.list(PROJECT)).find((each) => each.name === 'Old importer')
        if (record === undefined) throw new Error('no key')
        const remove = keyButton(page, 'Delete', record.name, record.redacted)
        await remove.click()
        const dialog = page.getByRole('dialog', { name: 'Delete Old importer?' })
        expect(await dialog.textContent()).toContain(record.redacted)
        await expectAccessible(alice, 'delete confirmation')
        await dialog.getByRole('button', { name: 'Cancel' }).click()
        expect(await alice.focused()).toMatchObject({
          name: `Delete Old importer (${record.redacted})`,
        })
        expect((await http('/v1/account', key)).status).toBe(200)
        await remove.click()
        await dialog.getByRole('button', { name: 'Delete key' }).click()
        await keyRow(page, record.redacted).waitFor({ state: 'detached' })
        expect(await gate.keys.get(record.id)).toBeNull()
        expect(await http('/v1/account', key)).toEqual({ status: 401, code: 'api_key_invalid' })
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'works as <portcullis-api-keys> inside the platform’s own page, under its own CSP',
      async () => {
        const { http, embeddedUrl } = platform()
        const { page } = alice
        const response = await page.goto(embeddedUrl)
        expect(response?.status()).toBe(200)
        await page.getByRole('heading', { name: 'Developers', level: 1 }).waitFor()
        await keysTable(page).waitFor()
        await expect.poll(() => keyRow(page, secretRecord().redacted).count()).toBe(1)
        await expectAccessible(alice, 'element embedded in the platform’s page')
        const key = await createKey(alice, { type: 'Secret key', name: 'Embedded' })
        expect((await http('/v1/account', key)).status).toBe(200)
        await expect.poll(() => page.getByRole('rowheader', { name: /Embedded/ }).count()).toBe(1)
        await expectNoProblems(alice)
      },
      TEST_TIMEOUT_MS,
    )
  })
})

/** As the page shows an instant with en-US and UTC: "Jun 2, 2025, 10:30 AM". */
function formatUtc(date: Date): string {
  return new Intl.DateTimeFormat('en-US', {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(date)
}

/** As a table cell shows an instant (date, then time of day): "Jun 2, 2025 9:37 AM". */
function shownTime(epochMs: number): string {
  const utc = (options: Intl.DateTimeFormatOptions) =>
    new Intl.DateTimeFormat('en-US', { ...options, timeZone: 'UTC' }).format(epochMs)
  return `${utc({ dateStyle: 'medium' })} ${utc({ timeStyle: 'short' })}`
}
