import { MAX_RESTRICTION_ENTRIES } from '../core/client-restrictions.js'
import { MAX_ALLOWLIST_ENTRIES } from '../core/ip.js'
import { MAX_METADATA_BYTES } from '../core/metadata.js'
import { CLIENT_SESSIONS } from '../core/permissions.js'
import { KEY_TYPES, MODES } from '../core/types.js'
import { MAX_CLIENT_ID_LENGTH, opaqueIdPattern, PROJECT_ID } from '../core/validate.js'
import type { ObjectSchema, Schema } from './schema.js'

/* The schemas the operator routes validate with and the OpenAPI document shows. */

/** An id the library issues, with the pattern the core checks it against. */
export const ID = (prefix: string): Schema => ({
  type: 'string',
  pattern: opaqueIdPattern(prefix),
})
export const projectId: Schema = {
  type: 'string',
  pattern: PROJECT_ID.source,
  description: 'Your identifier of the project (customer).',
}
export const clientId: Schema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_CLIENT_ID_LENGTH,
  description: 'Your identifier of the end user. The same id in test and live mode is two clients.',
}
export const mode: Schema = { type: 'string', enum: [...MODES] }
export const keyType: Schema = { type: 'string', enum: [...KEY_TYPES] }
export const epochMs = (description: string): Schema => ({
  type: 'integer',
  minimum: 0,
  nullable: true,
  description,
})
export const allowedIps: Schema = {
  type: 'array',
  items: { type: 'string', maxLength: 64 },
  maxItems: MAX_ALLOWLIST_ENTRIES,
  description:
    'IPv4/IPv6 addresses and CIDR ranges. Empty: no restriction. Secret and restricted keys only.',
}

/*
 * A publishable key's client restriction: one kind at most. The schemas check only the shape;
 * the core checks each entry (and that only one kind is given), naming it in `param`
 * (`allowedOrigins[1]`, `allowedAndroidApps[0].sha256CertFingerprint`), so one rule, one message.
 */
const ONE_KIND =
  'Publishable keys only, and one kind of client at most (allowedOrigins, allowedAndroidApps or allowedIosBundleIds). An abuse and billing control, not authentication.'
export const allowedOrigins: Schema = {
  type: 'array',
  items: {
    type: 'string',
    description:
      'scheme://host[:port]: https://app.example.com, https://*.example.com (each * is exactly one label), http://localhost:* (any port). No path, query or user.',
  },
  maxItems: MAX_RESTRICTION_ENTRIES,
  description: `Web origins the key may be used from, matched against the Origin header (else the origin of Referer). A request from any other origin, or naming none, gets 403 origin_not_allowed. ${ONE_KIND}`,
}
export const androidApp: ObjectSchema = {
  type: 'object',
  properties: {
    packageName: { type: 'string', description: 'e.g. com.example.shop' },
    sha256CertFingerprint: {
      type: 'string',
      description:
        'SHA-256 of the signing certificate: 32 bytes as hex, with or without colons (AB:CD:…); shown uppercase with colons.',
    },
  },
  required: ['packageName', 'sha256CertFingerprint'],
}
export const allowedAndroidApps: Schema = {
  type: 'array',
  items: androidApp,
  maxItems: MAX_RESTRICTION_ENTRIES,
  description: `Android apps the key may be used from, matched against the X-Android-Package and X-Android-Cert headers (names configurable: appHeaders). Any other app gets 403 app_not_allowed. ${ONE_KIND}`,
}
export const allowedIosBundleIds: Schema = {
  type: 'array',
  items: { type: 'string', description: 'e.g. com.example.shop' },
  maxItems: MAX_RESTRICTION_ENTRIES,
  description: `iOS bundle identifiers the key may be used from, matched against the X-Ios-Bundle-Identifier header (name configurable: appHeaders). Any other app gets 403 app_not_allowed. ${ONE_KIND}`,
}
/** The three as given to create and PATCH: an empty list lifts the restriction. */
export const clientRestrictionInputs: Readonly<Record<string, Schema>> = {
  allowedOrigins: {
    ...allowedOrigins,
    description: `${allowedOrigins.description} Empty: not limited.`,
  },
  allowedAndroidApps: {
    ...allowedAndroidApps,
    description: `${allowedAndroidApps.description} Empty: not limited.`,
  },
  allowedIosBundleIds: {
    ...allowedIosBundleIds,
    description: `${allowedIosBundleIds.description} Empty: not limited.`,
  },
}

