/**
 * Secrets stay secret. On every store, a gate goes through a whole working life: a project
 * provisioned, keys of every type, a roll with a grace period, allowlists, Client Session
 * Tokens created, refreshed and revoked, every kind of refusal, a store outage (refused, hung,
 * and the backend's own unreachable client), a reveal, a usage flush, and the Express and Koa
 * example apps driven over HTTP. Then no plaintext key (nor its body, nor its random part), no
 * CST (nor its signature) and no configured secret (session secret, pepper, reveal key, the
 * example's operator token) may appear in:
 * 1. anything the store holds;
 * 2. anything logged (console, stdout, stderr, the gate's and the store's onError, the
 *    example's audit events);
 * 3. any error: refusals from `authenticate`, errors thrown by management calls and option
 *    checks, each with its message, stack, cause chain, every own property and its JSON;
 * 4. any refusal's HTTP response (status line aside: body and headers).
 * Calls whose purpose is to hand a key or token to the caller (creation, roll, reveal, the
 * create/refresh session routes) are not scanned: returning the secret is their job.
 */
import { randomBytes } from 'node:crypto'
import { format, inspect } from 'node:util'
import request from 'supertest'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../../adapters/memory/index.js'
import { RedisStore } from '../../adapters/redis/index.js'
import {
  connectAdmin,
  DRIVERS,
  type Driver,
  deleteUnder,
  dumpUnder,
  randomPrefix,
} from '../../adapters/redis/test-support/drivers.js'
import { findFreePort } from '../../adapters/redis/test-support/redis-server.js'
import { migrate, SqlStore } from '../../adapters/sql/index.js'
import {
  createDatabase,
  createUnreachableKysely,
  dialectsUnderTest,
} from '../../adapters/sql/test-support/databases.js'
import {
  createKeyFormat,
  KEY_CHECKSUM_LENGTH,
  KEY_RANDOM_LENGTH,
} from '../../src/core/key-format.js'
import {
  type AuthContext,
  type AuthenticateOptions,
  type AuthResult,
  createPortcullis,
  type Portcullis,
  type PortcullisOptions,
  type PortcullisStore,
  StoreUnavailableError,
} from '../../src/index.js'
import { createManualClock, type ManualClock } from '../../src/testing/index.js'
import { DAY_MS, HOUR_MS } from '../helpers.js'
import { serviceAvailable, serviceUrls } from '../support/services.js'

// The example apps read the operator token when their shared module loads, and log audit
// events unless told to be quiet: set both before loading them.
const adminToken = randomBytes(16).toString('hex')
const savedEnv = {
  ADMIN_TOKEN: process.env.ADMIN_TOKEN,
  PORTCULLIS_EXAMPLE_QUIET: process.env.PORTCULLIS_EXAMPLE_QUIET,
}
process.env.ADMIN_TOKEN = adminToken
delete process.env.PORTCULLIS_EXAMPLE_QUIET
const { createApp: createExpressApp } = await import('../../examples/express/app.js')
const { createApp: createKoaApp } = await import('../../examples/koa/app.js')
afterAll(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

const KEY_BODY_LENGTH = KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH

/**
 * Everything reachable from `root` as text: every string, number and property name met walking
 * own properties (enumerable or not, symbols too) and buffers (as text, hex and base64), plus
 * its JSON and its `util.inspect` rendering (which shows `cause`, Maps, Sets and hidden
 * fields). Errors' `message`, `stack` and `cause` are own properties, so the walk covers them
 * and the whole cause chain.
 */
function deepText(root: unknown): string {
  const parts: string[] = []
  const seen = new Set<object>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      parts.push(value)
      return
    }
    if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
      parts.push(String(value))
      return
    }
    if (typeof value !== 'object' || value === null) return
    if (seen.has(value) || depth > 10 || seen.size > 20_000) return
    seen.add(value)
    if (ArrayBuffer.isView(value)) {
      const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      parts.push(bytes.toString('utf8'), bytes.toString('hex'), bytes.toString('base64'))
      return
    }
    for (const name of Reflect.ownKeys(value)) {
      parts.push(String(name))
      const descriptor = Object.getOwnPropertyDescriptor(value, name)
      if (descriptor !== undefined && 'value' in descriptor) visit(descriptor.value, depth + 1)
    }
  }
  visit(root, 0)
  const attempt = (render: () => string | undefined) => {
    try {
      parts.push(render() ?? '')
    } catch (error) {
      parts.push(`(not renderable: ${String(error)})`)
    }
  }
  attempt(() => JSON.stringify(root))
  attempt(() => inspect(root, { showHidden: true, depth: 10, getters: false }))
  attempt(() => String(root))
  return parts.join('\n')
}

/** Where a scanned text came from. */
type ItemKind = 'store' | 'log' | 'error' | 'http' | 'auth context'

/** The secrets to look for (needles) and everything to look in (items). */
class Haystack {
  readonly needles = new Map<string, string>()
  readonly items: { kind: ItemKind; where: string; text: string }[] = []

  secret(label: string, value: string): void {
    expect(
      value.length,
      `${label} is long enough to be found only where it leaked`,
    ).toBeGreaterThanOrEqual(20)
    this.needles.set(value, label)
  }

  /** A key, its body (random part and checksum) and its random part alone. */
  key(label: string, key: string): string {
    this.secret(label, key)
    const body = key.slice(-KEY_BODY_LENGTH)
    this.secret(`${label} (body)`, body)
    this.secret(`${label} (random part)`, body.slice(0, KEY_RANDOM_LENGTH))
    return key
  }

