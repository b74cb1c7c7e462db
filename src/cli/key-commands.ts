/** `portcullis keys …`: one entry per command; a key's secret is printed only when created or revealed. */
import { ConflictError, isPortcullisError, NotFoundError } from '../core/errors.js'
import type { UpdateKeyInput } from '../core/keys.js'
import type { KeyRecord } from '../core/records.js'
import type { KeyType, Mode } from '../core/types.js'
import type { CommandInput, Commands } from './command.js'
import { formatDuration, parseDuration } from './durations.js'
import { UsageError } from './errors.js'
import { formatMetadata, formatPermissions, metadataFrom, permissionsFrom } from './key-flags.js'
import { need, parseInstant } from './options.js'
import { iso, table } from './output.js'
import { clientRestrictionsFrom, restrictionPart, restrictionRow } from './restriction-flags.js'

export const KEY_COMMANDS: Commands = {
  async 'keys create'({ gate, values, print, env }) {
    const created = await gate.keys.create({
      projectId: need(values.project, '--project'),
      type: need(values.type, '--type') as KeyType,
      mode: need(values.mode, '--mode') as Mode,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(values['allow-ip'] === undefined ? {} : { allowedIps: values['allow-ip'] }),
      ...(values.permission === undefined
        ? {}
        : { permissions: permissionsFrom(values.permission, gate.resources, env) }),
      ...(values.metadata === undefined ? {} : { metadata: metadataFrom(values.metadata) }),
      ...clientRestrictionsFrom(values),
      ...(values['expires-at'] === undefined
        ? {}
        : { expiresAt: parseInstant(values['expires-at'], '--expires-at') }),
      ...(values['client-id'] === undefined ? {} : { clientId: values['client-id'] }),
    })
    print(`${keyLine(created.record)}\n${created.key}`, created)
  },

  async 'keys update'({ gate, values, args, print, env }) {
    const keyId = need(args[2], '<keyId>')
    const record = await gate.keys.update(keyId, changesFrom({ gate, values, env }))
    print(keyLine(record), record)
  },

  async 'keys list'({ gate, values, print }) {
    const records = await gate.keys.list(need(values.project, '--project'), {
      ...(values.mode === undefined ? {} : { mode: values.mode as Mode }),
      ...(values.type === undefined ? {} : { type: values.type as KeyType }),
    })
    print(records.length === 0 ? '(no keys)' : records.map(keyLine).join('\n'), records)
  },

  async 'keys get'({ gate, args, print }) {
    const keyId = need(args[2], '<keyId>')
    const record = await gate.keys.get(keyId)
    if (record === null) throw new NotFoundError(`No such key: ${keyId}`)
    const rows = [
      ['id', record.id],
      ['key', record.redacted],
      ['project', record.projectId],
      ['mode', record.mode],
      ['type', record.type],
      ['name', JSON.stringify(record.name)],
      ...(record.clientId === null ? [] : [['client', record.clientId]]),
      ['allowed IPs', record.allowedIps.length === 0 ? 'any' : record.allowedIps.join(', ')],
      ...(record.permissions === null
        ? []
        : [['permissions', formatPermissions(record.permissions)]]),
      ...(record.type === 'publishable' ? [restrictionRow(record)] : []),
      ['metadata', formatMetadata(record.metadata)],
      ['created', iso(record.createdAt)],
      ['expires', iso(record.expiresAt)],
      ['last used', iso(record.lastUsedAt)],
      ...(record.rolledFromId === null ? [] : [['rolled from', record.rolledFromId]]),
      ...(record.rolledToId === null ? [] : [['rolled to', record.rolledToId]]),
      ['revealable', record.revealable ? 'yes' : 'no'],
    ]
    print(table(rows), record)
  },

  async 'keys roll'({ gate, values, args, print }) {
    const keyId = need(args[2], '<keyId>')
    let gracePeriodMs = 0
    if (values.grace !== undefined) {
      const grace = parseDuration(values.grace, '--grace')
      const max = gate.limits.maxGracePeriodMs
      if (grace.ms > max)
        throw new UsageError(`--grace must be at most ${formatDuration(max, grace.unit)}`)
      gracePeriodMs = grace.ms
    }
    const rolled = await gate.keys.roll(keyId, { gracePeriodMs })
    const until = rolled.previous.expiresAt
    const old =
      until !== null && until > Date.now()
        ? `the old key ${rolled.previous.id} works until ${iso(until)}`
        : `the old key ${rolled.previous.id} stopped working`
    // The new key last, as `keys create` prints it, so `| tail -n 1` gets it from either.
    print(`${keyLine(rolled.record)}\n${old}\n${rolled.key}`, rolled)
  },

  async 'keys delete'({ gate, args, print }) {
    const keyId = need(args[2], '<keyId>')
    if (!(await gate.keys.delete(keyId))) {
      throw new NotFoundError(`No such key: ${keyId}`)
    }
    print(`deleted ${keyId}`, { id: keyId, deleted: true })
  },

  async 'keys allow-ip'({ gate, values, args, print }) {
    const ranges = args.slice(3)
    if (values.clear !== true && ranges.length === 0)
      throw new UsageError('give the addresses or ranges, or --clear')
    if (values.clear === true && ranges.length > 0)
      throw new UsageError('--clear takes no addresses')
    const record = await gate.keys.setAllowedIps(need(args[2], '<keyId>'), ranges)
    print(keyLine(record), record)
  },

  async 'keys reveal'({ gate, args, print, env }) {
    const keyId = need(args[2], '<keyId>')
    // The core speaks of its revealKey option; here that option is an environment variable.
    const record = await gate.keys.get(keyId)
    if (record === null) throw new NotFoundError(`No such key: ${keyId}`)
    if (record.mode === 'test' && !record.revealable) {
      throw new ConflictError(
        'key_not_revealable',
        `Key ${keyId} was created or rolled without a reveal key, so it cannot be shown again; roll it with PORTCULLIS_REVEAL_KEY set to get one that can.`,
      )
    }
    if (record.mode === 'test' && env.PORTCULLIS_REVEAL_KEY === undefined) {
      throw new ConflictError(
        'key_not_revealable',
        'Revealing a test key needs PORTCULLIS_REVEAL_KEY: set it to the revealKey your application uses.',
      )
    }
    let key: string
    try {
      key = await gate.keys.reveal(keyId)
    } catch (error) {
      if (
        record.mode === 'test' &&
        isPortcullisError(error) &&
        error.code === 'key_not_revealable'
      ) {
        throw new ConflictError(
          'key_not_revealable',
          `${error.message} PORTCULLIS_REVEAL_KEY must be the revealKey your application uses.`,
        )
      }
      throw error
    }
    print(key, { id: keyId, key })
  },
}

