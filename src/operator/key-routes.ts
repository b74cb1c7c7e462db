import type { AndroidApp } from '../core/client-restrictions.js'
import { NotFoundError } from '../core/errors.js'
import type { CreatedKey, UpdateKeyInput } from '../core/keys.js'
import type { KeyMetadata } from '../core/metadata.js'
import type { PermissionsInput } from '../core/permissions.js'
import type { Portcullis } from '../core/portcullis.js'
import type { KeyType, Mode } from '../core/types.js'
import { MAX_KEY_NAME_LENGTH } from '../core/validate.js'
import type { OperatorEvent, OperatorRoute, OperatorTarget, RouteInput } from './route.js'
import type { Schema } from './schema.js'
import {
  allowedIps,
  clientId,
  clientRestrictionInputs,
  createdKey,
  epochMs,
  ID,
  keyIdParams,
  keyRecord,
  keyType,
  metadataInput,
  mode,
  permissionsInput,
  projectId,
} from './shapes.js'

function keyEvents(
  type: OperatorEvent['type'],
  created: CreatedKey['record'],
  at: number,
): OperatorEvent[] {
  return [{ type, projectId: created.projectId, mode: created.mode, keyId: created.id, at }]
}

/** The key-management routes a dashboard backend needs. Authorisation is the application's. */
export function keyManagementOperations(gate: Portcullis): OperatorRoute[] {
  const now = gate.clock
  const permissions = permissionsInput(gate.resources)
  const keyName: Schema = { type: 'string', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH }
  // A key id names no project: the key's own record says whose it is, so authorize can judge.
  const keyTarget = async ({
    params,
  }: RouteInput): Promise<Omit<OperatorTarget, 'operationId'>> => {
    const keyId = params.keyId as string
    const record = await gate.keys.get(keyId)
    if (record === null) throw new NotFoundError(`No such key: ${keyId}`)
    return { projectId: record.projectId, mode: record.mode, keyId: record.id }
  }
  return [
    {
      operationId: 'provisionProject',
      method: 'POST',
      path: '/projects',
      summary: 'Provision a project: its secret and publishable keys in test and live mode',
      tag: 'Keys',
      access: 'operator',
      body: { type: 'object', properties: { projectId }, required: ['projectId'] },
      // Both modes: no mode in the target.
      target: ({ body }) => ({ projectId: body.projectId as string }),
      response: {
        status: 201,
        description: 'The four keys, shown only in this response',
        schema: {
          type: 'object',
          properties: {
            projectId,
            test: {
              type: 'object',
              properties: { secretKey: createdKey, publishableKey: createdKey },
            },
            live: {
              type: 'object',
              properties: { secretKey: createdKey, publishableKey: createdKey },
            },
          },
        },
      },
      async handle({ body }) {
        const project = await gate.projects.provision(body.projectId as string)
        const events = [project.test, project.live].flatMap(({ secretKey, publishableKey }) => [
          ...keyEvents('key.created', secretKey.record, secretKey.record.createdAt),
          ...keyEvents('key.created', publishableKey.record, publishableKey.record.createdAt),
        ])
        const first = project.test.secretKey.record
        return {
          body: project,
          events: [
            {
              type: 'project.provisioned',
              projectId: first.projectId,
              mode: 'test',
              at: first.createdAt,
            },
            ...events,
          ],
        }
      },
    },
    {
      operationId: 'listKeys',
      method: 'GET',
      path: '/projects/{projectId}/keys',
      summary: "List a project's keys (never a secret)",
      tag: 'Keys',
      access: 'operator',
      params: { type: 'object', properties: { projectId }, required: ['projectId'] },
      query: { type: 'object', properties: { mode, type: keyType } },
      target: ({ params, query }) => ({
        projectId: params.projectId as string,
        ...(query.mode === undefined ? {} : { mode: query.mode as Mode }),
      }),
      response: {
        status: 200,
        description: 'The keys',
        schema: { type: 'object', properties: { data: { type: 'array', items: keyRecord } } },
      },
      async handle({ params, query }) {
        const filter: { mode?: Mode; type?: KeyType } = {}
        if (query.mode !== undefined) filter.mode = query.mode as Mode
        if (query.type !== undefined) filter.type = query.type as KeyType
        return {
          body: { data: await gate.keys.list(params.projectId as string, filter) },
          events: [],
        }
      },
    },
    {
      operationId: 'createKey',
      method: 'POST',
      path: '/projects/{projectId}/keys',
      summary: 'Create a key',
      tag: 'Keys',
      access: 'operator',
      params: { type: 'object', properties: { projectId }, required: ['projectId'] },
      body: {
        type: 'object',
        properties: {
          type: keyType,
          mode,
          name: keyName,
          allowedIps,
          permissions,
          metadata: metadataInput,
          ...clientRestrictionInputs,
          expiresAt: epochMs('When the key stops working, epoch ms.'),
          clientId,
        },
        required: ['type', 'mode'],
      },
      target: ({ params, body }) => ({
        projectId: params.projectId as string,
        mode: body.mode as Mode,
      }),
      response: {
        status: 201,
        description: 'The key, shown only in this response',
        schema: createdKey,
      },
      async handle({ params, body }) {
        const created = await gate.keys.create({
          projectId: params.projectId as string,
          type: body.type as KeyType,
          mode: body.mode as Mode,
          ...(body.name === undefined ? {} : { name: body.name as string }),
          ...(body.allowedIps === undefined ? {} : { allowedIps: body.allowedIps as string[] }),
          ...(body.permissions === undefined
            ? {}
            : { permissions: body.permissions as PermissionsInput }),
          ...(body.metadata === undefined ? {} : { metadata: body.metadata as KeyMetadata | null }),
          ...(body.allowedOrigins === undefined
            ? {}
            : { allowedOrigins: body.allowedOrigins as string[] }),
          ...(body.allowedAndroidApps === undefined
            ? {}
            : { allowedAndroidApps: body.allowedAndroidApps as AndroidApp[] }),
          ...(body.allowedIosBundleIds === undefined
            ? {}
            : { allowedIosBundleIds: body.allowedIosBundleIds as string[] }),
          ...(body.expiresAt === undefined ? {} : { expiresAt: body.expiresAt as number | null }),
          ...(body.clientId === undefined ? {} : { clientId: body.clientId as string }),
        })
        return {
          body: created,
          events: keyEvents('key.created', created.record, created.record.createdAt),
        }
      },
    },
    {
      operationId: 'rollKey',
      method: 'POST',
      path: '/keys/{keyId}/roll',
      summary:
        'Roll a key: a new key with the same name and allowlist; the old one stops now or after a grace period',
      tag: 'Keys',
      access: 'operator',
      params: keyIdParams,
      target: keyTarget,
      body: {
        type: 'object',
        properties: {
          gracePeriodMs: {
            type: 'integer',
            minimum: 0,
            maximum: gate.limits.maxGracePeriodMs,
            description: 'How long the old key keeps working. Default 0.',
          },
          expiresAt: epochMs('Expiry of the new key, epoch ms. Default: none.'),
        },
      },
      response: {
        status: 200,
        description: 'The new key (shown only here) and the retired one',
        schema: {
          type: 'object',
          properties: { key: { type: 'string' }, record: keyRecord, previous: keyRecord },
        },
      },
      async handle({ params, body }) {
        const rolled = await gate.keys.roll(params.keyId as string, {
          ...(body.gracePeriodMs === undefined
            ? {}
            : { gracePeriodMs: body.gracePeriodMs as number }),
          ...(body.expiresAt === undefined ? {} : { expiresAt: body.expiresAt as number | null }),
        })
        return { body: rolled, events: keyEvents('key.rolled', rolled.previous, now()) }
      },
    },
    {
      operationId: 'deleteKey',
      method: 'DELETE',
      path: '/keys/{keyId}',
      summary: 'Delete a key; it stops working at once',
      tag: 'Keys',
      access: 'operator',
      params: keyIdParams,
      target: keyTarget,
      response: {
        status: 200,
        description: 'Deleted',
        schema: { type: 'object', properties: { id: ID('key'), deleted: { type: 'boolean' } } },
      },
      async handle({ params }) {
        const keyId = params.keyId as string
        const record = await gate.keys.get(keyId)
        if (record === null || !(await gate.keys.delete(keyId))) {
          throw new NotFoundError(`No such key: ${keyId}`)
        }
        return {
          body: { id: keyId, deleted: true },
          events: keyEvents('key.deleted', record, now()),
        }
      },
    },
    {
      operationId: 'updateKey',
      method: 'PATCH',
      path: '/keys/{keyId}',
      summary:
        "Change a key's name, IP allowlist, permissions (restricted keys), metadata or client restriction (publishable keys), in one atomic write",
      tag: 'Keys',
      access: 'operator',
      params: keyIdParams,
      target: keyTarget,
      body: {
        type: 'object',
        description:
          'Only the fields given change. permissions replaces the whole grant; metadata replaces the metadata (null clears it); allowedIps replaces the allowlist (empty lifts it); allowedOrigins, allowedAndroidApps or allowedIosBundleIds (one of them) replaces the client restriction, whatever its kind was (an empty list lifts it). It reaches every instance as an allowlist change does.',
        properties: {
          name: keyName,
          allowedIps,
          permissions,
          metadata: metadataInput,
          ...clientRestrictionInputs,
        },
        minProperties: 1,
      },
      response: { status: 200, description: 'The updated key', schema: keyRecord },
      async handle({ params, body }) {
        const record = await gate.keys.update(params.keyId as string, body as UpdateKeyInput)
        return { body: record, events: keyEvents('key.updated', record, now()) }
      },
    },
    {
      operationId: 'setAllowedIps',
      method: 'PUT',
      path: '/keys/{keyId}/allowed-ips',
      summary: "Replace a secret or restricted key's IP allowlist",
      tag: 'Keys',
      access: 'operator',
      params: keyIdParams,
      target: keyTarget,
      body: { type: 'object', properties: { allowedIps }, required: ['allowedIps'] },
      response: { status: 200, description: 'The updated key', schema: keyRecord },
      async handle({ params, body }) {
        const record = await gate.keys.setAllowedIps(
          params.keyId as string,
          body.allowedIps as string[],
        )
        return { body: record, events: keyEvents('key.allowed_ips_updated', record, now()) }
      },
    },
    {
      operationId: 'revealKey',
      method: 'POST',
      path: '/keys/{keyId}/reveal',
      summary: 'Show a test key again (needs revealKey; live keys never)',
      tag: 'Keys',
      access: 'operator',
      params: keyIdParams,
      target: keyTarget,
      response: {
        status: 200,
        description: 'The key',
        schema: { type: 'object', properties: { id: ID('key'), key: { type: 'string' } } },
      },
      async handle({ params }) {
        const keyId = params.keyId as string
        const key = await gate.keys.reveal(keyId)
        const record = await gate.keys.get(keyId)
        return {
          body: { id: keyId, key },
          events: record === null ? [] : keyEvents('key.revealed', record, now()),
        }
      },
    },
  ]
}