  /** A CST and its signature segment. */
  token(label: string, token: string): string {
    this.secret(label, token)
    this.secret(`${label} (signature)`, token.split('.')[2] as string)
    return token
  }

  /** Secret bytes in the encodings a dump or a log line would show them in. */
  bytes(label: string, bytes: Buffer): void {
    this.secret(`${label} (hex)`, bytes.toString('hex'))
    this.secret(`${label} (base64)`, bytes.toString('base64'))
    this.secret(`${label} (base64url)`, bytes.toString('base64url'))
  }

  add(kind: ItemKind, where: string, text: string): void {
    this.items.push({ kind, where, text })
  }

  error(where: string, error: unknown): void {
    this.add('error', where, deepText(error))
  }

  leaks(): string[] {
    const found: string[] = []
    for (const { where, text } of this.items) {
      for (const [needle, label] of this.needles) {
        if (text.includes(needle)) found.push(`${label} in ${where}`)
      }
    }
    return found
  }

  /** "3 items, 1234 B": what was scanned of one kind (or of all). */
  summary(kind?: ItemKind): string {
    const items = this.items.filter((item) => kind === undefined || item.kind === kind)
    const bytes = items.reduce((sum, item) => sum + Buffer.byteLength(item.text), 0)
    return `${items.length} items, ${bytes} B`
  }

  count(kind: ItemKind): number {
    return this.items.filter((item) => item.kind === kind).length
  }
}

/** Captures console, stdout and stderr until `stop()`; nothing reaches the terminal meanwhile. */
function captureOutput(): { lines: string[]; stop(): void } {
  const lines: string[] = []
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
  const saved = methods.map((method) => console[method])
  for (const method of methods) {
    console[method] = (...args: unknown[]) => {
      lines.push(`console.${method}: ${format(...args)}`)
    }
  }
  const streams = [process.stdout, process.stderr] as const
  const writes = streams.map((stream) => stream.write)
  for (const [index, stream] of streams.entries()) {
    stream.write = ((chunk: unknown) => {
      lines.push(`${index === 0 ? 'stdout' : 'stderr'}: ${String(chunk)}`)
      return true
    }) as typeof stream.write
  }
  return {
    lines,
    stop() {
      for (const [index, method] of methods.entries()) console[method] = saved[index] as never
      for (const [index, stream] of streams.entries()) {
        stream.write = writes[index] as typeof stream.write
      }
    },
  }
}

type OutageMode = 'up' | 'refused' | 'hung'

/** The store behind a switch: every call fails (connection refused) or hangs while it is down. */
function switchable(store: PortcullisStore): { store: PortcullisStore; mode: OutageMode } {
  const state: { store: PortcullisStore; mode: OutageMode } = { store, mode: 'up' }
  state.store = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (state.mode === 'refused') {
          return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'))
        }
        if (state.mode === 'hung') return new Promise(() => {})
        return (value as (...args: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return state
}

/** A store under test, what it holds as text, and its backend's unreachable twin. */
interface OpenedBackend {
  readonly store: PortcullisStore
  dump(): Promise<string>
  /** The same kind of store aimed at a backend that does not answer (none for memory). */
  unreachable?(): Promise<{ store: PortcullisStore; close(): Promise<void> }>
  close(): Promise<void>
}

interface Backend {
  readonly name: string
  readonly available: boolean
  open(clock: ManualClock, onError: (error: unknown) => void): Promise<OpenedBackend>
}

function memoryBackend(): Backend {
  return {
    name: 'MemoryStore',
    available: true,
    async open(clock) {
      const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })
      return {
        store,
        dump: async () => JSON.stringify(store.entries()),
        close: async () => store.close(),
      }
    },
  }
}

function sqlBackend(dialect: 'sqlite' | 'postgres' | 'mysql', available: boolean): Backend {
  return {
    name: `SqlStore (${dialect})`,
    available,
    async open(clock, onError) {
      const database = createDatabase(dialect)
      const connection = database.connect()
      await migrate(connection.db, { tablePrefix: database.prefix })
      const store = new SqlStore(connection.db, {
        tablePrefix: database.prefix,
        clock: clock.now,
        sweepIntervalMs: 0,
        pollIntervalMs: 100,
        onError,
      })
      return {
        store,
        dump: () => database.dump(),
        async unreachable() {
          const db = createUnreachableKysely(dialect)
          const down = new SqlStore(db, {
            tablePrefix: database.prefix,
            sweepIntervalMs: 0,
            onError,
          })
          return {
            store: down,
            close: async () => {
              await down.close()
              await db.destroy()
            },
          }
        },
        async close() {
          await store.close()
          await database.drop()
        },
      }
    },
  }
}

function redisBackend(driver: Driver, available: boolean): Backend {
  return {
    name: `RedisStore (${driver.name})`,
    available,
    async open(clock) {
      const admin = await connectAdmin(serviceUrls.redis)
      const connections = await driver.connect(serviceUrls.redis)
      const prefix = randomPrefix('portcullis-secrets')
      const store = new RedisStore({
        client: connections.client,
        subscriber: connections.subscriber,
        prefix,
        clock: clock.now,
      })
      return {
        store,
        dump: () => dumpUnder(admin, prefix),
        async unreachable() {
          const { client, close } = driver.unreachable(`redis://127.0.0.1:${await findFreePort()}`)
          return { store: new RedisStore({ client, prefix }), close }
        },
        async close() {
          await connections.close()
          await deleteUnder(admin, prefix)
          await admin.close()
        },
      }
    },
  }
}

