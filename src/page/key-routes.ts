import type { AndroidApp } from '../core/client-restrictions.js'
import { NotFoundError } from '../core/errors.js'
import type { CreateKeyInput, UpdateKeyInput } from '../core/keys.js'
import type { Portcullis } from '../core/portcullis.js'
import type { KeyRecord } from '../core/records.js'
import type { Mode } from '../core/types.js'
import { MAX_KEY_NAME_LENGTH } from '../core/validate.js'
import type { OperatorEvent, OperatorRoute, OperatorTarget, RouteInput } from '../operator/route.js'
import type { ObjectSchema } from '../operator/schema.js'
import {
  allowedIps,
  clientRestrictionInputs,
  ID,
  mode,
  permissionsInput,
  projectId,
} from '../operator/shapes.js'

/*
 * The page's key routes, run by the operator dispatcher. Their paths start with the project
 * the page's `authorize` granted, which the page puts there itself (see page-api.ts): the
 * browser never names a project. A key id from the browser is looked up first, and a key of
 * another project (or a development client key, which the page does not manage) is 404, as
 * if it did not exist.
 */

/** The key types the page shows and creates. */
export const PAGE_KEY_TYPES = ['secret', 'restricted', 'publishable'] as const

/** A key as the page shows it: the record without its project, client id or metadata. */
export interface PageKey {
  readonly id: string
  readonly type: KeyRecord['type']
  readonly mode: Mode
  readonly name: string
  readonly redacted: string
  readonly allowedIps: readonly string[]
  readonly allowedOrigins: readonly string[]
  readonly allowedAndroidApps: readonly AndroidApp[]
  readonly allowedIosBundleIds: readonly string[]
  readonly permissions: KeyRecord['permissions']
  readonly createdAt: number
  readonly expiresAt: number | null
  readonly lastUsedAt: number | null
  readonly rolledToId: string | null
  readonly revealable: boolean
}

/**
 * Metadata is the platform's data about a key, not the customer's: the page never sends it.
 * Fields are copied by name, so a field added to records later is not shown until chosen here.
 */
export function toPageKey(record: KeyRecord): PageKey {
  return {
    id: record.id,
    type: record.type,
    mode: record.mode,
    name: record.name,
    redacted: record.redacted,
    allowedIps: record.allowedIps,
    allowedOrigins: record.allowedOrigins,
    allowedAndroidApps: record.allowedAndroidApps,
    allowedIosBundleIds: record.allowedIosBundleIds,
    permissions: record.permissions,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastUsedAt: record.lastUsedAt,
    rolledToId: record.rolledToId,
    revealable: record.revealable && record.mode === 'test',
  }
}

const isPageKeyType = (type: string): boolean =>
  (PAGE_KEY_TYPES as readonly string[]).includes(type)

export const projectParams: ObjectSchema = {
  type: 'object',
  properties: { projectId },
  required: ['projectId'],
}
const keyParams: ObjectSchema = {
  type: 'object',
  properties: { projectId, keyId: ID('key') },
  required: ['projectId', 'keyId'],
}
const keySchema = { type: 'object', properties: {}, additionalProperties: true } as const

function keyEvent(type: OperatorEvent['type'], record: KeyRecord, at: number): OperatorEvent[] {
  return [{ type, projectId: record.projectId, mode: record.mode, keyId: record.id, at }]
}