/**
 * What `keys update` changes, from its flags: only those given. Refuses contradictory flags
 * and an update that would change nothing.
 */
function changesFrom({
  gate,
  values,
  env,
}: Pick<CommandInput, 'gate' | 'values' | 'env'>): UpdateKeyInput {
  if (values.permission !== undefined && values['clear-permissions'] === true) {
    throw new UsageError('give --permission or --clear-permissions, not both')
  }
  if (values.metadata !== undefined && values['clear-metadata'] === true) {
    throw new UsageError('give --metadata or --clear-metadata, not both')
  }
  const changes: UpdateKeyInput = {
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values['allow-ip'] === undefined ? {} : { allowedIps: values['allow-ip'] }),
    ...(values.permission === undefined
      ? {}
      : { permissions: permissionsFrom(values.permission, gate.resources, env) }),
    // The grant is replaced as a whole: an empty one leaves the key no permission at all.
    ...(values['clear-permissions'] === true ? { permissions: {} } : {}),
    ...(values.metadata === undefined ? {} : { metadata: metadataFrom(values.metadata) }),
    ...(values['clear-metadata'] === true ? { metadata: null } : {}),
    ...clientRestrictionsFrom(values, values['clear-restrictions'] === true),
  }
  if (Object.keys(changes).length === 0) {
    throw new UsageError(
      'nothing to change: give --name, --allow-ip, --permission, --clear-permissions, --metadata, --clear-metadata, --allow-origin, --allow-android-app, --allow-ios-bundle or --clear-restrictions',
    )
  }
  return changes
}

/** One key on one line: id, redacted key, mode, type, name, then what is set of the rest. */
function keyLine(record: KeyRecord): string {
  const extras = [
    record.allowedIps.length > 0 ? `ips=${record.allowedIps.join(',')}` : '',
    record.permissions === null ? '' : `permissions=${formatPermissions(record.permissions, ',')}`,
    restrictionPart(record),
    record.expiresAt === null ? '' : `expires=${iso(record.expiresAt)}`,
    record.rolledToId === null ? '' : `rolled-to=${record.rolledToId}`,
    // Last: it can be long.
    Object.keys(record.metadata).length === 0 ? '' : `metadata=${formatMetadata(record.metadata)}`,
  ].filter((part) => part !== '')
  return [
    record.id,
    record.redacted,
    record.mode,
    record.type,
    JSON.stringify(record.name),
    ...extras,
  ].join('  ')
}