const redisAvailable = await serviceAvailable('redis')
const BACKENDS: Backend[] = [
  memoryBackend(),
  ...(await dialectsUnderTest()).map(({ dialect, available }) => sqlBackend(dialect, available)),
  ...DRIVERS.map((driver) => redisBackend(driver, redisAvailable)),
]

const bearer = (credential: string, remoteAddress = '203.0.113.7') => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress,
})

/** A character of the key's checksum changed: well-formed, but the checksum fails. */
function tamperKey(key: string): string {
  const last = key.at(-1) === 'A' ? 'B' : 'A'
  return key.slice(0, -1) + last
}

/** One character of the signature changed. */
function tamperToken(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const first = signature[0] === 'A' ? 'B' : 'A'
  return `${header}.${payload}.${first}${signature.slice(1)}`
}

/** The secrets a gate is configured with, registered as needles in every encoding. */
function gateSecrets(hay: Haystack) {
  const sessionSecret = randomBytes(32).toString('base64url')
  const pepper = randomBytes(32).toString('base64url')
  const revealKey = randomBytes(32).toString('base64url')
  hay.secret('sessionSecret', sessionSecret)
  hay.bytes('sessionSecret bytes', Buffer.from(sessionSecret, 'utf8'))
  hay.secret('pepper', pepper)
  hay.bytes('pepper bytes', Buffer.from(pepper, 'utf8'))
  hay.secret('revealKey', revealKey)
  hay.bytes('revealKey bytes', Buffer.from(revealKey, 'base64url'))
  return { sessionSecret, pepper, revealKey }
}

/** Tallies of what a run did, for the summary line. */
interface Tally {
  authentications: number
  refusals: Map<string, number>
  thrown: number
  requests: number
}

