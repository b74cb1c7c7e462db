import { actions, type DialogHandle, openDialog } from './dialog.js'
import { h } from './dom.js'
import { clearErrors, type Field, radioGroup, selectField, showError, textField } from './fields.js'
import { showKeyDialog } from './key-shown.js'
import { allowlistBody, allowlistField, restrictionFields } from './restriction-fields.js'
import type { KeyType, Page, PageKey, ShownKey } from './types.js'

// Creating a key, and changing where one works. Both send what the form holds and show the
// server's refusal at the field it names.

/** Runs `call` with the dialog busy; on a refusal, shows it at its field and resolves false. */
async function submit(
  handle: DialogHandle,
  fields: readonly Field[],
  call: () => Promise<void>,
): Promise<void> {
  clearErrors(fields, handle)
  handle.setBusy(true)
  try {
    await call()
  } catch (error) {
    handle.setBusy(false)
    showError(fields, handle, error)
  }
}

const TYPE_CHOICES = [
  {
    value: 'secret',
    label: 'Secret key',
    hint: 'Full access to the API, from your own servers.',
  },
  {
    value: 'restricted',
    label: 'Restricted key',
    hint: 'Only the permissions you choose: for a service, a contractor or an agent.',
  },
  {
    value: 'publishable',
    label: 'Publishable key',
    hint: 'Identifies your project in web and mobile apps; safe to embed.',
  },
] as const

export function openCreateDialog(page: Page, opener: HTMLElement): void {
  let type: KeyType = 'secret'
  const typeGroup = radioGroup({
    legend: 'Type',
    choices: TYPE_CHOICES,
    value: type,
    onChange: (value) => {
      type = value as KeyType
      sync()
    },
  })
  const name = textField({
    names: ['name'],
    label: 'Name',
    hint: 'So you know what uses it, e.g. "Billing worker".',
  })
  const permissionFields = page.context.resources.map((resource) =>
    selectField({
      names: [`permissions.${resource}`, 'permissions'],
      label: resource,
      choices: [
        ['none', 'None'],
        ['read', 'Read'],
        ['write', 'Write'],
      ],
    }),
  )
  const permissions = h(
    'fieldset',
    { class: 'pc-group pc-permissions' },
    h('legend', { class: 'pc-label' }, 'Permissions'),
    ...permissionFields.map((field) => field.element),
  )
  const allowlist = allowlistField()
  const restriction = restrictionFields()
  const fields = [name, ...permissionFields, allowlist, ...restriction.fields]
  const sync = () => {
    permissions.hidden = type !== 'restricted'
    allowlist.element.hidden = type === 'publishable'
    restriction.element.hidden = type !== 'publishable'
  }
  sync()
  const cancel = h('button', { type: 'button', class: 'pc-button' }, 'Cancel')
  const create = h('button', { type: 'submit', class: 'pc-button pc-primary' }, 'Create key')
  const form = h(
    'form',
    { novalidate: true },
    typeGroup.element,
    name.element,
    permissions,
    allowlist.element,
    restriction.element,
    actions(cancel, create),
  )
  const handle = openDialog(page.root, {
    title: `Create a ${page.mode} key`,
    content: [form],
    returnFocus: () => opener,
  })
  cancel.addEventListener('click', () => handle.close())
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const body: Record<string, unknown> = { type, mode: page.mode }
    if (name.control.value.trim() !== '') body.name = name.control.value.trim()
    if (type === 'restricted') {
      body.permissions = Object.fromEntries(
        page.context.resources.map((resource, i) => [resource, permissionFields[i]?.control.value]),
      )
    }
    if (type === 'publishable') Object.assign(body, restriction.body())
    else Object.assign(body, allowlistBody(allowlist))
    void submit(handle, fields, async () => {
      const created = await page.api.send<ShownKey>('POST', 'keys', body)
      handle.close()
      await page.reload(`key:${created.record.id}`)
      page.announce(`${created.record.name} created.`)
      showKeyDialog(page, created, 'created')
    })
  })
}

/** A secret or restricted key's IP allowlist, or a publishable key's websites or apps. */
export function openRestrictionsDialog(page: Page, key: PageKey): void {
  const publishable = key.type === 'publishable'
  const allowlist = publishable ? null : allowlistField(key)
  const restriction = publishable ? restrictionFields(key) : null
  const fields = allowlist === null ? (restriction?.fields ?? []) : [allowlist]
  const cancel = h('button', { type: 'button', class: 'pc-button' }, 'Cancel')
  const save = h('button', { type: 'submit', class: 'pc-button pc-primary' }, 'Save')
  const form = h(
    'form',
    { novalidate: true },
    allowlist?.element ?? restriction?.element ?? null,
    actions(cancel, save),
  )
  const focusKey = `restrictions:${key.id}`
  const handle = openDialog(page.root, {
    title: `${publishable ? 'Websites and apps' : 'IP allowlist'} of ${key.name}`,
    description: `${key.redacted}. The change holds from the very next request.`,
    content: [form],
    returnFocus: () =>
      page.root.querySelector<HTMLElement>(`[data-focus="${focusKey}"]`) ?? page.fallbackFocus(),
  })
  cancel.addEventListener('click', () => handle.close())
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const body = allowlist === null ? (restriction?.body() ?? {}) : allowlistBody(allowlist)
    void submit(handle, fields, async () => {
      await page.api.send<PageKey>('PATCH', `keys/${encodeURIComponent(key.id)}`, body)
      await page.reload(focusKey)
      handle.close()
      page.announce(`${publishable ? 'Websites and apps' : 'IP allowlist'} of ${key.name} saved.`)
    })
  })
}
