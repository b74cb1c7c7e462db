import { ApiError } from './api.js'
import { append, focusables, h, uid } from './dom.js'

// Modal dialogs: native <dialog> opened with showModal() (the rest of the page becomes inert),
// Tab and Shift+Tab kept inside, Escape closes, focus goes back where it came from. A dialog is
// removed from the document in the same task that closes it, so a key it showed is gone from
// the DOM the moment it is dismissed: the native `close` event comes a task later, and waiting
// for it would leave a closed (hidden) dialog, key and all, in the document meanwhile.

export interface DialogHandle {
  readonly dialog: HTMLDialogElement
  /** A region for an error that belongs to no field (role="alert"). */
  readonly alert: HTMLElement
  /** Closes and removes the dialog. */
  close(): void
  /** Disables the dialog's buttons while a call runs. */
  setBusy(busy: boolean): void
}

export interface DialogOptions {
  readonly title: string
  /** Read with the title when the dialog opens. */
  readonly description?: string
  readonly content: readonly Node[]
  readonly className?: string
  /** Where focus goes after the dialog closed; default: where it was when it opened. */
  readonly returnFocus?: () => HTMLElement | null
  readonly onClose?: () => void
}

/** The element that has focus inside `root`'s tree (a shadow root has its own). */
export function activeIn(node: Node): Element | null {
  const root = node.getRootNode() as Document | ShadowRoot
  return root.activeElement
}

function trapTab(dialog: HTMLDialogElement, event: KeyboardEvent): void {
  if (event.key !== 'Tab') return
  const stops = focusables(dialog)
  const first = stops[0]
  const last = stops[stops.length - 1]
  if (first === undefined || last === undefined) {
    event.preventDefault()
    return
  }
  const active = activeIn(dialog)
  if (event.shiftKey && (active === first || !dialog.contains(active))) {
    event.preventDefault()
    last.focus()
  } else if (!event.shiftKey && (active === last || !dialog.contains(active))) {
    event.preventDefault()
    first.focus()
  }
}

export function openDialog(host: Node, options: DialogOptions): DialogHandle {
  const titleId = uid('dialog-title')
  const descriptionId = options.description === undefined ? null : uid('dialog-description')
  const opener = activeIn(host)
  const alert = h('p', { class: 'pc-alert', role: 'alert', hidden: true })
  const dialog = h(
    'dialog',
    {
      class: `pc-dialog ${options.className ?? ''}`.trim(),
      'aria-labelledby': titleId,
      'aria-describedby': descriptionId,
    },
    h('h2', { id: titleId, class: 'pc-dialog-title' }, options.title),
    descriptionId === null
      ? null
      : h('p', { id: descriptionId, class: 'pc-dialog-description' }, options.description ?? ''),
  )
  append(dialog, ...options.content)
  // The alert sits above the buttons: after the content, before a trailing footer.
  const footer = dialog.querySelector(
    ':scope > .pc-dialog-actions, :scope > form > .pc-dialog-actions',
  )
  if (footer === null) dialog.append(alert)
  else footer.before(alert)
  dialog.addEventListener('keydown', (event) => trapTab(dialog, event))
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    if (dialog.open) dialog.close()
    dialog.remove()
    options.onClose?.()
    const target = options.returnFocus?.() ?? (opener instanceof HTMLElement ? opener : null)
    if (target?.isConnected) target.focus()
  }
  // Escape: `cancel` fires synchronously, before the browser closes the dialog; close it here.
  dialog.addEventListener('cancel', close)
  // Anything else that closes it (a form with method="dialog", say), a task later.
  dialog.addEventListener('close', close)
  host.appendChild(dialog)
  dialog.showModal()
  return {
    dialog,
    alert,
    close,
    setBusy(busy) {
      dialog.setAttribute('aria-busy', String(busy))
      for (const button of dialog.querySelectorAll('button')) button.disabled = busy
    },
  }
}

/** Shows an error in the dialog's alert region. */
export function showAlert(handle: DialogHandle, error: unknown): void {
  handle.alert.textContent =
    error instanceof ApiError ? error.message : 'Something went wrong. Try again.'
  handle.alert.hidden = false
}

/** The row of buttons at the foot of a dialog. */
export function actions(...buttons: HTMLButtonElement[]): HTMLDivElement {
  return h('div', { class: 'pc-dialog-actions' }, ...buttons)
}

export interface ConfirmOptions {
  readonly title: string
  readonly message: readonly (Node | string)[]
  readonly confirmLabel: string
  /** Runs on confirmation; the dialog closes when it resolves, and shows why when it rejects. */
  readonly onConfirm: () => Promise<void>
  readonly returnFocus?: () => HTMLElement | null
}

/** "Are you sure?": Cancel (focused first, the safe choice) or the named, destructive action. */
export function confirmDialog(host: Node, options: ConfirmOptions): DialogHandle {
  const cancel = h('button', { type: 'button', class: 'pc-button', autofocus: true }, 'Cancel')
  const confirm = h(
    'button',
    { type: 'button', class: 'pc-button pc-danger' },
    options.confirmLabel,
  )
  const handle = openDialog(host, {
    title: options.title,
    content: [h('p', {}, ...options.message), actions(cancel, confirm)],
    className: 'pc-dialog-narrow',
    ...(options.returnFocus === undefined ? {} : { returnFocus: options.returnFocus }),
  })
  cancel.addEventListener('click', () => handle.close())
  confirm.addEventListener('click', async () => {
    handle.setBusy(true)
    try {
      await options.onConfirm()
      handle.close()
    } catch (error) {
      handle.setBusy(false)
      showAlert(handle, error)
      confirm.focus()
    }
  })
  return handle
}
