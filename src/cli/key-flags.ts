/** The flags that set a key's permissions and metadata, read into what `gate.keys` takes. */
import type { KeyMetadata } from '../core/metadata.js'
import type { PermissionLevel, Permissions, PermissionsInput } from '../core/permissions.js'
import type { Env } from './command.js'
import { UsageError } from './errors.js'

const PERMISSION_FLAG = /^([^:\s]+):(none|read|write)$/

/**
 * `--permission charges:write --permission customers:read` as a grant. Every resource must be
 * in the CLI's catalog, which is PORTCULLIS_RESOURCES (and the built-in client_sessions): the
 * message says so, where the gate would only say that no such resource exists.
 */
export function permissionsFrom(
  flags: readonly string[],
  resources: readonly string[],
  env: Env,
): PermissionsInput {
  const grant: Record<string, PermissionLevel> = {}
  for (const flag of flags) {
    const match = PERMISSION_FLAG.exec(flag)
    if (match === null) {
      throw new UsageError(
        `--permission takes <resource>:<none|read|write>, e.g. --permission charges:write (got ${JSON.stringify(flag)})`,
      )
    }
    const [, resource, level] = match as unknown as [string, string, PermissionLevel]
    if (!resources.includes(resource)) throw new UsageError(unknownResource(flag, resource, env))
    if (Object.hasOwn(grant, resource)) {
      throw new UsageError(`--permission names ${resource} twice; give each resource once`)
    }
    grant[resource] = level
  }
  return grant
}

function unknownResource(flag: string, resource: string, env: Env): string {
  const listed = env.PORTCULLIS_RESOURCES?.trim() ?? ''
  return listed === ''
    ? `--permission ${flag}: PORTCULLIS_RESOURCES is not set, so the only resource is client_sessions; set it to your application's createPortcullis({ resources }), comma-separated (e.g. PORTCULLIS_RESOURCES=charges,customers)`
    : `--permission ${flag}: ${resource} is not in PORTCULLIS_RESOURCES (${listed}); it must list your application's createPortcullis({ resources }), comma-separated`
}

/** `--metadata '{"owner":"ci"}'`: a JSON object; the gate checks its size and content. */
export function metadataFrom(text: string): KeyMetadata {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError(
      `--metadata must be a JSON object, e.g. --metadata '{"owner":"ci"}': this is not valid JSON`,
    )
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
    throw new UsageError(
      `--metadata must be a JSON object, e.g. --metadata '{"owner":"ci"}' (got ${got}; --clear-metadata removes it)`,
    )
  }
  return value as KeyMetadata
}

/** A grant as `charges:write, customers:read`; `none` when empty. */
export function formatPermissions(permissions: Permissions, separator = ', '): string {
  const entries = Object.entries(permissions).map(([resource, level]) => `${resource}:${level}`)
  return entries.length === 0 ? 'none' : entries.join(separator)
}

/** Metadata as compact JSON; `none` when empty. */
export function formatMetadata(metadata: KeyMetadata): string {
  return Object.keys(metadata).length === 0 ? 'none' : JSON.stringify(metadata)
}
