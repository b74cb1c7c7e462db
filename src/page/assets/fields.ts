import { ApiError } from './api.js'
import { type DialogHandle, showAlert } from './dialog.js'
import { h, uid } from './dom.js'

// Form fields with a label, an optional hint and an error slot, and the mapping from the
// server's `param` (`allowedIps[1]`, `permissions.charges`) to the field that shows it.

type Control = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement

export interface Field {
  /** The request fields (`param` heads) whose errors this field shows. */
  readonly names: readonly string[]
  readonly control: Control
  readonly element: HTMLElement
  readonly error: HTMLElement
  readonly hintId: string | null
}

export interface FieldOptions {
  readonly names: readonly string[]
  readonly label: string
  readonly hint?: string
  readonly value?: string
  readonly multiline?: boolean
  readonly placeholder?: string
}

function field(control: Control, options: FieldOptions): Field {
  const id = uid('field')
  const hintId = options.hint === undefined ? null : uid('hint')
  const error = h('p', { id: uid('error'), class: 'pc-field-error', hidden: true })
  control.id = id
  if (hintId !== null) control.setAttribute('aria-describedby', hintId)
  const element = h(
    'div',
    { class: 'pc-field' },
    h('label', { for: id, class: 'pc-label' }, options.label),
    hintId === null ? null : h('p', { id: hintId, class: 'pc-hint' }, options.hint ?? ''),
    control,
    error,
  )
  return { names: options.names, control, element, error, hintId }
}

export function textField(options: FieldOptions): Field {
  const control = options.multiline
    ? h('textarea', { rows: 3, spellcheck: 'false', placeholder: options.placeholder })
    : h('input', { type: 'text', autocomplete: 'off', placeholder: options.placeholder })
  control.value = options.value ?? ''
  return field(control, options)
}

export function selectField(
  options: FieldOptions & { readonly choices: readonly (readonly [string, string])[] },
): Field {
  const control = h(
    'select',
    {},
    ...options.choices.map(([value, label]) => h('option', { value }, label)),
  )
  control.value = options.value ?? options.choices[0]?.[0] ?? ''
  return field(control, options)
}

export interface RadioChoice {
  readonly value: string
  readonly label: string
  readonly hint?: string
}

/** A fieldset of radio buttons; arrow keys move between them, as in any radio group. */
export function radioGroup(options: {
  readonly legend: string
  readonly choices: readonly RadioChoice[]
  readonly value: string
  readonly onChange?: (value: string) => void
}): { readonly element: HTMLFieldSetElement; value(): string } {
  const name = uid('radio')
  const element = h(
    'fieldset',
    { class: 'pc-radios' },
    h('legend', { class: 'pc-label' }, options.legend),
    ...options.choices.map((choice) => {
      const id = uid('choice')
      const hintId = choice.hint === undefined ? null : uid('choice-hint')
      return h(
        'div',
        { class: 'pc-radio' },
        h('input', {
          type: 'radio',
          id,
          name,
          value: choice.value,
          checked: choice.value === options.value,
          'aria-describedby': hintId,
          onchange: () => options.onChange?.(choice.value),
        }),
        h('label', { for: id, class: 'pc-radio-label' }, choice.label),
        hintId === null ? null : h('span', { id: hintId, class: 'pc-hint' }, choice.hint ?? ''),
      )
    }),
  )
  return {
    element,
    value: () => element.querySelector<HTMLInputElement>('input:checked')?.value ?? options.value,
  }
}

/** Lines of a textarea, trimmed, blank ones dropped. */
export function lines(control: Control): string[] {
  return control.value
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
}

export function clearErrors(fields: readonly Field[], handle: DialogHandle): void {
  handle.alert.hidden = true
  handle.alert.textContent = ''
  for (const each of fields) {
    each.error.hidden = true
    each.error.textContent = ''
    each.control.removeAttribute('aria-invalid')
    if (each.hintId === null) each.control.removeAttribute('aria-describedby')
    else each.control.setAttribute('aria-describedby', each.hintId)
  }
}

/**
 * Shows the server's refusal at the field its `param` names (`allowedIps[1]` → the allowlist,
 * "Line 2: …"), marks that field invalid and focuses it; anything else goes to the dialog's
 * alert region.
 */
export function showError(fields: readonly Field[], handle: DialogHandle, error: unknown): void {
  const param = error instanceof ApiError ? error.param : undefined
  const parts = param === undefined ? null : /^([A-Za-z]+)(?:\[(\d+)\])?(?:\.(\w+))?/.exec(param)
  const head = parts?.[1]
  const full = parts?.[3] === undefined ? undefined : `${head}.${parts[3]}`
  const target =
    fields.find((each) => full !== undefined && each.names.includes(full)) ??
    fields.find((each) => head !== undefined && each.names.includes(head))
  if (target === undefined || !(error instanceof ApiError)) {
    showAlert(handle, error)
    return
  }
  const line = parts?.[2] === undefined ? '' : `Line ${Number(parts[2]) + 1}: `
  target.error.textContent = `${line}${error.message}`
  target.error.hidden = false
  target.control.setAttribute('aria-invalid', 'true')
  target.control.setAttribute(
    'aria-describedby',
    [target.hintId, target.error.id].filter((id) => id !== null).join(' '),
  )
  target.control.focus()
}