/** The direct API: everything a backend team does with a gate, successes and refusals. */
async function exerciseGate(
  gate: Portcullis,
  clock: ManualClock,
  hay: Haystack,
  tally: Tally,
  secrets: ReturnType<typeof gateSecrets>,
  store: PortcullisStore,
) {
  const accept = async (
    what: string,
    input: Parameters<Portcullis['authenticate']>[0],
    options: AuthenticateOptions,
  ) => {
    tally.authentications++
    const result = await gate.authenticate(input, options)
    expect(result.ok, `${what}: ${result.ok ? '' : result.error.code}`).toBe(true)
    hay.add('auth context', what, deepText(result.ok ? result.auth : null))
    return (result as Extract<AuthResult, { ok: true }>).auth
  }
  const refuse = async (
    what: string,
    input: Parameters<Portcullis['authenticate']>[0],
    options: AuthenticateOptions,
    code: string,
  ) => {
    tally.authentications++
    const result = await gate.authenticate(input, options)
    expect(result.ok ? 'ok' : result.error.code, what).toBe(code)
    if (!result.ok) {
      tally.refusals.set(code, (tally.refusals.get(code) ?? 0) + 1)
      hay.error(`refusal ${code} (${what})`, result.error)
    }
  }
  const thrown = async (what: string, call: () => unknown) => {
    let caught: unknown
    try {
      await call()
    } catch (error) {
      caught = error
    }
    expect(caught, `${what} throws`).toBeDefined()
    tally.thrown++
    hay.error(`thrown by ${what}`, caught)
    return caught
  }
  const secret = { credential: 'secret' } as const
  const publishable = { credential: 'publishable' } as const
  const session = { credential: 'session' } as const

  const projectId = `proj_${randomBytes(6).toString('hex')}`
  const { test, live } = await gate.projects.provision(projectId)
  hay.key('test secret key', test.secretKey.key)
  hay.key('test publishable key', test.publishableKey.key)
  hay.key('live secret key', live.secretKey.key)
  hay.key('live publishable key', live.publishableKey.key)
  const client = await gate.keys.create({
    projectId,
    type: 'client',
    mode: 'test',
    clientId: 'dev_user',
  })
  hay.key('development client key', client.key)
  const restricted = await gate.keys.create({
    projectId,
    type: 'secret',
    mode: 'test',
    name: 'Restricted',
    allowedIps: ['203.0.113.0/24', '2001:db8::/32'],
  })
  hay.key('restricted secret key', restricted.key)
  const extra = await gate.keys.create({
    projectId,
    type: 'publishable',
    mode: 'live',
    name: 'Web',
  })
  hay.key('second live publishable key', extra.key)
  const doomed = await gate.keys.create({ projectId, type: 'secret', mode: 'live', name: 'Doomed' })
  hay.key('deleted secret key', doomed.key)
  expect(await gate.keys.delete(doomed.record.id)).toBe(true)
  const rolled = await gate.keys.roll(test.secretKey.record.id, { gracePeriodMs: HOUR_MS })
  hay.key('rolled test secret key', rolled.key)
  await gate.keys.setAllowedIps(live.secretKey.record.id, ['198.51.100.0/24'])
  // Revealing returns the key (not scanned); the store keeps it encrypted only.
  expect(await gate.keys.reveal(test.publishableKey.record.id)).toBe(test.publishableKey.key)

  const testAuth = await accept('rolled test secret key', bearer(rolled.key), secret)
  const liveAuth = await accept(
    'live secret key from its allowlist',
    bearer(live.secretKey.key, '198.51.100.9'),
    secret,
  )
  const first = await gate.sessions.create(testAuth, { clientId: 'user_1' })
  hay.token('CST of user_1', first.token)
  const refreshed = await gate.sessions.refresh(testAuth, { clientId: 'user_1' })
  hay.token('refreshed CST of user_1', refreshed.token)
  const revoked = await gate.sessions.create(testAuth, { clientId: 'user_2' })
  hay.token('CST of user_2', revoked.token)
  const clientRevoked = await gate.sessions.create(liveAuth, { clientId: 'user_3' })
  hay.token('live CST of user_3', clientRevoked.token)
  await gate.sessions.revoke(revoked.session.id)
  expect(await gate.sessions.revokeClient(liveAuth, 'user_3')).toBe(1)
  const foreignSecret = randomBytes(32).toString('base64url')
  hay.secret("another gate's sessionSecret", foreignSecret)
  const foreign = createPortcullis({ store, sessionSecret: foreignSecret, pepper: secrets.pepper })
  const foreignAuth = await foreign.authenticate(bearer(rolled.key), secret)
  expect(foreignAuth.ok).toBe(true)
  const forged = await foreign.sessions.create((foreignAuth as { auth: AuthContext }).auth, {
    clientId: 'user_1',
  })
  hay.token('CST signed with another secret', forged.token)
  await foreign.close()

  // Every credential accepted where it belongs.
  await accept('old test secret key within its grace period', bearer(test.secretKey.key), secret)
  await accept('restricted key from its range', bearer(restricted.key, '203.0.113.20'), secret)
  await accept('restricted key over IPv6', bearer(restricted.key, '2001:db8::5'), secret)
  await accept('test publishable key', bearer(test.publishableKey.key), publishable)
  await accept('live publishable key', bearer(extra.key), publishable)
  const sessionAuth = await accept('CST', bearer(first.token), session)
  await accept('refreshed CST', bearer(refreshed.token), session)
  await accept('development client key', bearer(client.key), session)

  // Every kind of refusal.
  await refuse('no header', { headers: {} }, secret, 'api_key_missing')
  await refuse('no session header', { headers: {} }, session, 'session_missing')
  await refuse(
    'Basic scheme',
    { headers: { authorization: `Basic ${rolled.key}` } },
    secret,
    'api_key_invalid',
  )
  await refuse(
    'two tokens',
    { headers: { authorization: `Bearer ${rolled.key} ${rolled.key}` } },
    secret,
    'api_key_invalid',
  )
  await refuse('key sent twice', bearer(`${rolled.key}${rolled.key}`), secret, 'api_key_invalid')
  await refuse(
    'wrong checksum',
    bearer(hay.key('tampered key', tamperKey(live.secretKey.key))),
    secret,
    'api_key_invalid',
  )
  await refuse('deleted key', bearer(doomed.key), secret, 'api_key_invalid')
  await refuse(
    'secret key where publishable is required',
    bearer(rolled.key),
    publishable,
    'wrong_key_type',
  )
  await refuse(
    'publishable key where secret is required',
    bearer(test.publishableKey.key),
    secret,
    'wrong_key_type',
  )
  await refuse('CST where a secret key is required', bearer(first.token), secret, 'wrong_key_type')
  await refuse(
    'client key where a secret key is required',
    bearer(client.key),
    secret,
    'wrong_key_type',
  )
  await refuse(
    'secret key where a session is required',
    bearer(rolled.key),
    session,
    'wrong_key_type',
  )
  await refuse(
    'publishable key where a session is required',
    bearer(extra.key),
    session,
    'wrong_key_type',
  )
  await refuse(
    'test key on a live route',
    bearer(rolled.key),
    { credential: 'secret', mode: 'live' },
    'mode_mismatch',
  )
  await refuse(
    'test CST on a live route',
    bearer(first.token),
    { credential: 'session', mode: 'live' },
    'mode_mismatch',
  )
  await refuse(
    'client key on a live route',
    bearer(client.key),
    { credential: 'session', mode: 'live' },
    'mode_mismatch',
  )
  await refuse(
    'restricted key from elsewhere',
    bearer(restricted.key, '192.0.2.1'),
    secret,
    'ip_not_allowed',
  )
  await refuse(
    'live key off its allowlist',
    bearer(live.secretKey.key, '203.0.113.7'),
    secret,
    'ip_not_allowed',
  )
  await refuse('revoked CST', bearer(revoked.token), session, 'session_revoked')
  await refuse('CST of a revoked client', bearer(clientRevoked.token), session, 'session_revoked')
  await refuse(
    'tampered CST',
    bearer(hay.token('tampered CST', tamperToken(first.token))),
    session,
    'session_invalid',
  )
  await refuse('CST signed with another secret', bearer(forged.token), session, 'session_invalid')

  // Management calls given the wrong input, or a secret where an id belongs.
  await thrown('keys.create with an unknown type', () =>
    gate.keys.create({ projectId, type: 'bogus' as 'secret', mode: 'test' }),
  )
  await thrown('keys.create of a live client key', () =>
    gate.keys.create({ projectId, type: 'client', mode: 'live', clientId: 'x' }),
  )
  await thrown('keys.create of a publishable key with an allowlist', () =>
    gate.keys.create({ projectId, type: 'publishable', mode: 'test', allowedIps: ['10.0.0.0/8'] }),
  )
  await thrown('keys.create with a bad allowlist', () =>
    gate.keys.create({ projectId, type: 'secret', mode: 'test', allowedIps: ['10.0.0.300'] }),
  )
  await thrown('keys.create expiring in the past', () =>
    gate.keys.create({ projectId, type: 'secret', mode: 'test', expiresAt: clock.now() - 1 }),
  )
  await thrown('keys.get with a key for an id', () => gate.keys.get(rolled.key))
  await thrown('keys.roll with a key for an id', () => gate.keys.roll(rolled.key))
  await thrown('keys.delete with a key for an id', () => gate.keys.delete(live.secretKey.key))
  await thrown('keys.reveal with a key for an id', () => gate.keys.reveal(test.secretKey.key))
  await thrown('keys.setAllowedIps with a key for an id', () =>
    gate.keys.setAllowedIps(rolled.key, []),
  )
  await thrown('sessions.revoke with a CST for an id', () => gate.sessions.revoke(first.token))
  await thrown('keys.roll of a rolled key', () => gate.keys.roll(test.secretKey.record.id))
  await thrown('keys.roll with a negative grace period', () =>
    gate.keys.roll(rolled.record.id, { gracePeriodMs: -1 }),
  )
  await thrown('keys.reveal of a live key', () => gate.keys.reveal(live.secretKey.record.id))
  await thrown('keys.setAllowedIps on a publishable key', () =>
    gate.keys.setAllowedIps(extra.record.id, ['10.0.0.1']),
  )
  await thrown('projects.provision twice', () => gate.projects.provision(projectId))
  await thrown('sessions.create with a hand-made auth', () =>
    gate.sessions.create({ ...testAuth }, { clientId: 'user_1' }),
  )
  await thrown('sessions.create with a session auth', () =>
    gate.sessions.create(sessionAuth, { clientId: 'user_1' }),
  )
  await thrown('sessions.refresh of an unknown client', () =>
    gate.sessions.refresh(testAuth, { clientId: 'nobody' }),
  )
  await thrown('sessions.revoke across modes', () =>
    gate.sessions.revoke(first.session.id, { auth: liveAuth }),
  )
  await thrown('authenticate without a credential kind', () =>
    gate.authenticate(bearer(rolled.key), { credential: 'key' as 'secret' }),
  )
  const shortSecret = randomBytes(22).toString('base64url')
  hay.secret('a too short sessionSecret', shortSecret)
  await thrown('createPortcullis with a short sessionSecret', () =>
    createPortcullis({ store, sessionSecret: shortSecret }),
  )
  const shortPepper = randomBytes(22).toString('base64url')
  hay.secret('a too short pepper', shortPepper)
  await thrown('createPortcullis with a short pepper', () =>
    createPortcullis({ store, sessionSecret: secrets.sessionSecret, pepper: shortPepper }),
  )
  const shortRevealKey = randomBytes(31).toString('base64url')
  hay.secret('a revealKey of the wrong size', shortRevealKey)
  await thrown('createPortcullis with a revealKey of the wrong size', () =>
    createPortcullis({ store, sessionSecret: secrets.sessionSecret, revealKey: shortRevealKey }),
  )

  // Time passes: the grace period ends, then idle sessions expire.
  await gate.flush()
  clock.advance(HOUR_MS)
  await refuse(
    'old key after its grace period',
    bearer(test.secretKey.key),
    secret,
    'api_key_expired',
  )
  await accept('rolled key after the grace period', bearer(rolled.key), secret)
  clock.advance(DAY_MS)
  await refuse('CST idle for a day', bearer(refreshed.token), session, 'session_expired')
  await gate.flush()
  return { projectId, rolled, live, client, first }
}

