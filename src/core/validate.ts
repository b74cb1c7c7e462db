import { InvalidRequestError } from './errors.js'
import { isMode, KEY_TYPES, type KeyType, type Mode } from './types.js'

export const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/
const OPAQUE_ID = /^[a-z]{2,4}_[0-9A-Za-z]{1,64}$/

/** The pattern of one kind of id the library issues (`key_…`, `cs_…`), as a regex source. */
export function opaqueIdPattern(prefix: string): string {
  return `^${prefix}_[0-9A-Za-z]{1,64}$`
}
// Control characters (C0, DEL and C1) would corrupt logs and some stores' keys; bidi controls
// make one id display as another; 255 fits every SQL index.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
// With the u flag a paired surrogate is one code point, so this matches lone surrogates only:
// text that is not well-formed Unicode, which stores encode each their own way (or not at all).
const LONE_SURROGATE = /[\ud800-\udfff]/u

/** Refuses text that is not well-formed Unicode, or holds control or bidi characters. */
function checkText(value: string, param: string): string {
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidRequestError(
      `${param} must be well-formed Unicode (it has a lone surrogate)`,
      param,
    )
  }
  if (CONTROL.test(value)) {
    throw new InvalidRequestError(`${param} must not contain control or bidi characters`, param)
  }
  return value
}
export const MAX_CLIENT_ID_LENGTH = 255
export const MAX_KEY_NAME_LENGTH = 100

export function checkProjectId(value: unknown, param = 'projectId'): string {
  if (typeof value !== 'string' || !PROJECT_ID.test(value)) {
    throw new InvalidRequestError(
      `${param} must be 1-128 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit`,
      param,
    )
  }
  return value
}

export function checkClientId(value: unknown, param = 'clientId'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CLIENT_ID_LENGTH) {
    throw new InvalidRequestError(
      `${param} must be a string of 1-${MAX_CLIENT_ID_LENGTH} characters`,
      param,
    )
  }
  return checkText(value, param)
}

export function checkKeyName(value: unknown, param = 'name'): string {
  if (
    typeof value !== 'string' ||
    value.trim().length === 0 ||
    value.length > MAX_KEY_NAME_LENGTH
  ) {
    throw new InvalidRequestError(
      `${param} must be a non-blank string of at most ${MAX_KEY_NAME_LENGTH} characters`,
      param,
    )
  }
  return checkText(value, param)
}

/** Ids the library issued (`key_…`, `cs_…`); anything else cannot exist, so no lookup is made. */
export function checkOpaqueId(value: unknown, param: string): string {
  if (typeof value !== 'string' || !OPAQUE_ID.test(value)) {
    throw new InvalidRequestError(`${param} is not a valid id`, param)
  }
  return value
}

/** `"a", "b" or "c"`, for messages. */
function oneOf(values: readonly string[]): string {
  const quoted = values.map((value) => `"${value}"`)
  return quoted.length === 1
    ? (quoted[0] as string)
    : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
}

export function checkMode(value: unknown, param = 'mode'): Mode {
  if (!isMode(value)) throw new InvalidRequestError(`${param} must be "test" or "live"`, param)
  return value
}

export function checkKeyType(value: unknown, param = 'type'): KeyType {
  if (!KEY_TYPES.includes(value as KeyType)) {
    throw new InvalidRequestError(`${param} must be ${oneOf(KEY_TYPES)}`, param)
  }
  return value as KeyType
}

/** An optional absolute instant that must lie in the future. */
export function checkFutureInstant(value: unknown, now: number, param: string): number | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidRequestError(`${param} must be an integer epoch-millisecond timestamp`, param)
  }
  if (value <= now) throw new InvalidRequestError(`${param} must be in the future`, param)
  return value
}

/** A non-negative whole number of milliseconds, at most `max`. */
export function checkDuration(value: unknown, max: number, param: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidRequestError(
      `${param} must be a non-negative integer number of milliseconds`,
      param,
    )
  }
  if (value > max) throw new InvalidRequestError(`${param} must be at most ${max} ms`, param)
  return value
}