/**
 * A restricted key's permissions as given: resource → level. Which resources exist is the
 * gate's (its catalog), checked by the core with `param` naming `permissions.<resource>`.
 */
export const permissionsInput = (resources: readonly string[]): Schema => ({
  type: 'object',
  properties: {},
  additionalProperties: { type: 'string', enum: ['none', 'read', 'write'] },
  description: `Restricted keys only: resource → "none" | "read" | "write" (write implies read; an omitted resource is none). Resources: ${resources.join(', ')}.`,
})
/** A restricted key's grants as recorded: only what was granted. */
export const permissions: Schema = {
  type: 'object',
  properties: {},
  additionalProperties: { type: 'string', enum: ['read', 'write'] },
  nullable: true,
  description: `A restricted key's grants, resource → "read" | "write" (absent: none; ${CLIENT_SESSIONS} is built in); null for every other type.`,
}
/** Free-form: the core checks the size and that it is plain JSON data. */
export const metadata: Schema = {
  type: 'object',
  properties: {},
  additionalProperties: true,
  description: `Your data about the key: a JSON object of at most ${MAX_METADATA_BYTES} bytes, stored and returned, never interpreted.`,
}
export const metadataInput: Schema = {
  ...metadata,
  nullable: true,
  description: `${metadata.description} null: none.`,
}

export const clientBody: ObjectSchema = {
  type: 'object',
  properties: { clientId },
  required: ['clientId'],
}
export const keyIdParams: ObjectSchema = {
  type: 'object',
  properties: { keyId: ID('key') },
  required: ['keyId'],
}

export const keyRecord: Schema = {
  type: 'object',
  description: 'A key as listed: never the secret.',
  properties: {
    id: ID('key'),
    projectId,
    type: keyType,
    mode,
    livemode: { type: 'boolean' },
    name: { type: 'string' },
    redacted: { type: 'string', description: 'Non-secret head and last four characters.' },
    allowedIps,
    permissions,
    metadata,
    allowedOrigins: {
      ...allowedOrigins,
      description:
        'Publishable keys: the web origins it is limited to (any other gets 403 origin_not_allowed); empty when not limited to origins.',
    },
    allowedAndroidApps: {
      ...allowedAndroidApps,
      description:
        'Publishable keys: the Android apps it is limited to (any other gets 403 app_not_allowed); empty when not limited to Android apps.',
    },
    allowedIosBundleIds: {
      ...allowedIosBundleIds,
      description:
        'Publishable keys: the iOS bundle ids it is limited to (any other gets 403 app_not_allowed); empty when not limited to iOS apps.',
    },
    clientId: { type: 'string' },
    createdAt: epochMs('Creation time, epoch ms.'),
    expiresAt: epochMs('When the key stops working, epoch ms; null = never.'),
    lastUsedAt: epochMs('Last authentication (batched), epoch ms.'),
    rolledToId: { type: 'string' },
    rolledFromId: { type: 'string' },
    revealable: { type: 'boolean' },
  },
}
export const createdKey: Schema = {
  type: 'object',
  properties: {
    key: { type: 'string', description: 'The key itself, shown only in this response.' },
    record: keyRecord,
  },
}
export const clientSession: Schema = {
  type: 'object',
  properties: {
    clientId,
    clientSessionToken: { type: 'string', description: 'The CST to hand to the end user.' },
    expiresAt: epochMs('Idle expiry, epoch ms; each authenticated use moves it.'),
    maxExpiresAt: epochMs('Absolute cap, epoch ms.'),
    livemode: { type: 'boolean' },
  },
}
