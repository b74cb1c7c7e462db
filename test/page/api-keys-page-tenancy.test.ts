/**
 * The API keys page in Chromium, continued (see api-keys-page.test.ts for the set-up): client
 * sessions, two customers side by side (also forging calls of the page's JSON API with their
 * own session), a user authorize refuses, and the whole create-and-roll flow by keyboard alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Portcullis } from '../../src/index.js'
import { bearer } from '../helpers.js'
import type { Customer } from './support/browser.js'
import {
  axeReport,
  expectAccessible,
  expectKeyGone,
  expectNoProblems,
  keyRow,
  keysTable,
  openPage,
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

/** A Client Session Token for `clientId`, created as the project's backend would. */
async function sessionFor(gate: Portcullis, secretKey: string, clientId: string) {
  const result = await gate.authenticate(bearer(secretKey), { credential: 'secret' })
  if (!result.ok) throw new Error(result.error.code)
  const { token, session } = await gate.sessions.create(result.auth, { clientId })
  return { token, id: session.id }
}

describe.skipIf(plan.chromium === null)(
  'the API keys page in Chromium: sessions and tenants',
  () => {
    const browser = useBrowser(plan.chromium)
    const shoot = screenshots()
    afterAll(() => console.info(`axe, per screen:\n${axeReport.join('\n')}`))

    describeEach(plan, (combination) => {
      const platform = usePlatform(combination, browser)
      const documenting = combination.framework === 'Express 5' && combination.dialect === 'sqlite'
      const keys = {
        alice: { secret: '', ids: [] as string[] },
        bob: { secret: '', ids: [] as string[] },
      }
      let alice: Customer
      let bob: Customer

      beforeAll(async () => {
        const { gate, signIn, open } = platform()
        for (const [who, project] of [
          ['alice', 'proj_alice'],
          ['bob', 'proj_bob'],
        ] as const) {
          const provisioned = await gate.projects.provision(project)
          keys[who].secret = provisioned.test.secretKey.key
          keys[who].ids = (await gate.keys.list(project)).map((record) => record.id)
        }
        alice = await open(signIn({ projectId: 'proj_alice' }))
        bob = await open(signIn({ projectId: 'proj_bob' }))
      }, TEST_TIMEOUT_MS)

      it(
        'finds a client’s sessions, revokes one, then all; a revoked session is refused',
        async () => {
          const { gate, http } = platform()
          const first = await sessionFor(gate, keys.alice.secret, 'user_42')
          const second = await sessionFor(gate, keys.alice.secret, 'user_42')
          const bobs = await sessionFor(gate, keys.bob.secret, 'user_42')
          const page = await openPage(alice, platform())
          await page.getByRole('textbox', { name: 'Client ID' }).fill('user_42')
          await page.getByRole('button', { name: 'Find sessions' }).click()
          const table = page.getByRole('table', { name: 'Sessions of user_42 in test mode' })
          await table.waitFor()
          // Alice's two sessions, never Bob's (same client id, other project).
          expect(await table.getByRole('row').count()).toBe(3)
          expect(await alice.domContains(bobs.id)).toBe(false)
          await expectAccessible(alice, 'client sessions')
          if (documenting) await shoot(page, 'api-keys-page-sessions')

          await page.getByRole('button', { name: `Revoke session ${first.id}` }).click()
          const confirm = page.getByRole('dialog', { name: 'Revoke this session?' })
          await expectAccessible(alice, 'revoke session confirmation')
          await confirm.getByRole('button', { name: 'Revoke this session' }).click()
          await expect
            .poll(() => table.getByRole('row').filter({ hasText: first.id }).textContent())
            .toContain('Revoked')
          expect(await http('/v1/me', first.token)).toEqual({
            status: 401,
            code: 'session_revoked',
          })
          expect((await http('/v1/me', second.token)).status).toBe(200)

          await page.getByRole('button', { name: 'Revoke all sessions of user_42' }).click()
          const all = page.getByRole('dialog', { name: 'Revoke all sessions of user_42?' })
          await expectAccessible(alice, 'revoke all sessions confirmation')
          await all.getByRole('button', { name: 'Revoke all sessions of user_42' }).click()
          await all.waitFor({ state: 'detached' })
          await expect
            .poll(() => page.getByRole('status').first().textContent())
            .toBe('1 session revoked.')
          expect(await http('/v1/me', second.token)).toEqual({
            status: 401,
            code: 'session_revoked',
          })
          expect((await http('/v1/me', bobs.token)).status).toBe(200)

          // Forged: Bob's session id through Alice's page, with every field well-formed.
          const forged = await alice.call('POST', `client-sessions/${bobs.id}/revoke`, {
            body: { mode: 'test', clientId: 'user_42' },
          })
          expect(forged).toMatchObject({
            status: 404,
            body: { error: { code: 'resource_missing' } },
          })
          expect((await http('/v1/me', bobs.token)).status).toBe(200)

          // A client with no session in this project says so.
          await page.getByRole('textbox', { name: 'Client ID' }).fill('user_nobody')
          await page.getByRole('button', { name: 'Find sessions' }).click()
          await page.getByText('No sessions of user_nobody in test mode.').waitFor()
          await expectAccessible(alice, 'client sessions: none found')
          await expectNoProblems(alice)
        },
        TEST_TIMEOUT_MS,
      )

      it(
        'two customers never see or touch each other’s keys, even with forged calls',
        async () => {
          const { gate, http } = platform()
          const alicesPage = await openPage(alice, platform())
          const bobsPage = await openPage(bob, platform())
          for (const id of keys.alice.ids.concat(keys.bob.ids)) {
            const record = await gate.keys.get(id)
            if (record === null || record.mode === 'live') continue
            const mine = record.projectId === 'proj_alice'
            await expect.poll(() => keyRow(alicesPage, record.redacted).count()).toBe(mine ? 1 : 0)
            await expect.poll(() => keyRow(bobsPage, record.redacted).count()).toBe(mine ? 0 : 1)
            expect(await (mine ? bob : alice).domContains(record.redacted)).toBe(false)
          }
          const listed = await alice.call('GET', 'keys?mode=test')
          const ids = (listed.body.data as { id: string }[]).map((key) => key.id)
          expect(ids.every((id) => keys.alice.ids.includes(id))).toBe(true)

          // Every call on one of Bob's keys, from Alice's session: as if it did not exist.
          const target = keys.bob.ids[0] as string
          const before = await gate.keys.get(target)
          for (const [method, path, body] of [
            ['POST', `keys/${target}/roll`, { gracePeriodMs: 0 }],
            ['POST', `keys/${target}/reveal`, undefined],
            ['PATCH', `keys/${target}`, { allowedIps: ['198.51.100.1'] }],
            ['DELETE', `keys/${target}`, undefined],
          ] as const) {
            const answer = await alice.call(method, path, { body })
            expect(answer, `${method} ${path}`).toMatchObject({
              status: 404,
              body: { error: { code: 'resource_missing' } },
            })
            expect(JSON.stringify(answer.body)).not.toMatch(/[sp]k_test_\w{49}/)
          }
          expect(await gate.keys.get(target)).toEqual(before)
          expect((await http('/v1/account', keys.bob.secret)).status).toBe(200)

          // The browser never names a project: a project in the query or the body is refused.
          expect((await alice.call('GET', 'keys?mode=test&projectId=proj_bob')).status).toBe(400)
          const named = await alice.call('POST', 'keys', {
            body: { type: 'secret', mode: 'test', projectId: 'proj_bob' },
          })
          expect(named).toMatchObject({ status: 400, body: { error: { param: 'projectId' } } })
          // CSRF: without the page's header, or without a JSON body type, nothing happens.
          const bare = await alice.call('POST', 'keys', {
            body: { type: 'secret', mode: 'test' },
            headers: { 'Content-Type': 'application/json' },
          })
          expect(bare).toMatchObject({
            status: 400,
            body: { error: { param: 'X-Portcullis-Page' } },
          })
          const plain = await alice.call('POST', 'keys', {
            body: { type: 'secret', mode: 'test' },
            headers: { 'X-Portcullis-Page': '1', 'Content-Type': 'text/plain' },
          })
          expect(plain).toMatchObject({ status: 400, body: { error: { param: 'Content-Type' } } })
          expect(await gate.keys.list('proj_bob')).toHaveLength(keys.bob.ids.length)
          expect(await gate.keys.list('proj_alice')).toHaveLength(keys.alice.ids.length)
          await expectNoProblems(alice)
          await expectNoProblems(bob)
        },
        TEST_TIMEOUT_MS,
      )

      it(
        'refuses a user authorize says no to: a 403 page, and 403 on every call',
        async () => {
          const stranger = await platform().open(platform().signIn({ projectId: 'proj_alice' }))
          await stranger.context.clearCookies()
          const response = await stranger.page.goto(`${platform().pageUrl}/`)
          expect(response?.status()).toBe(403)
          expect(response?.headers()['content-security-policy']).toContain("default-src 'self'")
          await stranger.page.getByText('You do not have access').waitFor()
          await expectAccessible(stranger, 'forbidden page')
          expect((await stranger.call('GET', 'keys?mode=test')).status).toBe(403)
          expect((await stranger.call('GET', 'context')).status).toBe(403)
        },
        TEST_TIMEOUT_MS,
      )

      it(
        'works by keyboard alone: dialogs keep focus inside, Escape closes them',
        async () => {
          const { gate } = platform()
          const page = await openPage(alice, platform())
          const { keyboard } = page
          const tabTo = async (name: string, key: 'Tab' | 'Shift+Tab' = 'Tab') => {
            for (let step = 0; step < 80; step += 1) {
              await keyboard.press(key)
              if ((await alice.focused()).name === name) return
            }
            throw new Error(`${key} never reached ${name}`)
          }
          await tabTo('Create key')
          await keyboard.press('Enter')
          const dialog = page.getByRole('dialog', { name: 'Create a test key' })
          await dialog.waitFor()
          for (const key of ['Tab', 'Shift+Tab']) {
            for (let step = 0; step < 12; step += 1) {
              await keyboard.press(key)
              expect((await alice.focused()).inDialog, `${key} ×${step + 1}`).toBe(true)
            }
          }
          await keyboard.press('Escape')
          await dialog.waitFor({ state: 'detached' })
          expect(await alice.focused()).toMatchObject({ name: 'Create key', inDialog: false })

          await keyboard.press('Enter')
          await dialog.waitFor()
          expect(await alice.focused()).toMatchObject({ tag: 'input', inDialog: true }) // "Secret key"
          await keyboard.press('ArrowDown') // "Restricted key"
          await keyboard.press('Tab')
          await keyboard.type('Keyboard key')
          await keyboard.press('Enter')
          const shown = page.getByRole('dialog', { name: 'Your new restricted key' })
          await shown.waitFor()
          expect(await alice.focused()).toMatchObject({ name: 'Copy' })
          await keyboard.press('Enter')
          await expect
            .poll(() => shown.getByRole('status').textContent())
            .toBe('Copied to the clipboard.')
          const key = await page.evaluate('navigator.clipboard.readText()')
          await keyboard.press('Tab')
          await keyboard.press('Enter') // Done
          await shown.waitFor({ state: 'detached' })
          await expectKeyGone(alice, key as string)
          const record = (await gate.keys.list('proj_alice')).find(
            (each) => each.name === 'Keyboard key',
          )
          expect(record).toMatchObject({ type: 'restricted', permissions: {} })

          await tabTo(`Roll Keyboard key (${record?.redacted})`)
          await keyboard.press('Enter')
          const roll = page.getByRole('dialog', { name: 'Roll Keyboard key' })
          await roll.waitFor()
          await keyboard.press('ArrowDown') // in 1 hour
          await keyboard.press('ArrowDown') // in 24 hours
          await keyboard.press('Tab') // Cancel
          await keyboard.press('Tab') // Roll key
          await keyboard.press('Enter')
          const rolled = page.getByRole('dialog', { name: 'Your new restricted key' })
          await rolled.waitFor()
          const rolledKey = await rolled.getByRole('textbox').inputValue()
          await keyboard.press('Escape')
          await rolled.waitFor({ state: 'detached' })
          await expectKeyGone(alice, rolledKey)
          const previous = await gate.keys.get(record?.id as string)
          expect(previous?.expiresAt).toBe(gate.clock() + 24 * 3_600_000)

          // Delete the new key: the confirmation opens on Cancel, the safe choice.
          const replacement = await gate.keys.get(previous?.rolledToId as string)
          if (replacement === null) throw new Error('no replacement')
          await tabTo(`Delete Keyboard key (${replacement.redacted})`)
          await keyboard.press('Enter')
          const confirm = page.getByRole('dialog', { name: 'Delete Keyboard key?' })
          await confirm.waitFor()
          expect(await alice.focused()).toMatchObject({ name: 'Cancel', inDialog: true })
          await keyboard.press('Tab') // Delete key
          await keyboard.press('Enter')
          await confirm.waitFor({ state: 'detached' })
          expect(await gate.keys.get(replacement.id)).toBeNull()
          // Its button is gone with it: focus lands on the keys' heading.
          expect(await alice.focused()).toMatchObject({ tag: 'h2', name: 'Test keys' })

          // The mode switch is a radio group: arrow keys move between Test and Live.
          await tabTo('Test', 'Shift+Tab')
          await keyboard.press('ArrowRight')
          await keysTable(page, 'live').waitFor()
          await keyboard.press('ArrowLeft')
          await keysTable(page, 'test').waitFor()

          // Find a client's sessions and revoke one.
          const session = await sessionFor(gate, keys.alice.secret, 'user_keyboard')
          await tabTo('Client ID')
          await keyboard.type('user_keyboard')
          await keyboard.press('Enter')
          await page
            .getByRole('table', { name: 'Sessions of user_keyboard in test mode' })
            .waitFor()
          await tabTo(`Revoke session ${session.id}`)
          await keyboard.press('Enter')
          const revoke = page.getByRole('dialog', { name: 'Revoke this session?' })
          await revoke.waitFor()
          await keyboard.press('Tab') // Revoke this session
          await keyboard.press('Enter')
          await revoke.waitFor({ state: 'detached' })
          expect(await platform().http('/v1/me', session.token)).toEqual({
            status: 401,
            code: 'session_revoked',
          })
          await expectNoProblems(alice)
        },
        TEST_TIMEOUT_MS,
      )
    })
  },
)