/** A gate over a store that fails: every decision is store_unavailable, every write throws. */
async function exerciseOutage(
  what: string,
  gate: Portcullis,
  hay: Haystack,
  tally: Tally,
  known: Awaited<ReturnType<typeof exerciseGate>>,
) {
  const credentials: [string, string, AuthenticateOptions][] = [
    ['secret key', known.rolled.key, { credential: 'secret' }],
    ['publishable key', known.live.publishableKey.key, { credential: 'publishable' }],
    ['CST', known.first.token, { credential: 'session' }],
    ['client key', known.client.key, { credential: 'session' }],
  ]
  for (const [name, credential, options] of credentials) {
    tally.authentications++
    const result = await gate.authenticate(bearer(credential), options)
    expect(result.ok ? 'ok' : result.error.code, `${what}: ${name}`).toBe('store_unavailable')
    if (!result.ok) {
      tally.refusals.set('store_unavailable', (tally.refusals.get('store_unavailable') ?? 0) + 1)
      hay.error(`${what}: refusal of the ${name}`, result.error)
    }
  }
  const calls: [string, () => Promise<unknown>][] = [
    [
      'keys.create',
      () => gate.keys.create({ projectId: known.projectId, type: 'secret', mode: 'test' }),
    ],
    ['keys.list', () => gate.keys.list(known.projectId)],
    ['keys.roll', () => gate.keys.roll(known.rolled.record.id, { gracePeriodMs: HOUR_MS })],
    ['keys.reveal', () => gate.keys.reveal(known.client.record.id)],
    ['keys.setAllowedIps', () => gate.keys.setAllowedIps(known.rolled.record.id, ['10.0.0.1'])],
    ['sessions.revoke', () => gate.sessions.revoke(known.first.session.id)],
    ['projects.provision', () => gate.projects.provision(`proj_${randomBytes(6).toString('hex')}`)],
  ]
  for (const [name, call] of calls) {
    const error = await call().then(
      () => null,
      (caught: unknown) => caught,
    )
    expect(error, `${what}: ${name} fails`).not.toBeNull()
    expect((error as { code?: unknown }).code, `${what}: ${name}`).toBe('store_unavailable')
    tally.thrown++
    hay.error(`${what}: thrown by ${name}`, error)
  }
}

