/** The command line's options, parsed with a suggestion for a mistyped flag, and read with checks. */
import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'
import { closest } from './suggest.js'

/** Every option any command takes; `multiple: true` for one given again and again. */
const OPTIONS = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  project: { type: 'string' },
  type: { type: 'string' },
  mode: { type: 'string' },
  name: { type: 'string' },
  'allow-ip': { type: 'string', multiple: true },
  'expires-at': { type: 'string' },
  'client-id': { type: 'string' },
  grace: { type: 'string' },
  clear: { type: 'boolean' },
  permission: { type: 'string', multiple: true },
  'clear-permissions': { type: 'boolean' },
  metadata: { type: 'string' },
  'clear-metadata': { type: 'boolean' },
  'allow-origin': { type: 'string', multiple: true },
  'allow-android-app': { type: 'string', multiple: true },
  'allow-ios-bundle': { type: 'string', multiple: true },
  'clear-restrictions': { type: 'boolean' },
} as const

export function parse(argv: readonly string[]) {
  // A first, lenient pass finds unknown flags, so the message can suggest the intended one
  // (the strict pass would only say "Unknown option").
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: OPTIONS,
  })
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name in OPTIONS) continue
    const guess = closest(token.name, Object.keys(OPTIONS))
    throw new UsageError(
      `unknown option ${token.rawName}${guess === undefined ? '' : ` (did you mean --${guess}?)`}`,
    )
  }
  return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS })
}

/** The options as parsed, by name (`values['client-id']`). */
export type Values = ReturnType<typeof parse>['values']

/** A required option or argument; `what` names it in the message (`--project`, `<keyId>`). */
export function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

export function parseInstant(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(value))
    throw new UsageError(`${flag} takes an ISO date or epoch milliseconds`)
  return value
}
