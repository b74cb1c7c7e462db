/**
 * What `npm run bench` (over HTTP) and `npm run bench:instructions` (in-process, under
 * callgrind) share, so that both measure the same credentials and the same hand-written toy:
 * 10,000 keys of one type over 1,000 projects and both modes (secret and restricted keys each
 * with their own three-entry allowlist), Client Session Tokens for 10,000 end users, and the
 * SHA-256→Map middleware for Express and Koa.
 */
import { randomBytes } from 'node:crypto'
import type { AuthContext, Mode, Portcullis } from '../../src/index.js'
import { sha256 } from './toy-hash.js'

export const modeOf = (i: number): Mode => (i % 2 === 0 ? 'test' : 'live')
export const projectOf = (i: number) => `proj_${i % 1000}`

/** The permission the restricted-key variants' route names, and what their keys hold. */
export const BENCH_PERMISSION = 'charges:write'
/** The resources the gate is created with, so that `BENCH_PERMISSION` is known to it. */
export const BENCH_RESOURCES = ['charges', 'customers'] as const
/** The origins the origin-limited publishable keys accept; the load sends the second kind. */
export const BENCH_ORIGINS = ['https://app.example.com', 'https://*.shop.example.com']
export const BENCH_ORIGIN_HEADER = { origin: 'https://eu.shop.example.com' } as const

// ---------------------------------------------------------------------------------------------
// The hand-written competitor

export interface ToyRecord {
  readonly projectId: string
  readonly mode: Mode
}

/**
 * 10,000 keys shaped like portcullis keys (`sk_test_` + 49 characters), stored as
 * SHA-256 → record in a Map.
 */
export function createToyKeys(count: number): { keys: string[]; byHash: Map<string, ToyRecord> } {
  const keys: string[] = []
  const byHash = new Map<string, ToyRecord>()
  for (let i = 0; i < count; i++) {
    const mode = modeOf(i)
    const body = randomBytes(40).toString('base64url').replace(/[-_]/g, 'x').slice(0, 49)
    const key = `sk_${mode}_${body}`
    keys.push(key)
    byHash.set(sha256(key), { projectId: projectOf(i), mode })
  }
  return { keys, byHash }
}

/** The toy's lookup: the Authorization bearer value, hashed, looked up; undefined if unknown. */
export function toyLookup(
  byHash: ReadonlyMap<string, ToyRecord>,
  header: string | undefined,
): ToyRecord | undefined {
  if (header === undefined || !header.startsWith('Bearer ')) return undefined
  return byHash.get(sha256(header.slice(7)))
}

/** The part of an Express request and response the toy touches. */
export interface ToyExpressRequest {
  headers: { authorization?: string | undefined }
}
export interface ToyExpressResponse {
  locals: Record<string, unknown>
  status(code: number): { json(body: unknown): unknown }
}

/** The toy as an Express middleware: 401 for an unknown key, else `res.locals.auth`. */
export function expressToyMiddleware(byHash: ReadonlyMap<string, ToyRecord>) {
  return (req: ToyExpressRequest, res: ToyExpressResponse, next: () => void): void => {
    const record = toyLookup(byHash, req.headers.authorization)
    if (record === undefined) {
      res.status(401).json({ error: 'unauthorized' })
      return
    }
    res.locals.auth = record
    next()
  }
}

/** The part of a Koa context the toy touches. */
export interface ToyKoaContext {
  request: { headers: { authorization?: string | undefined } }
  state: object
  status: number
  body: unknown
}

/** The toy as a Koa middleware: 401 for an unknown key, else `ctx.state.toy`. */
export function koaToyMiddleware(byHash: ReadonlyMap<string, ToyRecord>) {
  return async (ctx: ToyKoaContext, next: () => Promise<unknown>): Promise<void> => {
    const record = toyLookup(byHash, ctx.request.headers.authorization)
    if (record === undefined) {
      ctx.status = 401
      ctx.body = { error: 'unauthorized' }
      return
    }
    ;(ctx.state as { toy?: ToyRecord }).toy = record
    await next()
  }
}

// ---------------------------------------------------------------------------------------------
// portcullis credentials

/**
 * Creates `count` keys of `type` through the gate, in 1,000 projects and both modes. Secret and
 * restricted keys each carry their own three-entry allowlist (so there are `count` distinct
 * allowlists), whose last entry admits a client at 127.0.0.1; restricted keys are granted
 * `charges: 'write'` and `customers: 'read'`; `allowedOrigins`, when given, limits every key
 * to those origins.
 */
export async function createBenchKeys(
  gate: Portcullis,
  type: 'secret' | 'publishable' | 'restricted',
  count: number,
  allowedOrigins?: readonly string[],
): Promise<string[]> {
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const allowedIps =
      type === 'publishable'
        ? undefined
        : ['203.0.113.0/24', `10.${(i >> 8) & 255}.${i & 255}.0/24`, '127.0.0.1']
    const { key } = await gate.keys.create({
      projectId: projectOf(i),
      type,
      mode: modeOf(i),
      ...(allowedIps === undefined ? {} : { allowedIps }),
      ...(type === 'restricted'
        ? { permissions: { charges: 'write', customers: 'read' } as const }
        : {}),
      ...(allowedOrigins === undefined ? {} : { allowedOrigins }),
    })
    keys.push(key)
  }
  return keys
}

/**
 * Authenticates each secret key once, as a client at 127.0.0.1 (which every bench allowlist
 * admits), so that the gate's cache holds it; throws the first refusal.
 */
export async function warmSecretKeys(gate: Portcullis, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const result = await gate.authenticate(
      { headers: { authorization: `Bearer ${key}` }, remoteAddress: '127.0.0.1' },
      { credential: 'secret' },
    )
    if (!result.ok) throw result.error
  }
}

/**
 * Issues `count` Client Session Tokens, one per end user, over 100 projects, `concurrency`
 * at a time (1: one after the other, so that a run's store traffic does not depend on timing).
 */
export async function issueSessions(
  gate: Portcullis,
  count: number,
  concurrency = 64,
): Promise<string[]> {
  const secretAuth: AuthContext[] = []
  for (let p = 0; p < 100; p++) {
    const mode = modeOf(p)
    const { key } = await gate.keys.create({ projectId: `proj_${p}`, type: 'secret', mode })
    const result = await gate.authenticate(
      { headers: { authorization: `Bearer ${key}` }, remoteAddress: '127.0.0.1' },
      { credential: 'secret' },
    )
    if (!result.ok) throw result.error
    secretAuth.push(result.auth)
  }
  const tokens = new Array<string>(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const auth = secretAuth[i % secretAuth.length] as AuthContext
      tokens[i] = (await gate.sessions.create(auth, { clientId: `user_${i}` })).token
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return tokens
}