type App = Parameters<typeof request>[0]

/** The example apps over HTTP: management, sessions, and refusals of every kind. */
async function exerciseHttp(
  label: string,
  app: App,
  clock: ManualClock,
  hay: Haystack,
  tally: Tally,
) {
  const admin = { 'x-admin-token': adminToken }
  const call = async (
    what: string,
    test: request.Test,
    status: number,
    options: { returnsSecret?: boolean } = {},
  ): Promise<request.Response> => {
    tally.requests++
    const response = await test
    expect(response.status, `${label} ${what}: ${response.text.slice(0, 300)}`).toBe(status)
    if (status >= 400)
      tally.refusals.set(`HTTP ${status}`, (tally.refusals.get(`HTTP ${status}`) ?? 0) + 1)
    if (options.returnsSecret !== true) {
      hay.add(
        'http',
        `${label} ${what}: response ${status}`,
        `${JSON.stringify(response.headers)}\n${response.text}`,
      )
    }
    return response
  }
  const agent = request(app)
  const auth = (credential: string) => ({ authorization: `Bearer ${credential}` })

  const projectId = `proj_${randomBytes(6).toString('hex')}`
  const provisioned = await call(
    'provision',
    agent.post('/v1/admin/projects').set(admin).send({ projectId }),
    201,
    { returnsSecret: true },
  )
  const testSk: { key: string; record: { id: string } } = provisioned.body.test.secretKey
  const testPk: { key: string; record: { id: string } } = provisioned.body.test.publishableKey
  const liveSk: { key: string; record: { id: string } } = provisioned.body.live.secretKey
  const livePk: { key: string; record: { id: string } } = provisioned.body.live.publishableKey
  for (const [name, created] of Object.entries({ testSk, testPk, liveSk, livePk })) {
    hay.key(`${label} ${name}`, created.key)
  }
  const created = async (what: string, body: object) => {
    const response = await call(
      what,
      agent.post(`/v1/admin/projects/${projectId}/keys`).set(admin).send(body),
      201,
      { returnsSecret: true },
    )
    hay.key(`${label} ${what}`, response.body.key)
    return response.body as { key: string; record: { id: string } }
  }
  const client = await created('client key', { type: 'client', mode: 'test', clientId: 'dev_http' })
  const restricted = await created('restricted key', {
    type: 'secret',
    mode: 'live',
    name: 'Restricted',
    allowedIps: ['203.0.113.0/24'],
  })
  const temporary = await created('temporary key', {
    type: 'publishable',
    mode: 'test',
    name: 'Temp',
  })
  const rolledResponse = await call(
    'roll',
    agent
      .post(`/v1/admin/keys/${testSk.record.id}/roll`)
      .set(admin)
      .send({ gracePeriodMs: HOUR_MS }),
    200,
    { returnsSecret: true },
  )
  const rolled = hay.key(`${label} rolled key`, rolledResponse.body.key)
  await call(
    'set allowlist',
    agent
      .put(`/v1/admin/keys/${liveSk.record.id}/allowed-ips`)
      .set(admin)
      .send({ allowedIps: ['198.51.100.0/24'] }),
    200,
  )
  await call(
    'reveal a test key',
    agent.post(`/v1/admin/keys/${testPk.record.id}/reveal`).set(admin).send({}),
    200,
    {
      returnsSecret: true,
    },
  )
  await call(
    'reveal a live key',
    agent.post(`/v1/admin/keys/${livePk.record.id}/reveal`).set(admin).send({}),
    409,
  )
  await call(
    'list keys',
    agent.get(`/v1/admin/projects/${projectId}/keys?mode=test`).set(admin),
    200,
  )
  await call(
    'delete a key',
    agent.delete(`/v1/admin/keys/${temporary.record.id}`).set(admin).send({}),
    200,
  )
  await call(
    'admin with a secret key for a token',
    agent.get(`/v1/admin/projects/${projectId}/keys`).set({ 'x-admin-token': rolled }),
    403,
  )
  await call(
    'admin without a token',
    agent.post('/v1/admin/projects').send({ projectId: 'proj_x' }),
    403,
  )

  const session = async (what: string, path: string, clientId: string, status: number) => {
    const response = await call(
      what,
      agent.post(path).set(auth(rolled)).send({ clientId }),
      status,
      {
        returnsSecret: true,
      },
    )
    return hay.token(`${label} ${what}`, response.body.clientSessionToken)
  }
  const token = await session('create a session', '/v1/client-sessions', 'user_http', 201)
  const refreshed = await session(
    'refresh a session',
    '/v1/client-sessions/refresh',
    'user_http',
    200,
  )
  const doomed = await session(
    'create a session to revoke',
    '/v1/client-sessions',
    'user_doomed',
    201,
  )
  await call(
    'revoke a client',
    agent.post('/v1/client-sessions/revoke').set(auth(rolled)).send({ clientId: 'user_doomed' }),
    200,
  )
  await call(
    'session route with a publishable key',
    agent.post('/v1/client-sessions').set(auth(testPk.key)).send({ clientId: 'u' }),
    401,
  )
  await call(
    'session route with a secret in an unknown field',
    agent.post('/v1/client-sessions').set(auth(rolled)).send({ clientId: 'u', apiKey: rolled }),
    400,
  )
  await call(
    'session route with a secret as a number',
    agent.post('/v1/client-sessions').set(auth(rolled)).send({ clientId: 42, token }),
    400,
  )
  await call(
    'session route with malformed JSON holding a secret',
    agent
      .post('/v1/client-sessions')
      .set(auth(rolled))
      .set('content-type', 'application/json')
      .send(`{"clientId": ${rolled}}`),
    400,
  )

  await call('account', agent.get('/v1/account').set(auth(rolled)), 200)
  await call(
    'account with the old key in its grace period',
    agent.get('/v1/account').set(auth(testSk.key)),
    200,
  )
  await call('account without a key', agent.get('/v1/account'), 401)
  await call(
    'account with a Basic header',
    agent.get('/v1/account').set({ authorization: `Basic ${rolled}` }),
    401,
  )
  await call('account with a publishable key', agent.get('/v1/account').set(auth(testPk.key)), 401)
  await call('account with a CST', agent.get('/v1/account').set(auth(token)), 401)
  await call('account with a client key', agent.get('/v1/account').set(auth(client.key)), 401)
  await call(
    'account with a tampered key',
    agent.get('/v1/account').set(auth(hay.key(`${label} tampered key`, tamperKey(liveSk.key)))),
    401,
  )
  await call('account with a deleted key', agent.get('/v1/config').set(auth(temporary.key)), 401)
  await call(
    'account from outside the allowlist',
    agent.get('/v1/account').set(auth(restricted.key)),
    403,
  )
  await call(
    'account with a live key off its allowlist',
    agent.get('/v1/account').set(auth(liveSk.key)),
    403,
  )
  await call('me', agent.get('/v1/me').set(auth(token)), 200)
  await call('me with a client key', agent.get('/v1/me').set(auth(client.key)), 200)
  await call('me with a revoked CST', agent.get('/v1/me').set(auth(doomed)), 401)
  await call('me with a secret key', agent.get('/v1/me').set(auth(rolled)), 401)
  await call(
    'me with a tampered CST',
    agent.get('/v1/me').set(auth(hay.token(`${label} tampered CST`, tamperToken(token)))),
    401,
  )
  await call('me without a token', agent.get('/v1/me'), 401)
  await call('config', agent.get('/v1/config').set(auth(testPk.key)), 200)
  await call('config with a secret key', agent.get('/v1/config').set(auth(rolled)), 401)
  await call('openapi', agent.get('/v1/openapi.json'), 200)

  clock.advance(HOUR_MS)
  await call(
    'account with the old key after its grace period',
    agent.get('/v1/account').set(auth(testSk.key)),
    401,
  )
  clock.advance(DAY_MS)
  await call('me with an idle-expired CST', agent.get('/v1/me').set(auth(refreshed)), 401)
  return { rolled, token, testSk, liveSk }
}

