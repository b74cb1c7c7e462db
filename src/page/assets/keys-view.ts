import { h, hiddenText } from './dom.js'
import { keyState, limitsOf, TYPE_LABELS, time } from './format.js'
import { openRestrictionsDialog } from './key-dialogs.js'
import { openDeleteDialog, openRollDialog, revealKey } from './lifecycle-dialogs.js'
import type { Page, PageKey } from './types.js'

// The keys table. Each action is a real button whose accessible name says what it does to
// which key ("Roll Billing worker (sk_test_…x9Qa)"), so it is findable by screen readers (and
// tests) without relying on the layout. Actions the grant withholds are not drawn at all.

/** A row's button: visible `text`, named "`text` [of] key name (redacted key)". */
function actionButton(
  text: string,
  key: PageKey,
  focus: string,
  onClick: (button: HTMLButtonElement) => void,
  options: { of?: boolean; className?: string } = {},
): HTMLButtonElement {
  const button = h(
    'button',
    {
      type: 'button',
      class: options.className ?? 'pc-button pc-small',
      'aria-label': `${text}${options.of ? ' of' : ''} ${key.name} (${key.redacted})`,
      'data-focus': `${focus}:${key.id}`,
    },
    text,
  )
  button.addEventListener('click', () => onClick(button))
  return button
}

function keyActions(page: Page, key: PageKey): HTMLElement[] {
  const { can } = page.context
  const usable = keyState(key, page.now) !== 'expired'
  const buttons: HTMLElement[] = []
  if (can.reveal && key.revealable && usable) {
    buttons.push(actionButton('Reveal', key, 'reveal', (button) => revealKey(page, key, button)))
  }
  if (can.roll && usable && key.rolledToId === null) {
    buttons.push(actionButton('Roll', key, 'roll', () => openRollDialog(page, key)))
  }
  if (can.allowlist && usable) {
    const text = key.type === 'publishable' ? 'Limits' : 'Allowlist'
    buttons.push(
      actionButton(text, key, 'restrictions', () => openRestrictionsDialog(page, key), {
        of: true,
      }),
    )
  }
  if (can.delete) {
    buttons.push(
      actionButton('Delete', key, 'delete', () => openDeleteDialog(page, key), {
        className: 'pc-button pc-small pc-danger-quiet',
      }),
    )
  }
  return buttons
}

function stateBadge(key: PageKey, now: number): HTMLElement | null {
  switch (keyState(key, now)) {
    case 'expired':
      return h('span', { class: 'pc-badge pc-badge-expired' }, 'Expired')
    case 'expiring':
      return h('span', { class: 'pc-badge pc-badge-warn' }, 'Rolled')
    default:
      return null
  }
}

function keyRow(page: Page, key: PageKey): HTMLTableRowElement {
  const state = keyState(key, page.now)
  return h(
    'tr',
    { class: `pc-key pc-state-${state}` },
    h(
      'th',
      { scope: 'row', tabindex: '-1', 'data-focus': `key:${key.id}`, class: 'pc-key-name' },
      h('span', { class: 'pc-name' }, key.name),
      ' ',
      h('span', { class: `pc-badge pc-badge-${key.type}` }, TYPE_LABELS[key.type]),
      ' ',
      stateBadge(key, page.now),
    ),
    h('td', {}, h('code', { class: 'pc-redacted' }, key.redacted)),
    h('td', {}, time(key.createdAt)),
    h('td', {}, key.lastUsedAt === null ? 'Never' : time(key.lastUsedAt)),
    h('td', {}, key.expiresAt === null ? 'Never' : time(key.expiresAt)),
    h('td', {}, h('ul', { class: 'pc-limits' }, ...limitsOf(key).map((line) => h('li', {}, line)))),
    h('td', { class: 'pc-actions' }, ...keyActions(page, key)),
  )
}

/** The table of the mode's keys, or a sentence when there are none. */
export function keysTable(page: Page, keys: readonly PageKey[]): HTMLElement {
  if (keys.length === 0) {
    return h('p', { class: 'pc-empty' }, `No ${page.mode} keys yet.`)
  }
  const column = (text: string) => h('th', { scope: 'col' }, text)
  return h(
    'div',
    { class: 'pc-table-wrap' },
    h(
      'table',
      { class: 'pc-table' },
      h(
        'caption',
        { class: 'pc-visually-hidden' },
        `${page.mode === 'live' ? 'Live' : 'Test'} mode keys`,
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          column('Name'),
          column('Key'),
          column('Created'),
          column('Last used'),
          column('Expires'),
          column('Limits'),
          h('th', { scope: 'col' }, hiddenText('Actions')),
        ),
      ),
      h('tbody', {}, ...keys.map((key) => keyRow(page, key))),
    ),
  )
}
