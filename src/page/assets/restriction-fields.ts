import { h } from './dom.js'
import { type Field, lines, selectField, textField } from './fields.js'
import type { AndroidApp, PageKey } from './types.js'

// The fields that limit where a key works, shared by the create and edit dialogs: a secret or
// restricted key's IP allowlist, a publishable key's websites or apps (one kind at most).

/** A secret or restricted key's allowlist, one entry per line. */
export function allowlistField(key?: PageKey): Field {
  return textField({
    names: ['allowedIps'],
    label: 'Allowed IP addresses',
    hint: 'One address or CIDR range per line, e.g. 203.0.113.0/24 or 2001:db8::/32. Empty: any address.',
    value: key?.allowedIps.join('\n') ?? '',
    multiline: true,
  })
}

export function allowlistBody(field: Field): { allowedIps: string[] } {
  return { allowedIps: lines(field.control) }
}

type Kind = 'none' | 'allowedOrigins' | 'allowedAndroidApps' | 'allowedIosBundleIds'

const KINDS: readonly (readonly [Kind, string])[] = [
  ['none', 'Any website or app'],
  ['allowedOrigins', 'Websites'],
  ['allowedAndroidApps', 'Android apps'],
  ['allowedIosBundleIds', 'iOS apps'],
]

const ENTRY_TEXT: Readonly<Record<Exclude<Kind, 'none'>, readonly [string, string]>> = {
  allowedOrigins: [
    'Allowed websites (origins)',
    'One per line: https://app.example.com, https://*.example.com, or http://localhost:* (any port).',
  ],
  allowedAndroidApps: [
    'Allowed Android apps',
    'One per line: the package name, a space, then the SHA-256 fingerprint of the signing certificate.',
  ],
  allowedIosBundleIds: ['Allowed iOS apps (bundle IDs)', 'One per line, e.g. com.example.shop.'],
}

function kindOf(key: PageKey | undefined): Kind {
  if (key === undefined) return 'none'
  if (key.allowedOrigins.length > 0) return 'allowedOrigins'
  if (key.allowedAndroidApps.length > 0) return 'allowedAndroidApps'
  return key.allowedIosBundleIds.length > 0 ? 'allowedIosBundleIds' : 'none'
}

function entriesOf(key: PageKey | undefined): string {
  if (key === undefined) return ''
  return [
    ...key.allowedOrigins,
    ...key.allowedAndroidApps.map((app) => `${app.packageName} ${app.sha256CertFingerprint}`),
    ...key.allowedIosBundleIds,
  ].join('\n')
}

function androidApp(line: string): AndroidApp {
  const [packageName = '', sha256CertFingerprint = ''] = line.split(/\s+/)
  return { packageName, sha256CertFingerprint }
}

export interface RestrictionFields {
  readonly element: HTMLElement
  readonly fields: readonly Field[]
  /** The restriction as `keys.update` and `keys.create` take it; `{ allowedOrigins: [] }` lifts it. */
  body(): Record<string, unknown>
}

/** A publishable key's client restriction: which kind, then its entries. */
export function restrictionFields(key?: PageKey): RestrictionFields {
  const kind = selectField({
    names: [],
    label: 'Limit to',
    hint: 'Where the key may be used from. A billing and abuse control, not a secret: keep your secret keys on your servers.',
    choices: KINDS,
    value: kindOf(key),
  })
  const entries = textField({
    names: ['allowedOrigins', 'allowedAndroidApps', 'allowedIosBundleIds'],
    label: ENTRY_TEXT.allowedOrigins[0],
    hint: ENTRY_TEXT.allowedOrigins[1],
    value: entriesOf(key),
    multiline: true,
  })
  const label = entries.element.querySelector('label')
  const hint = entries.hintId === null ? null : entries.element.querySelector('.pc-hint')
  const sync = () => {
    const chosen = kind.control.value as Kind
    entries.element.hidden = chosen === 'none'
    if (chosen === 'none') return
    const [labelText, hintText] = ENTRY_TEXT[chosen]
    if (label !== null) label.textContent = labelText
    if (hint !== null) hint.textContent = hintText
  }
  kind.control.addEventListener('change', sync)
  sync()
  return {
    element: h('div', { class: 'pc-group' }, kind.element, entries.element),
    fields: [kind, entries],
    body() {
      const chosen = kind.control.value as Kind
      if (chosen === 'none') return { allowedOrigins: [] }
      const list = lines(entries.control)
      return { [chosen]: chosen === 'allowedAndroidApps' ? list.map(androidApp) : list }
    },
  }
}