/** The example apps over a gate whose store is down: 503 everywhere. */
async function exerciseHttpOutage(
  label: string,
  app: App,
  hay: Haystack,
  tally: Tally,
  known: { rolled: string; token: string; testSk: { record: { id: string } } },
) {
  const admin = { 'x-admin-token': adminToken }
  const auth = { authorization: `Bearer ${known.rolled}` }
  const agent = request(app)
  const requests: [string, request.Test][] = [
    ['account', agent.get('/v1/account').set(auth)],
    ['me', agent.get('/v1/me').set({ authorization: `Bearer ${known.token}` })],
    ['create a session', agent.post('/v1/client-sessions').set(auth).send({ clientId: 'u' })],
    ['roll', agent.post(`/v1/admin/keys/${known.testSk.record.id}/roll`).set(admin).send({})],
    ['provision', agent.post('/v1/admin/projects').set(admin).send({ projectId: 'proj_outage' })],
  ]
  for (const [what, test] of requests) {
    tally.requests++
    const response = await test
    expect(response.status, `${label} ${what}: ${response.text.slice(0, 300)}`).toBe(503)
    tally.refusals.set('HTTP 503', (tally.refusals.get('HTTP 503') ?? 0) + 1)
    hay.add(
      'http',
      `${label} ${what}: response 503`,
      `${JSON.stringify(response.headers)}\n${response.text}`,
    )
  }
}

