import type { Portcullis } from '../core/portcullis.js'
import { clientSessionOperations } from './client-session-routes.js'
import { keyManagementOperations } from './key-routes.js'
import type { OperatorRoute } from './route.js'
import { type ObjectSchema, toJsonSchema } from './schema.js'

export interface OpenApiOptions {
  /** Where the client-session routes are mounted. Default `/v1`; null leaves them out. */
  clientSessionsPath?: string | null
  /** Where the key-management routes are mounted. Default `/v1/admin`; null leaves them out. */
  keyManagementPath?: string | null
  title?: string
  version?: string
  servers?: readonly { url: string; description?: string }[]
}

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown>

/** Each error status a route may answer, with the codes behind it; some depend on who may call it. */
function errorStatuses(route: OperatorRoute): Readonly<Record<string, string>> {
  const byKey = route.access === 'secret_key'
  return {
    '400':
      'Invalid request (invalid_request: unknown field, bad value, no Content-Type: application/json on a POST, PUT, PATCH or DELETE; param names the field or entry, e.g. allowedOrigins[1]); nothing was written',
    '401': byKey
      ? 'Missing, invalid or expired credential (api_key_missing, api_key_invalid, api_key_expired, wrong_key_type), or a secret or restricted key sent by a web browser (secret_key_from_browser: the key has leaked into a page; roll it)'
      : 'Missing, invalid or expired credential',
    '403': byKey
      ? 'Wrong mode (mode_mismatch), address not allowed (ip_not_allowed), or a restricted key without the permission needed (permission_denied)'
      : 'Refused by authorize() (forbidden)',
    '404': 'No such key, session or client (resource_missing)',
    '409': 'Conflicts with the current state (already rolled, already provisioned, not revealable)',
    '503': 'The credential store is unavailable (store_unavailable); retry',
  }
}

const NO_FIELDS: ObjectSchema = { type: 'object', properties: {} }

function operation(route: OperatorRoute): Record<string, unknown> {
  const parameters = [
    ...Object.entries(route.params?.properties ?? {}).map(([name, schema]) => ({
      name,
      in: 'path',
      required: true,
      schema: toJsonSchema(schema),
    })),
    ...Object.entries(route.query?.properties ?? {}).map(([name, schema]) => ({
      name,
      in: 'query',
      required: false,
      schema: toJsonSchema(schema),
    })),
  ]
  const responses: Record<string, unknown> = {
    [String(route.response.status)]: {
      description: route.response.description,
      content: { 'application/json': { schema: toJsonSchema(route.response.schema) } },
    },
  }
  for (const [status, description] of Object.entries(errorStatuses(route))) {
    responses[status] = {
      description,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    }
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.access === 'secret_key'
      ? {
          description:
            route.permission === undefined
              ? 'Needs a secret key; restricted keys are refused.'
              : `Needs a secret key, or a restricted key with the ${route.permission} permission.`,
        }
      : {}),
    tags: [route.tag],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body === undefined && route.method === 'GET'
      ? {}
      : {
          // Also for a POST or DELETE that takes no fields: the server requires the JSON content
          // type on every write (so browsers cannot forge it), and a client generated from this
          // document sends it only along with a body.
          requestBody: {
            required: true,
            ...(route.body === undefined
              ? { description: 'No fields: send {} (or nothing) as application/json.' }
              : {}),
            content: {
              'application/json': { schema: toJsonSchema(route.body ?? NO_FIELDS) },
            },
          },
        }),
    responses,
    // OpenAPI 3.1 lets a bearer scheme list the roles it needs: here, the permission.
    security:
      route.access === 'secret_key'
        ? [{ secretKey: route.permission === undefined ? [] : [route.permission] }]
        : [{ operator: [] }],
  }
}

/**
 * The OpenAPI 3.1 document of the operator routes, generated from the same definitions that
 * validate their requests, so generated clients and the server cannot disagree.
 *
 * @example
 * ```ts
 * app.get('/openapi.json', (_req, res) => res.json(createOpenApiDocument(gate)))
 * ```
 */
export function createOpenApiDocument(
  gate: Portcullis,
  options: OpenApiOptions = {},
): OpenApiDocument {
  const mounts: [string, OperatorRoute[]][] = []
  const sessionsAt = options.clientSessionsPath === undefined ? '/v1' : options.clientSessionsPath
  const keysAt = options.keyManagementPath === undefined ? '/v1/admin' : options.keyManagementPath
  if (sessionsAt !== null) mounts.push([sessionsAt, clientSessionOperations(gate)])
  if (keysAt !== null) mounts.push([keysAt, keyManagementOperations(gate)])
  const paths: Record<string, Record<string, unknown>> = {}
  for (const [prefix, routes] of mounts) {
    for (const route of routes) {
      const path = `${prefix.replace(/\/$/, '')}${route.path}`
      paths[path] ??= {}
      ;(paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = operation(route)
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'portcullis operator API',
      version: options.version ?? '1.0.0',
    },
    ...(options.servers === undefined ? {} : { servers: options.servers }),
    paths,
    components: {
      securitySchemes: {
        secretKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A secret key (sk_test_… or sk_live_…), or a restricted key (rk_test_… or rk_live_…) holding the permission an operation lists; its project and mode scope the operation.',
        },
        operator: {
          type: 'http',
          scheme: 'bearer',
          description: "Whatever the application's authorize() hook accepts for its operators.",
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['type', 'code', 'message'],
              properties: {
                type: { type: 'string' },
                code: { type: 'string' },
                message: { type: 'string' },
              },
            },
          },
        },
      },
    },
  }
}
