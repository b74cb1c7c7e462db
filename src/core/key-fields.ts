import { type ClientRestrictionsInput, checkClientRestrictions } from './client-restrictions.js'
import { InvalidRequestError } from './errors.js'
import { normalizeAllowlist } from './ip.js'
import { checkMetadata } from './metadata.js'
import { checkPermissions } from './permissions.js'
import type { KeyChanges } from './store.js'
import type { KeyType } from './types.js'
import { checkKeyName } from './validate.js'

/** What each type of key may carry beyond its name and metadata. */
const CARRIES: Readonly<
  Record<KeyType, { allowedIps: boolean; permissions: boolean; clientRestrictions: boolean }>
> = {
  secret: { allowedIps: true, permissions: false, clientRestrictions: false },
  restricted: { allowedIps: true, permissions: true, clientRestrictions: false },
  publishable: { allowedIps: false, permissions: false, clientRestrictions: true },
  client: { allowedIps: false, permissions: false, clientRestrictions: false },
}

/**
 * The changeable fields of a key of `type`, as given to `keys.create` or `keys.update`, checked
 * and normalised: only those present. Refuses a field the type does not carry (an allowlist on
 * a publishable key, permissions on a secret key) with `invalid_request` naming it.
 */
export function checkKeyChanges(
  type: KeyType,
  input: {
    readonly name?: unknown
    readonly allowedIps?: unknown
    readonly permissions?: unknown
    readonly metadata?: unknown
  } & Readonly<{ [Field in keyof ClientRestrictionsInput]?: unknown }>,
  resources: ReadonlySet<string>,
): KeyChanges {
  const changes: {
    -readonly [Field in keyof KeyChanges]: KeyChanges[Field]
  } = {}
  if (input.name !== undefined) changes.name = checkKeyName(input.name)
  if (input.allowedIps !== undefined) {
    const allowedIps = normalizeAllowlist(input.allowedIps as readonly string[])
    if (!CARRIES[type].allowedIps && allowedIps.length > 0) {
      throw new InvalidRequestError(
        'IP allowlists apply to secret and restricted keys only',
        'allowedIps',
      )
    }
    changes.allowedIps = allowedIps
  }
  if (input.permissions !== undefined) {
    if (!CARRIES[type].permissions) {
      throw new InvalidRequestError(
        `permissions apply to restricted keys only; a ${type} key cannot carry them`,
        'permissions',
      )
    }
    changes.permissions = checkPermissions(input.permissions, resources)
  }
  const restrictions = checkClientRestrictions(input as ClientRestrictionsInput)
  if (restrictions !== undefined) {
    if (!CARRIES[type].clientRestrictions && restrictions !== null) {
      throw new InvalidRequestError(
        `origin and app restrictions apply to publishable keys only; a ${type} key cannot carry them`,
        restrictions.kind === 'origins'
          ? 'allowedOrigins'
          : restrictions.kind === 'android'
            ? 'allowedAndroidApps'
            : 'allowedIosBundleIds',
      )
    }
    changes.clientRestrictions = restrictions
  }
  if (input.metadata !== undefined) {
    const metadata = checkMetadata(input.metadata)
    // Stored as null when empty: records show {} either way.
    changes.metadata = Object.keys(metadata).length === 0 ? null : metadata
  }
  return changes
}
