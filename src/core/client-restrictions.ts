import { InvalidRequestError } from './errors.js'
import { canonicalOriginPattern } from './origins.js'

/** An Android app a publishable key may be used from: its package and signing certificate. */
export interface AndroidApp {
  /** e.g. `com.example.shop`. */
  readonly packageName: string
  /** SHA-256 of the signing certificate: 32 bytes as hex, `AB:CD:…` (colons optional). */
  readonly sha256CertFingerprint: string
}

/**
 * What a publishable key is limited to, as stored: at most one kind per key (Google's rule).
 * These are abuse and billing controls, not authentication: outside a browser, headers can be
 * forged.
 */
export type ClientRestrictions =
  | { readonly kind: 'origins'; readonly origins: readonly string[] }
  | { readonly kind: 'android'; readonly apps: readonly AndroidApp[] }
  | { readonly kind: 'ios'; readonly bundleIds: readonly string[] }

/** The three inputs of `keys.create` and `keys.update`; at most one may be given. */
export interface ClientRestrictionsInput {
  allowedOrigins?: readonly string[]
  allowedAndroidApps?: readonly AndroidApp[]
  allowedIosBundleIds?: readonly string[]
}

/** Most entries one restriction may list. */
export const MAX_RESTRICTION_ENTRIES = 100

const PACKAGE_NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/
const BUNDLE_ID = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/
const FINGERPRINT = /^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$/

/** A fingerprint in its canonical form: uppercase hex pairs joined by colons. */
export function canonicalFingerprint(value: string): string {
  const hex = value.replace(/:/g, '').toUpperCase()
  return hex.match(/../g)?.join(':') ?? hex
}

function list(value: unknown, param: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new InvalidRequestError(`${param} must be an array`, param)
  if (value.length > MAX_RESTRICTION_ENTRIES) {
    throw new InvalidRequestError(
      `${param} may list at most ${MAX_RESTRICTION_ENTRIES} entries`,
      param,
    )
  }
  return value
}

/**
 * The client restriction given to `keys.create` or `keys.update`: `undefined` when none of the
 * three inputs is present, `null` for an empty list (no restriction), else the one kind,
 * canonical and deduplicated. Two kinds at once, or a bad entry, is `invalid_request` naming it.
 */
export function checkClientRestrictions(
  input: ClientRestrictionsInput,
): ClientRestrictions | null | undefined {
  const given = (['allowedOrigins', 'allowedAndroidApps', 'allowedIosBundleIds'] as const).filter(
    (field) => input[field] !== undefined,
  )
  if (given.length === 0) return undefined
  if (given.length > 1) {
    throw new InvalidRequestError(
      `a key is limited to one kind of client at most: give only one of ${given.join(', ')}`,
      given[1],
    )
  }
  const field = given[0] as (typeof given)[number]
  const entries = list(input[field], field)
  if (entries.length === 0) return null
  switch (field) {
    case 'allowedOrigins':
      return Object.freeze({
        kind: 'origins',
        origins: Object.freeze([
          ...new Set(entries.map((entry, i) => canonicalOriginPattern(entry, `${field}[${i}]`))),
        ]),
      })
    case 'allowedAndroidApps':
      return Object.freeze({
        kind: 'android',
        apps: Object.freeze(entries.map((entry, i) => checkAndroidApp(entry, `${field}[${i}]`))),
      })
    case 'allowedIosBundleIds':
      return Object.freeze({
        kind: 'ios',
        // Bundle ids are compared case-insensitively, so duplicates are too.
        bundleIds: Object.freeze([
          ...new Map(
            entries.map((entry, i) => {
              if (typeof entry !== 'string' || entry.length > 155 || !BUNDLE_ID.test(entry)) {
                throw new InvalidRequestError(
                  `${field}[${i}]: ${JSON.stringify(entry)} is not an iOS bundle identifier (com.example.app)`,
                  `${field}[${i}]`,
                )
              }
              return [entry.toLowerCase(), entry] as const
            }),
          ).values(),
        ]),
      })
  }
}

function checkAndroidApp(entry: unknown, param: string): AndroidApp {
  const app = entry as Partial<Record<keyof AndroidApp, unknown>> | null
  if (typeof app !== 'object' || app === null) {
    throw new InvalidRequestError(`${param} must be { packageName, sha256CertFingerprint }`, param)
  }
  const { packageName, sha256CertFingerprint } = app
  if (
    typeof packageName !== 'string' ||
    packageName.length > 255 ||
    !PACKAGE_NAME.test(packageName)
  ) {
    throw new InvalidRequestError(
      `${param}.packageName: ${JSON.stringify(packageName)} is not an Android package name (com.example.app)`,
      `${param}.packageName`,
    )
  }
  if (typeof sha256CertFingerprint !== 'string' || !FINGERPRINT.test(sha256CertFingerprint)) {
    throw new InvalidRequestError(
      `${param}.sha256CertFingerprint must be the SHA-256 of the signing certificate: 32 bytes as hex (AB:CD:…)`,
      `${param}.sha256CertFingerprint`,
    )
  }
  return Object.freeze({
    packageName,
    sha256CertFingerprint: canonicalFingerprint(sha256CertFingerprint),
  })
}

/** The three record fields a restriction shows as: only its own kind non-empty. */
export function restrictionFields(restrictions: ClientRestrictions | null): {
  readonly allowedOrigins: readonly string[]
  readonly allowedAndroidApps: readonly AndroidApp[]
  readonly allowedIosBundleIds: readonly string[]
} {
  return {
    allowedOrigins: restrictions?.kind === 'origins' ? restrictions.origins : [],
    allowedAndroidApps: restrictions?.kind === 'android' ? restrictions.apps : [],
    allowedIosBundleIds: restrictions?.kind === 'ios' ? restrictions.bundleIds : [],
  }
}