describe('the scan itself', () => {
  it('finds a key or token hidden deep in an error, in a buffer, a log line or a header', () => {
    const key = createKeyFormat().generate('secret', 'live')
    const token = [
      'eyJhbGciOiJIUzI1NiJ9',
      'eyJzaWQiOiJjc18xIn0',
      randomBytes(32).toString('base64url'),
    ].join('.')
    const hay = new Haystack()
    hay.key('planted key', key)
    hay.token('planted token', token)
    // The key's random part on a hidden property of a driver error two causes down.
    const driverError = new Error('connection lost')
    Object.defineProperty(driverError, 'command', {
      value: { args: [key.slice(-KEY_BODY_LENGTH, -KEY_CHECKSUM_LENGTH)] },
      enumerable: false,
    })
    hay.error(
      'error',
      new StoreUnavailableError(undefined, { cause: new Error('wrapped', { cause: driverError }) }),
    )
    hay.error('buffer', { payload: Buffer.from(`Bearer ${token}`) })
    hay.add('log', 'log', `console.error: rejected ${key.slice(-KEY_BODY_LENGTH)}`)
    hay.add(
      'http',
      'header',
      JSON.stringify({ 'www-authenticate': `Bearer error_description="${token.split('.')[2]}"` }),
    )
    expect(hay.leaks().sort()).toEqual(
      [
        'planted key (random part) in error',
        'planted token in buffer',
        'planted token (signature) in buffer',
        'planted key (body) in log',
        'planted key (random part) in log',
        'planted token (signature) in header',
      ].sort(),
    )
  })
})

const apps: [string, (gate: Portcullis) => App][] = [
  ['Express', (gate) => createExpressApp(gate)],
  ['Koa', (gate) => createKoaApp(gate).callback()],
]

for (const backend of BACKENDS) {
  describe.skipIf(!backend.available)(`secrets stay secret on ${backend.name}`, () => {
    it('no plaintext key, token or configured secret in the store, the logs, any error or any refusal', async () => {
      const hay = new Haystack()
      hay.secret('the example operator token', adminToken)
      const tally: Tally = { authentications: 0, refusals: new Map(), thrown: 0, requests: 0 }
      const clock = createManualClock()
      const output = captureOutput()
      const closers: (() => Promise<void>)[] = []
      let opened: OpenedBackend | undefined
      try {
        const onError = (where: string) => (error: unknown) => hay.error(`${where} onError`, error)
        opened = await backend.open(clock, onError('store'))
        const secrets = gateSecrets(hay)
        const base: PortcullisOptions = {
          store: opened.store,
          clock: clock.now,
          ...secrets,
        }
        const gate = createPortcullis({ ...base, onError: onError('gate') })
        closers.push(() => gate.close())
        const known = await exerciseGate(gate, clock, hay, tally, secrets, opened.store)

        // A store outage: connections refused, then a hung store, then the backend itself gone.
        const outage = switchable(opened.store)
        const outageGate = createPortcullis({
          ...base,
          store: outage.store,
          cache: false,
          storeTimeoutMs: 200,
          onError: onError('gate during an outage'),
        })
        closers.push(() => outageGate.close())
        // Accepted while up, so a usage write is pending when the store goes down.
        expect(
          (await outageGate.authenticate(bearer(known.rolled.key), { credential: 'secret' })).ok,
        ).toBe(true)
        const outageGates: [string, Portcullis][] = [['refused', outageGate]]
        outage.mode = 'refused'
        await exerciseOutage('store refusing connections', outageGate, hay, tally, known)
        await outageGate.flush()
        outage.mode = 'hung'
        await exerciseOutage('store hung', outageGate, hay, tally, known)
        if (opened.unreachable !== undefined) {
          const down = await opened.unreachable()
          closers.push(() => down.close())
          const downGate = createPortcullis({
            ...base,
            store: down.store,
            cache: false,
            storeTimeoutMs: 1500,
            onError: onError('gate on an unreachable backend'),
          })
          closers.push(() => downGate.close())
          await exerciseOutage('unreachable backend', downGate, hay, tally, known)
          outageGates.push(['unreachable backend', downGate])
        }

        // The example apps, up and then over the failing stores.
        for (const [framework, createApp] of apps) {
          outage.mode = 'up'
          const seen = await exerciseHttp(framework, createApp(gate), clock, hay, tally)
          outage.mode = 'refused'
          for (const [what, failing] of outageGates) {
            await exerciseHttpOutage(`${framework} (${what})`, createApp(failing), hay, tally, seen)
          }
        }
        outage.mode = 'up'
        await gate.flush()
      } finally {
        for (const close of closers.reverse()) await close().catch(() => {})
        output.stop()
      }
      for (const [index, line] of output.lines.entries())
        hay.add('log', `log line ${index + 1}`, line)
      if (opened !== undefined) {
        hay.add('store', 'the store', await opened.dump())
        await opened.close()
      }

      const leaks = hay.leaks()
      const refusals = [...tally.refusals].map(([code, count]) => `${code} ${count}`).join(', ')
      console.log(
        `secrets on ${backend.name}: scanned ${hay.summary()} against ${hay.needles.size} needles ` +
          `(store ${hay.summary('store')}; logs ${hay.summary('log')}; errors ${hay.summary('error')}; ` +
          `HTTP responses ${hay.summary('http')}; auth contexts ${hay.summary('auth context')}); ` +
          `${tally.authentications} authentications, ${tally.thrown} thrown errors, ${tally.requests} HTTP requests; ` +
          `refusals: ${refusals}; leaks: ${leaks.length}`,
      )
      expect(leaks).toEqual([])
      expect(hay.count('log'), 'the audit log was captured').toBeGreaterThan(0)
      expect(hay.count('store')).toBe(1)
      expect(
        hay.items.filter((item) => item.where.endsWith('onError')).length,
        'the failed usage write reached onError',
      ).toBeGreaterThan(0)
    }, 60_000)
  })
}
