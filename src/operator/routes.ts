import type { AuthContext } from '../core/auth-context.js'
import { NotFoundError } from '../core/errors.js'
import { MAX_ALLOWLIST_ENTRIES } from '../core/ip.js'
import type { CreatedKey } from '../core/keys.js'
import type { Portcullis } from '../core/portcullis.js'
import type { KeyType, Mode } from '../core/types.js'
import { MAX_CLIENT_ID_LENGTH, MAX_KEY_NAME_LENGTH } from '../core/validate.js'
import type { ObjectSchema, Schema } from './schema.js'

/** Who may call a route: any secret key (scoped to its project and mode), or an operator. */
export type RouteAccess = 'secret_key' | 'operator'

/** What a handler receives, already validated. */
export interface RouteInput {
  readonly auth: AuthContext | null
  readonly params: Readonly<Record<string, string>>
  readonly query: Readonly<Record<string, unknown>>
  readonly body: Readonly<Record<string, unknown>>
}

/**
 * What an operator route acts on, as `authorize(request, target)` sees it: the project always,
 * the mode when the operation is limited to one (absent: both modes, or any), the key for
 * routes that name one. Frozen, and built before anything is changed.
 */
export interface OperatorTarget {
  readonly operationId: string
  readonly projectId: string
  readonly mode?: Mode
  readonly keyId?: string
}

/** Something an operator route changed, for audit logs. */
export interface OperatorEvent {
  readonly type:
    | 'project.provisioned'
    | 'key.created'
    | 'key.rolled'
    | 'key.deleted'
    | 'key.allowed_ips_updated'
    | 'key.revealed'
    | 'client_session.created'
    | 'client_session.refreshed'
    | 'client_sessions.revoked'
  readonly projectId: string
  readonly mode: Mode
  readonly keyId?: string
  readonly clientId?: string
  readonly at: number
}

/** One operation: its HTTP shape, its schemas (validation and OpenAPI), and its handler. */
export interface OperatorRoute {
  readonly operationId: string
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** OpenAPI style, relative to where the routes are mounted: `/keys/{keyId}/roll`. */
  readonly path: string
  readonly summary: string
  readonly tag: string
  readonly access: RouteAccess
  readonly params?: ObjectSchema
  readonly query?: ObjectSchema
  readonly body?: ObjectSchema
  readonly response: {
    readonly status: number
    readonly description: string
    readonly schema: Schema
  }
  /**
   * What the operation acts on, from the validated input; required on `operator` routes. It
   * runs before `authorize` and must change nothing. May throw (e.g. a 404 for an unknown key).
   */
  target?(
    input: RouteInput,
  ): Omit<OperatorTarget, 'operationId'> | Promise<Omit<OperatorTarget, 'operationId'>>
  handle(input: RouteInput): Promise<{ body: unknown; events: OperatorEvent[] }>
}

const ID = (prefix: string): Schema => ({
  type: 'string',
  pattern: `^${prefix}_[0-9A-Za-z]{1,64}$`,
})
const projectId: Schema = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$',
  description: 'Your identifier of the project (customer).',
}
const clientId: Schema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_CLIENT_ID_LENGTH,
  description: 'Your identifier of the end user. The same id in test and live mode is two clients.',
}
const mode: Schema = { type: 'string', enum: ['test', 'live'] }
const keyType: Schema = { type: 'string', enum: ['secret', 'publishable', 'client'] }
const epochMs = (description: string): Schema => ({
  type: 'integer',
  minimum: 0,
  nullable: true,
  description,
})
const allowedIps: Schema = {
  type: 'array',
  items: { type: 'string', maxLength: 64 },
  maxItems: MAX_ALLOWLIST_ENTRIES,
  description: 'IPv4/IPv6 addresses and CIDR ranges. Empty: no restriction. Secret keys only.',
}

const clientBody: ObjectSchema = {
  type: 'object',
  properties: { clientId },
  required: ['clientId'],
}
const keyIdParams: ObjectSchema = {
  type: 'object',
  properties: { keyId: ID('key') },
  required: ['keyId'],
}

