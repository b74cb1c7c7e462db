import { encodeBase62Fixed, randomBase62 } from './base62.js'
import { crc32 } from './crc32.js'
import type { KeyType, Mode } from './types.js'

/** Random part of a key body: 43 base62 characters carry 256.03 bits. */
export const KEY_RANDOM_LENGTH = 43
/** CRC-32 of everything before it, in base62 (62^6 > 2^32). */
export const KEY_CHECKSUM_LENGTH = 6

const TYPE_TAG: Readonly<Record<KeyType, string>> = {
  secret: 'sk',
  publishable: 'pk',
  client: 'ck',
  restricted: 'rk',
}
const TAG_TYPE: Readonly<Record<string, KeyType>> = {
  sk: 'secret',
  pk: 'publishable',
  ck: 'client',
  rk: 'restricted',
}

const PRODUCT_PREFIX = /^[a-z][a-z0-9]{1,15}$/
const RESERVED_PREFIXES = new Set(['sk', 'pk', 'ck', 'rk', 'test', 'live'])

export type KeyParseResult =
  | { ok: true; type: KeyType; mode: Mode }
  | { ok: false; reason: 'malformed' | 'checksum' }

/** Generates and parses keys of one instance (with or without a product prefix). */
export interface KeyFormat {
  /** The non-secret head of a key, e.g. `sk_test` or `acme_sk_test`. */
  head(type: KeyType, mode: Mode): string
  /** A fresh key: `{prefix_}{sk|pk|ck|rk}_{test|live}_{43 random base62}{6 checksum base62}`. */
  generate(type: KeyType, mode: Mode): string
  /** Shape and checksum check: pure, no I/O, so a mistyped key never reaches the store. */
  parse(input: string): KeyParseResult
}

/** Throws a `TypeError` for a product prefix that could be confused with a key part. */
export function assertProductPrefix(prefix: string): void {
  if (!PRODUCT_PREFIX.test(prefix) || RESERVED_PREFIXES.has(prefix)) {
    throw new TypeError(
      `keyPrefix must be 2-16 lowercase letters or digits, start with a letter and not be sk, pk, ck, rk, test or live (got ${JSON.stringify(prefix)})`,
    )
  }
}

export function createKeyFormat(productPrefix?: string): KeyFormat {
  if (productPrefix !== undefined) assertProductPrefix(productPrefix)
  const lead = productPrefix === undefined ? '' : `${productPrefix}_`
  const bodyLength = KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH
  const shape = new RegExp(`^${lead}(sk|pk|ck|rk)_(test|live)_[0-9A-Za-z]{${bodyLength}}$`)
  const maxLength = lead.length + 'sk_test_'.length + bodyLength

  return {
    head: (type, mode) => `${lead}${TYPE_TAG[type]}_${mode}`,
    generate(type, mode) {
      const payload = `${lead}${TYPE_TAG[type]}_${mode}_${randomBase62(KEY_RANDOM_LENGTH)}`
      return payload + encodeBase62Fixed(crc32(payload), KEY_CHECKSUM_LENGTH)
    },
    parse(input) {
      if (input.length > maxLength) return { ok: false, reason: 'malformed' }
      const match = shape.exec(input)
      if (match === null) return { ok: false, reason: 'malformed' }
      const split = input.length - KEY_CHECKSUM_LENGTH
      const expected = encodeBase62Fixed(crc32(input.slice(0, split)), KEY_CHECKSUM_LENGTH)
      if (expected !== input.slice(split)) return { ok: false, reason: 'checksum' }
      return { ok: true, type: TAG_TYPE[match[1] as string] as KeyType, mode: match[2] as Mode }
    },
  }
}
