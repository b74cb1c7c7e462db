import { actions, openDialog } from './dialog.js'
import { h, uid } from './dom.js'
import { dateText } from './format.js'
import type { Page, ShownKey } from './types.js'

// A key handed over: just created, rolled, or revealed. It is in the DOM only while this
// dialog is open (Done or Escape removes it), never in a URL, web storage or the console.

const TYPE_WORDS = {
  secret: 'secret',
  restricted: 'restricted',
  publishable: 'publishable',
} as const

function previousNote(page: Page, shown: ShownKey): string | null {
  const previous = shown.previous
  if (previous === undefined) return null
  if (previous.expiresAt === null || previous.expiresAt <= page.now) {
    return `The old key ${previous.redacted} has stopped working.`
  }
  return `The old key ${previous.redacted} works until ${dateText(previous.expiresAt)}; then only the new one does.`
}

export function showKeyDialog(
  page: Page,
  shown: ShownKey,
  reason: 'created' | 'rolled' | 'revealed',
): void {
  const { record } = shown
  const inputId = uid('key')
  const status = h('p', { class: 'pc-copied', role: 'status' })
  const input = h('input', {
    id: inputId,
    type: 'text',
    readonly: true,
    class: 'pc-secret-value',
    spellcheck: 'false',
    autocomplete: 'off',
    value: shown.key,
  })
  const copy = h('button', { type: 'button', class: 'pc-button' }, 'Copy')
  const done = h('button', { type: 'button', class: 'pc-button pc-primary' }, 'Done')
  const words = TYPE_WORDS[record.type]
  const warning =
    reason === 'revealed'
      ? 'Anyone with this key can use it. Select Done when you have what you need.'
      : record.type === 'publishable'
        ? 'Copy it now: it is shown only this once. Publishable keys are safe to embed in your apps.'
        : 'Copy it now and keep it on your servers: it is shown only this once.'
  const note = previousNote(page, shown)
  const focusKey = `key:${record.id}`
  const handle = openDialog(page.root, {
    title: reason === 'revealed' ? `Your ${record.name}` : `Your new ${words} key`,
    description: warning,
    className: 'pc-dialog-secret',
    content: [
      h(
        'div',
        { class: 'pc-field' },
        h('label', { for: inputId, class: 'pc-label' }, `${record.name} (${record.mode} mode)`),
        h('div', { class: 'pc-secret' }, input, copy),
        status,
      ),
      note === null ? null : h('p', { class: 'pc-note' }, note),
      actions(done),
    ].filter((node) => node !== null),
    returnFocus: () =>
      page.root.querySelector<HTMLElement>(`[data-focus="${focusKey}"]`) ?? page.fallbackFocus(),
    // The dialog leaves the DOM as it closes; its field is emptied too, for anything holding it.
    onClose: () => {
      input.value = ''
    },
  })
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value)
      status.textContent = 'Copied to the clipboard.'
    } catch {
      input.select()
      status.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.'
    }
  })
  input.addEventListener('focus', () => input.select())
  done.addEventListener('click', () => handle.close())
  copy.focus()
}
