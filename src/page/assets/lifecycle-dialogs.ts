import { actions, confirmDialog, openDialog, showAlert } from './dialog.js'
import { h } from './dom.js'
import { radioGroup } from './fields.js'
import { dateText, durationText, HOUR_MS } from './format.js'
import { showKeyDialog } from './key-shown.js'
import type { Page, PageKey, ShownKey } from './types.js'

// Rolling, deleting and revealing a key.

/** The grace periods offered: now, 1 hour, 24 hours, 7 days (as far as the gate allows). */
const GRACE_PERIODS_MS = [0, HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS]

const keyPath = (key: PageKey, action = '') =>
  `keys/${encodeURIComponent(key.id)}${action === '' ? '' : `/${action}`}`

const focusOf = (page: Page, focusKey: string) => () =>
  page.root.querySelector<HTMLElement>(`[data-focus="${focusKey}"]`) ?? page.fallbackFocus()

export function openRollDialog(page: Page, key: PageKey): void {
  const choices = GRACE_PERIODS_MS.filter((ms) => ms <= page.context.maxGracePeriodMs).map((ms) => {
    // Never past the key's own expiry: the server clamps it the same way.
    const until = Math.min(page.now + ms, key.expiresAt ?? Number.POSITIVE_INFINITY)
    return ms === 0
      ? { value: '0', label: 'Now', hint: 'The old key stops working at once.' }
      : {
          value: String(ms),
          label: `In ${durationText(ms)}`,
          hint: `The old key works until ${dateText(until)}.`,
        }
  })
  const grace = radioGroup({
    legend: 'When should the old key stop working?',
    choices,
    value: '0',
  })
  const cancel = h('button', { type: 'button', class: 'pc-button' }, 'Cancel')
  const roll = h('button', { type: 'submit', class: 'pc-button pc-primary' }, 'Roll key')
  const form = h('form', { novalidate: true }, grace.element, actions(cancel, roll))
  const handle = openDialog(page.root, {
    title: `Roll ${key.name}`,
    description: `A new key replaces ${key.redacted}, with the same name, allowlist and permissions.`,
    content: [form],
    returnFocus: focusOf(page, `roll:${key.id}`),
  })
  cancel.addEventListener('click', () => handle.close())
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    handle.alert.hidden = true
    handle.setBusy(true)
    try {
      const rolled = await page.api.send<ShownKey>('POST', keyPath(key, 'roll'), {
        gracePeriodMs: Number(grace.value()),
      })
      handle.close()
      await page.reload()
      page.announce(`${key.name} rolled.`)
      showKeyDialog(page, rolled, 'rolled')
    } catch (error) {
      handle.setBusy(false)
      showAlert(handle, error)
    }
  })
}

export function openDeleteDialog(page: Page, key: PageKey): void {
  confirmDialog(page.root, {
    title: `Delete ${key.name}?`,
    message: [
      'The key ',
      h('code', {}, key.redacted),
      ` (${key.name}) stops working at once, for everything that uses it. This cannot be undone.`,
    ],
    confirmLabel: 'Delete key',
    // Cancelled: back to the Delete button; deleted: the button is gone, the heading then.
    returnFocus: focusOf(page, `delete:${key.id}`),
    async onConfirm() {
      await page.api.send('DELETE', keyPath(key))
      await page.reload()
      page.announce(`${key.name} deleted.`)
    },
  })
}

/** Reveal asks nothing: the server shows the key, in the same dialog as a new one. */
export async function revealKey(
  page: Page,
  key: PageKey,
  button: HTMLButtonElement,
): Promise<void> {
  button.disabled = true
  try {
    const revealed = await page.api.send<{ id: string; key: string }>(
      'POST',
      keyPath(key, 'reveal'),
    )
    showKeyDialog(page, { key: revealed.key, record: key }, 'revealed')
  } catch (error) {
    const handle = openDialog(page.root, {
      title: `${key.name} cannot be shown`,
      content: [actions(h('button', { type: 'button', class: 'pc-button pc-primary' }, 'Close'))],
      className: 'pc-dialog-narrow',
      returnFocus: () => button,
    })
    showAlert(handle, error)
    handle.dialog.querySelector('button')?.addEventListener('click', () => handle.close())
  } finally {
    button.disabled = false
  }
}
