import { ConflictError, InvalidRequestError, NotFoundError } from './errors.js'
import { timingSafeEqualString } from './hashing.js'
import { newKeyId } from './ids.js'
import { checkKeyChanges } from './key-fields.js'
import type {
  CreatedKey,
  CreateKeyInput,
  ListKeysFilter,
  ProvisionedProject,
  RolledKey,
  RollKeyOptions,
  UpdateKeyInput,
} from './key-inputs.js'
import type { GateCore } from './options.js'
import { type KeyRecord, toKeyRecord } from './records.js'
import type { KeyChanges, StoredKey } from './store.js'
import type { KeyType, Mode } from './types.js'
import {
  checkClientId,
  checkDuration,
  checkFutureInstant,
  checkKeyType,
  checkMode,
  checkOpaqueId,
  checkProjectId,
} from './validate.js'

export type {
  CreatedKey,
  CreateKeyInput,
  ListKeysFilter,
  ProvisionedProject,
  RolledKey,
  RollKeyOptions,
  UpdateKeyInput,
} from './key-inputs.js'

const DEFAULT_NAMES: Readonly<Record<KeyType, string>> = {
  secret: 'Secret key',
  publishable: 'Publishable key',
  client: 'Development client key',
  restricted: 'Restricted key',
}

export function createKeyOperations(core: GateCore) {
  /** This instance's cache hears its own writes at once; others hear them through watch(). */
  const forget = (key: StoredKey) =>
    core.cache?.apply({ type: 'key', keyId: key.id, hash: key.hash })
  const view = (key: StoredKey) => toKeyRecord(key, core.usage.latest(key.id, key.lastUsedAt))

  async function mustGet(keyId: string): Promise<StoredKey> {
    checkOpaqueId(keyId, 'keyId')
    const key = await core.call(() => core.store.getKey(keyId))
    if (key === null) throw new NotFoundError(`No such key: ${keyId}`)
    return key
  }

  /** Builds a new stored key; the plaintext goes back to the caller only. */
  async function mintKey(fields: {
    projectId: string
    type: KeyType
    mode: Mode
    name: string
    allowedIps: readonly string[]
    permissions: StoredKey['permissions']
    metadata: StoredKey['metadata']
    clientRestrictions: StoredKey['clientRestrictions']
    clientId: string | null
    expiresAt: number | null
    rolledFromId: string | null
  }): Promise<{ key: string; stored: StoredKey }> {
    const id = newKeyId()
    const key = core.format.generate(fields.type, fields.mode)
    const sealedSecret =
      fields.mode === 'test' && core.sealer !== null ? await core.sealer.seal(id, key) : null
    const stored: StoredKey = {
      id,
      projectId: fields.projectId,
      type: fields.type,
      mode: fields.mode,
      name: fields.name,
      hash: core.hash(key),
      prefix: core.format.head(fields.type, fields.mode),
      last4: key.slice(-4),
      allowedIps: [...fields.allowedIps],
      permissions: fields.permissions,
      metadata: fields.metadata,
      clientRestrictions: fields.clientRestrictions,
      clientId: fields.clientId,
      createdAt: core.clock(),
      expiresAt: fields.expiresAt,
      lastUsedAt: null,
      rolledToId: null,
      rolledFromId: fields.rolledFromId,
      sealedSecret,
    }
    return { key, stored }
  }

  async function create(input: CreateKeyInput): Promise<CreatedKey> {
    if (typeof input !== 'object' || input === null)
      throw new InvalidRequestError('input is required')
    const projectId = checkProjectId(input.projectId)
    const type = checkKeyType(input.type)
    const mode = checkMode(input.mode)
    const fields = checkKeyChanges(type, input, core.resources)
    let clientId: string | null = null
    if (type === 'client') {
      if (mode !== 'test') {
        throw new InvalidRequestError('development client keys exist in test mode only', 'mode')
      }
      clientId = checkClientId(input.clientId)
    } else if (input.clientId !== undefined) {
      throw new InvalidRequestError('clientId applies to development client keys only', 'clientId')
    }
    const expiresAt = checkFutureInstant(input.expiresAt, core.clock(), 'expiresAt')
    const minted = await mintKey({
      projectId,
      type,
      mode,
      name: fields.name ?? DEFAULT_NAMES[type],
      allowedIps: fields.allowedIps ?? [],
      // A restricted key always has a grant, empty until permissions are given.
      permissions: type === 'restricted' ? (fields.permissions ?? Object.freeze({})) : null,
      metadata: fields.metadata ?? null,
      clientRestrictions: fields.clientRestrictions ?? null,
      clientId,
      expiresAt,
      rolledFromId: null,
    })
    await core.call(() => core.store.insertKey(minted.stored))
    return { key: minted.key, record: toKeyRecord(minted.stored) }
  }

  async function list(projectId: string, filter: ListKeysFilter = {}): Promise<KeyRecord[]> {
    checkProjectId(projectId)
    const mode = filter.mode === undefined ? undefined : checkMode(filter.mode, 'filter.mode')
    const type = filter.type === undefined ? undefined : checkKeyType(filter.type, 'filter.type')
    const keys = await core.call(() => core.store.listKeys(projectId))
    return keys
      .filter(
        (key) =>
          (mode === undefined || key.mode === mode) && (type === undefined || key.type === type),
      )
      .map(view)
  }

  async function get(keyId: string): Promise<KeyRecord | null> {
    checkOpaqueId(keyId, 'keyId')
    const key = await core.call(() => core.store.getKey(keyId))
    return key === null ? null : view(key)
  }

  async function roll(keyId: string, options: RollKeyOptions = {}): Promise<RolledKey> {
    const gracePeriodMs = checkDuration(
      options.gracePeriodMs ?? 0,
      core.maxGracePeriodMs,
      'gracePeriodMs',
    )
    const now = core.clock()
    const expiresAt = checkFutureInstant(options.expiresAt, now, 'expiresAt')
    const old = await mustGet(keyId)
    if (old.rolledToId !== null) {
      throw new ConflictError(
        'key_already_rolled',
        `Key ${keyId} was already rolled to ${old.rolledToId}`,
      )
    }
    // The store copies the inherited fields from the row it locks; these are only the values
    // as read a moment ago.
    const minted = await mintKey({
      projectId: old.projectId,
      type: old.type,
      mode: old.mode,
      name: old.name,
      allowedIps: old.allowedIps,
      permissions: old.permissions,
      metadata: old.metadata,
      clientRestrictions: old.clientRestrictions,
      clientId: old.clientId,
      expiresAt,
      rolledFromId: old.id,
    })
    const result = await core.call(() =>
      core.store.rollKey({
        id: old.id,
        replacement: minted.stored,
        oldExpiresAt: now + gracePeriodMs,
      }),
    )
    if (result.outcome === 'not_found') throw new NotFoundError(`No such key: ${keyId}`)
    if (result.outcome === 'already_rolled') {
      throw new ConflictError('key_already_rolled', `Key ${keyId} was already rolled`)
    }
    // Without a grace period the old key must be refused by this instance on the very next
    // request, not when the change feed gets round to it.
    forget(old)
    return {
      key: minted.key,
      record: toKeyRecord(result.replacement),
      previous: view(result.previous),
    }
  }

  async function remove(keyId: string): Promise<boolean> {
    checkOpaqueId(keyId, 'keyId')
    const key = await core.call(() => core.store.getKey(keyId))
    if (key === null) return false
    const deleted = await core.call(() => core.store.deleteKey(keyId))
    forget(key)
    return deleted
  }

  /** Applies the changes present in one atomic store write; every instance hears of it. */
  async function update(keyId: string, input: UpdateKeyInput): Promise<KeyRecord> {
    if (typeof input !== 'object' || input === null) {
      throw new InvalidRequestError(
        'changes are required: { name?, allowedIps?, permissions?, metadata?, allowedOrigins?, allowedAndroidApps?, allowedIosBundleIds? }',
      )
    }
    const key = await mustGet(keyId)
    return apply(key, checkKeyChanges(key.type, input, core.resources))
  }

  async function apply(key: StoredKey, changes: KeyChanges): Promise<KeyRecord> {
    if (Object.keys(changes).length === 0) {
      throw new InvalidRequestError(
        'nothing to change: give name, allowedIps, permissions, metadata, allowedOrigins, allowedAndroidApps or allowedIosBundleIds',
      )
    }
    const updated = await core.call(() => core.store.updateKey(key.id, changes))
    forget(key)
    if (updated === null) throw new NotFoundError(`No such key: ${key.id}`)
    return view(updated)
  }

  async function setAllowedIps(keyId: string, allowedIps: readonly string[]): Promise<KeyRecord> {
    // Checked before the lookup, as before: a bad list is refused without a store call.
    checkKeyChanges('secret', { allowedIps }, core.resources)
    const key = await mustGet(keyId)
    return apply(key, checkKeyChanges(key.type, { allowedIps }, core.resources))
  }

  async function reveal(keyId: string): Promise<string> {
    const key = await mustGet(keyId)
    if (key.mode === 'live') {
      throw new ConflictError(
        'key_not_revealable',
        'Live keys are never revealable; roll the key to get a new one.',
      )
    }
    if (core.sealer === null) {
      throw new ConflictError(
        'key_not_revealable',
        'Revealing test keys needs the revealKey option.',
      )
    }
    if (key.sealedSecret === null) {
      throw new ConflictError(
        'key_not_revealable',
        'This key was created before revealKey was configured.',
      )
    }
    let plaintext: string
    try {
      plaintext = await core.sealer.open(key.id, key.sealedSecret)
    } catch {
      throw new ConflictError('key_not_revealable', 'This key was sealed with another revealKey.')
    }
    if (!timingSafeEqualString(core.hash(plaintext), key.hash)) {
      throw new ConflictError(
        'key_not_revealable',
        'The stored ciphertext does not match this key.',
      )
    }
    return plaintext
  }

  async function provision(projectId: string): Promise<ProvisionedProject> {
    checkProjectId(projectId)
    const existing = await core.call(() => core.store.listKeys(projectId))
    if (existing.length > 0) {
      throw new ConflictError(
        'project_exists',
        `Project ${projectId} already has ${existing.length} keys`,
      )
    }
    const make = (type: KeyType, mode: Mode) => create({ projectId, type, mode })
    return {
      projectId,
      test: {
        secretKey: await make('secret', 'test'),
        publishableKey: await make('publishable', 'test'),
      },
      live: {
        secretKey: await make('secret', 'live'),
        publishableKey: await make('publishable', 'live'),
      },
    }
  }

  return {
    keys: { create, list, get, roll, update, delete: remove, setAllowedIps, reveal },
    projects: { provision },
  }
}
