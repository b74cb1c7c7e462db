/** The flags that limit a publishable key to web origins or mobile apps, and how records show them. */
import type { AndroidApp, ClientRestrictionsInput } from '../core/client-restrictions.js'
import type { KeyRecord } from '../core/records.js'
import { UsageError } from './errors.js'
import type { Values } from './options.js'

const KIND_FLAGS = ['--allow-origin', '--allow-android-app', '--allow-ios-bundle'] as const

/**
 * `--allow-android-app com.example.shop:AB:CD:…` as an app. A fingerprint is colon-separated
 * hex and a package name never holds a colon, so the first colon is the separator. The gate
 * checks both parts (and says which entry is wrong).
 */
export function androidAppFrom(flag: string): AndroidApp {
  const colon = flag.indexOf(':')
  if (colon <= 0 || colon === flag.length - 1) {
    throw new UsageError(
      `--allow-android-app takes <package>:<sha256 fingerprint>, e.g. --allow-android-app com.example.shop:AB:CD:…:EF (got ${JSON.stringify(flag)})`,
    )
  }
  return { packageName: flag.slice(0, colon), sha256CertFingerprint: flag.slice(colon + 1) }
}

/**
 * The client restriction the flags give: none of them, nothing; one kind, that kind; with
 * `clearing` (`keys update --clear-restrictions`), an empty list, which lifts the restriction.
 * Two kinds, or a kind with --clear-restrictions, is a usage error: a key has one kind at most.
 */
export function clientRestrictionsFrom(values: Values, clearing = false): ClientRestrictionsInput {
  const given = KIND_FLAGS.filter((flag) => values[flagName(flag)] !== undefined)
  if (given.length > 1) {
    throw new UsageError(
      `a key is limited to one kind of client at most: give ${given.join(' or ')}, not both`,
    )
  }
  if (clearing) {
    if (given.length > 0) throw new UsageError(`give ${given[0]} or --clear-restrictions, not both`)
    // Any one of the three, empty, lifts whichever kind the key has.
    return { allowedOrigins: [] }
  }
  const origins = values['allow-origin']
  if (origins !== undefined) return { allowedOrigins: origins }
  const apps = values['allow-android-app']
  if (apps !== undefined) return { allowedAndroidApps: apps.map(androidAppFrom) }
  const bundles = values['allow-ios-bundle']
  if (bundles !== undefined) return { allowedIosBundleIds: bundles }
  return {}
}

function flagName(flag: (typeof KIND_FLAGS)[number]) {
  return flag.slice(2) as 'allow-origin' | 'allow-android-app' | 'allow-ios-bundle'
}

/** The restriction as `kind=entry,entry` for one-line listings; '' when there is none. */
export function restrictionPart(record: KeyRecord): string {
  if (record.allowedOrigins.length > 0) return `origins=${record.allowedOrigins.join(',')}`
  if (record.allowedAndroidApps.length > 0) {
    return `android=${record.allowedAndroidApps.map(formatAndroidApp).join(',')}`
  }
  if (record.allowedIosBundleIds.length > 0) return `ios=${record.allowedIosBundleIds.join(',')}`
  return ''
}

/** The `keys get` row of a publishable key: what it is limited to, or `any`. */
export function restrictionRow(record: KeyRecord): [string, string] {
  if (record.allowedOrigins.length > 0) {
    return ['allowed origins', record.allowedOrigins.join(', ')]
  }
  if (record.allowedAndroidApps.length > 0) {
    return ['allowed Android apps', record.allowedAndroidApps.map(formatAndroidApp).join(', ')]
  }
  if (record.allowedIosBundleIds.length > 0) {
    return ['allowed iOS apps', record.allowedIosBundleIds.join(', ')]
  }
  return ['allowed clients', 'any']
}

/** As `--allow-android-app` takes it, so it can be pasted back. */
const formatAndroidApp = (app: AndroidApp) => `${app.packageName}:${app.sha256CertFingerprint}`
