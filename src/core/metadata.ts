import { InvalidRequestError } from './errors.js'

/** Plain JSON data. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue }

/** Arbitrary data you attach to a key; portcullis stores and returns it, never interprets it. */
export type KeyMetadata = { readonly [key: string]: JsonValue }

/** Largest metadata, as UTF-8 JSON. */
export const MAX_METADATA_BYTES = 4096
/** Deepest nesting accepted; deeper is no configuration a person writes. */
const MAX_DEPTH = 16

const EMPTY: KeyMetadata = Object.freeze({})

/**
 * Key metadata as given to `keys.create` or `keys.update`: a plain JSON object of at most
 * 4 KiB serialised. Anything else (functions, symbols, `undefined`, bigints, non-finite
 * numbers, dates or other class instances, cycles, `__proto__` keys, deeper than 16 levels)
 * is refused with `invalid_request`. Returns a frozen deep copy, so the caller's object can
 * change afterwards without changing the key; `null` clears (an empty object).
 */
export function checkMetadata(value: unknown, param = 'metadata'): KeyMetadata {
  if (value === null) return EMPTY
  if (!isPlainObject(value)) {
    throw new InvalidRequestError(`${param} must be a plain JSON object`, param)
  }
  const copy = copyJson(value, param, 0, new Set()) as KeyMetadata
  const bytes = Buffer.byteLength(JSON.stringify(copy), 'utf8')
  if (bytes > MAX_METADATA_BYTES) {
    throw new InvalidRequestError(
      `${param} is ${bytes} bytes as JSON; at most ${MAX_METADATA_BYTES} are allowed`,
      param,
    )
  }
  return copy
}

/** Reads stored metadata back (a store's JSON); null or anything unusable is none. */
export function metadataOf(stored: KeyMetadata | null | undefined): KeyMetadata {
  return stored ?? EMPTY
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function copyJson(value: unknown, path: string, depth: number, seen: Set<object>): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value
    throw new InvalidRequestError(`${path} must be a finite number`, path)
  }
  if (typeof value !== 'object') {
    const kind = value === undefined ? 'undefined' : `a ${typeof value}`
    throw new InvalidRequestError(`${path} is ${kind}; metadata holds JSON data only`, path)
  }
  if (depth >= MAX_DEPTH) {
    throw new InvalidRequestError(`${path} is nested deeper than ${MAX_DEPTH} levels`, path)
  }
  if (seen.has(value)) throw new InvalidRequestError(`${path} refers to itself (a cycle)`, path)
  seen.add(value)
  try {
    if (Array.isArray(value)) {
      return Object.freeze(value.map((item, i) => copyJson(item, `${path}[${i}]`, depth + 1, seen)))
    }
    if (!isPlainObject(value)) {
      throw new InvalidRequestError(
        `${path} is an instance of ${value.constructor?.name ?? 'a class'}; metadata holds plain JSON only`,
        path,
      )
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new InvalidRequestError(`${path} has symbol keys; metadata holds JSON data only`, path)
    }
    const out: Record<string, JsonValue> = {}
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__') {
        throw new InvalidRequestError(`${path} may not have a "__proto__" key`, path)
      }
      out[key] = copyJson(item, `${path}.${key}`, depth + 1, seen)
    }
    return Object.freeze(out)
  } finally {
    seen.delete(value)
  }
}