/** The key routes of the page: list, create, roll, reveal, change restrictions, delete. */
export function pageKeyOperations(gate: Portcullis): OperatorRoute[] {
  const now = gate.clock
  /** The key, if it is one of the granted project's page keys; 404 otherwise, whoever owns it. */
  const ownKey = async ({ params }: RouteInput): Promise<KeyRecord> => {
    const keyId = params.keyId as string
    const record = await gate.keys.get(keyId)
    if (record === null || record.projectId !== params.projectId || !isPageKeyType(record.type)) {
      throw new NotFoundError(`No such key: ${keyId}`)
    }
    return record
  }
  const keyTarget = async (input: RouteInput): Promise<Omit<OperatorTarget, 'operationId'>> => {
    const record = await ownKey(input)
    return { projectId: record.projectId, mode: record.mode, keyId: record.id }
  }
  const keyRoute = {
    tag: 'API keys page',
    access: 'operator',
    params: keyParams,
    target: keyTarget,
  } as const
  return [
    {
      operationId: 'listKeys',
      method: 'GET',
      path: '/{projectId}/keys',
      summary: "The project's keys in one mode",
      tag: 'API keys page',
      access: 'operator',
      params: projectParams,
      query: { type: 'object', properties: { mode }, required: ['mode'] },
      target: ({ params, query }) => ({
        projectId: params.projectId as string,
        mode: query.mode as Mode,
      }),
      response: { status: 200, description: 'The keys', schema: keySchema },
      async handle({ params, query }) {
        const records = await gate.keys.list(params.projectId as string, {
          mode: query.mode as Mode,
        })
        const data = records.filter((record) => isPageKeyType(record.type)).map(toPageKey)
        return { body: { data, now: now() }, events: [] }
      },
    },
    {
      operationId: 'createKey',
      method: 'POST',
      path: '/{projectId}/keys',
      summary: 'Create a secret, restricted or publishable key (shown once)',
      tag: 'API keys page',
      access: 'operator',
      params: projectParams,
      body: {
        type: 'object',
        properties: {
          type: { type: 'string', enum: PAGE_KEY_TYPES },
          mode,
          name: { type: 'string', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH },
          allowedIps,
          permissions: permissionsInput(gate.resources),
          ...clientRestrictionInputs,
        },
        required: ['type', 'mode'],
      },
      target: ({ params, body }) => ({
        projectId: params.projectId as string,
        mode: body.mode as Mode,
      }),
      response: { status: 201, description: 'The key, shown only here', schema: keySchema },
      async handle({ params, body }) {
        // The body holds only what its schema names: type, mode, name, allowedIps, permissions
        // and the client restrictions, each of the shape gate.keys.create takes.
        const input = { ...body, projectId: params.projectId } as unknown as CreateKeyInput
        const created = await gate.keys.create(input)
        return {
          body: { key: created.key, record: toPageKey(created.record) },
          events: keyEvent('key.created', created.record, created.record.createdAt),
        }
      },
    },
    {
      ...keyRoute,
      operationId: 'rollKey',
      method: 'POST',
      path: '/{projectId}/keys/{keyId}/roll',
      summary: 'Roll a key; the old one stops now or after the grace period',
      body: {
        type: 'object',
        properties: {
          gracePeriodMs: { type: 'integer', minimum: 0, maximum: gate.limits.maxGracePeriodMs },
        },
        required: ['gracePeriodMs'],
      },
      response: { status: 200, description: 'The new key (shown only here)', schema: keySchema },
      async handle({ params, body }) {
        const rolled = await gate.keys.roll(params.keyId as string, {
          gracePeriodMs: body.gracePeriodMs as number,
        })
        return {
          body: {
            key: rolled.key,
            record: toPageKey(rolled.record),
            previous: toPageKey(rolled.previous),
          },
          events: keyEvent('key.rolled', rolled.previous, now()),
        }
      },
    },
    {
      ...keyRoute,
      operationId: 'revealKey',
      method: 'POST',
      path: '/{projectId}/keys/{keyId}/reveal',
      summary: 'Show a test key again',
      response: { status: 200, description: 'The key', schema: keySchema },
      async handle(input) {
        const record = await ownKey(input)
        const key = await gate.keys.reveal(record.id)
        return { body: { id: record.id, key }, events: keyEvent('key.revealed', record, now()) }
      },
    },
    {
      ...keyRoute,
      operationId: 'updateKey',
      method: 'PATCH',
      path: '/{projectId}/keys/{keyId}',
      summary:
        "Replace a secret or restricted key's IP allowlist, or a publishable key's client restriction",
      body: {
        type: 'object',
        properties: { allowedIps, ...clientRestrictionInputs },
        minProperties: 1,
      },
      response: { status: 200, description: 'The updated key', schema: keySchema },
      async handle({ params, body }) {
        const record = await gate.keys.update(params.keyId as string, body as UpdateKeyInput)
        return { body: toPageKey(record), events: keyEvent('key.updated', record, now()) }
      },
    },
    {
      ...keyRoute,
      operationId: 'deleteKey',
      method: 'DELETE',
      path: '/{projectId}/keys/{keyId}',
      summary: 'Delete a key; it stops working at once',
      response: { status: 200, description: 'Deleted', schema: keySchema },
      async handle(input) {
        const record = await ownKey(input)
        if (!(await gate.keys.delete(record.id)))
          throw new NotFoundError(`No such key: ${record.id}`)
        return {
          body: { id: record.id, deleted: true },
          events: keyEvent('key.deleted', record, now()),
        }
      },
    },
  ]
}
