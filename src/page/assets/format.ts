import { h } from './dom.js'
import type { KeyType, PageKey } from './types.js'

export const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' })

/** A `<time>` element: the local date, then the time of day, with the instant in `datetime`. */
export function time(epochMs: number): HTMLTimeElement {
  return h(
    'time',
    { datetime: new Date(epochMs).toISOString() },
    h('span', { class: 'pc-date' }, dateOnly.format(epochMs)),
    ' ',
    h('span', { class: 'pc-time-of-day' }, timeOnly.format(epochMs)),
  )
}

export function dateText(epochMs: number): string {
  return dateTime.format(epochMs)
}

/** "1 hour", "24 hours", "7 days". */
export function durationText(ms: number): string {
  if (ms > DAY_MS && ms % DAY_MS === 0) {
    const days = ms / DAY_MS
    return `${days} day${days === 1 ? '' : 's'}`
  }
  const hours = Math.round(ms / HOUR_MS)
  return `${hours} hour${hours === 1 ? '' : 's'}`
}

export const TYPE_LABELS: Readonly<Record<KeyType, string>> = {
  secret: 'Secret',
  restricted: 'Restricted',
  publishable: 'Publishable',
}

/** What limits a key, in words: its allowlist, its client restriction, its permissions. */
export function limitsOf(key: PageKey): string[] {
  const lines: string[] = []
  if (key.type !== 'publishable') {
    lines.push(key.allowedIps.length === 0 ? 'Any IP address' : `IPs: ${key.allowedIps.join(', ')}`)
  } else if (key.allowedOrigins.length > 0) {
    lines.push(`Websites: ${key.allowedOrigins.join(', ')}`)
  } else if (key.allowedAndroidApps.length > 0) {
    lines.push(`Android: ${key.allowedAndroidApps.map((app) => app.packageName).join(', ')}`)
  } else if (key.allowedIosBundleIds.length > 0) {
    lines.push(`iOS: ${key.allowedIosBundleIds.join(', ')}`)
  } else {
    lines.push('Any website or app')
  }
  if (key.permissions !== null) {
    const granted = Object.entries(key.permissions)
    lines.push(
      granted.length === 0
        ? 'No permissions'
        : granted.map(([resource, level]) => `${resource}: ${level}`).join(', '),
    )
  }
  return lines
}

/** Whether a key still works at `now`, and why not. */
export function keyState(key: PageKey, now: number): 'active' | 'expiring' | 'expired' {
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired'
  return key.rolledToId !== null ? 'expiring' : 'active'
}