const keyRecord: Schema = {
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
    clientId: { type: 'string' },
    createdAt: epochMs('Creation time, epoch ms.'),
    expiresAt: epochMs('When the key stops working, epoch ms; null = never.'),
    lastUsedAt: epochMs('Last authentication (batched), epoch ms.'),
    rolledToId: { type: 'string' },
    rolledFromId: { type: 'string' },
    revealable: { type: 'boolean' },
  },
}
const createdKey: Schema = {
  type: 'object',
  properties: {
    key: { type: 'string', description: 'The key itself, shown only in this response.' },
    record: keyRecord,
  },
}
const clientSession: Schema = {
  type: 'object',
  properties: {
    clientId,
    clientSessionToken: { type: 'string', description: 'The CST to hand to the end user.' },
    expiresAt: epochMs('Idle expiry, epoch ms; each authenticated use moves it.'),
    maxExpiresAt: epochMs('Absolute cap, epoch ms.'),
    livemode: { type: 'boolean' },
  },
}

function scope(auth: AuthContext | null): AuthContext {
  if (auth === null) throw new TypeError('secret_key route called without auth')
  return auth
}

function keyEvents(
  type: OperatorEvent['type'],
  created: CreatedKey['record'],
  at: number,
): OperatorEvent[] {
  return [{ type, projectId: created.projectId, mode: created.mode, keyId: created.id, at }]
}

/**
 * The client-session routes (as Portal documents them), for a backend holding a secret key:
 * project and mode come from the key, so a live key can never touch a test client.
 */
export function clientSessionOperations(gate: Portcullis): OperatorRoute[] {
  const session = async (
    operation: 'create' | 'refresh',
    input: RouteInput,
  ): Promise<{ body: unknown; events: OperatorEvent[] }> => {
    const auth = scope(input.auth)
    const { token, session } = await gate.sessions[operation](auth, {
      clientId: input.body.clientId as string,
    })
    return {
      body: {
        clientId: session.clientId,
        clientSessionToken: token,
        expiresAt: session.expiresAt,
        maxExpiresAt: session.maxExpiresAt,
        livemode: session.livemode,
      },
      events: [
        {
          type: operation === 'create' ? 'client_session.created' : 'client_session.refreshed',
          projectId: auth.projectId,
          mode: auth.mode,
          clientId: session.clientId,
          at: session.createdAt,
        },
      ],
    }
  }
  return [
    {
      operationId: 'createClientSession',
      method: 'POST',
      path: '/client-sessions',
      summary:
        "Create a Client Session Token for an end user (registers the client in the key's mode)",
      tag: 'Client sessions',
      access: 'secret_key',
      body: clientBody,
      response: { status: 201, description: 'The new session', schema: clientSession },
      handle: (input) => session('create', input),
    },
    {
      operationId: 'refreshClientSession',
      method: 'POST',
      path: '/client-sessions/refresh',
      summary: 'Issue a new Client Session Token for a client that already has one',
      tag: 'Client sessions',
      access: 'secret_key',
      body: clientBody,
      response: { status: 200, description: 'The new session', schema: clientSession },
      handle: (input) => session('refresh', input),
    },
    {
      operationId: 'revokeClientSessions',
      method: 'POST',
      path: '/client-sessions/revoke',
      summary: "Revoke every session of a client in the key's mode",
      tag: 'Client sessions',
      access: 'secret_key',
      body: clientBody,
      response: {
        status: 200,
        description: 'How many sessions were revoked',
        schema: {
          type: 'object',
          properties: { clientId, revoked: { type: 'integer', minimum: 0 } },
        },
      },
      async handle(input) {
        const auth = scope(input.auth)
        const target = input.body.clientId as string
        const revoked = await gate.sessions.revokeClient(auth, target)
        return {
          body: { clientId: target, revoked },
          events: [
            {
              type: 'client_sessions.revoked',
              projectId: auth.projectId,
              mode: auth.mode,
              clientId: target,
              at: gate.clock(),
            },
          ],
        }
      },
    },
  ]
}

/** The key-management routes a dashboard backend needs. Authorisation is the application's. */
export function keyManagementOperations(gate: Portcullis): OperatorRoute[] {
  const now = gate.clock
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
          name: { type: 'string', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH },
          allowedIps,
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
      operationId: 'setAllowedIps',
      method: 'PUT',
      path: '/keys/{keyId}/allowed-ips',
      summary: "Replace a secret key's IP allowlist",
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
