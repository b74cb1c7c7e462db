/**
 * Faults under load: bounded loopback load through the Express example while the credential
 * store fails — Redis killed and restarted, PostgreSQL connections terminated, a store that
 * hangs — each with the in-process cache off and on. Over every run: a valid credential never
 * gets 401 or 403, an invalid, unknown or revoked one never gets 200, nothing gets a 500 or no
 * answer, every 503 is `store_unavailable` with `Retry-After` and arrives within the store
 * deadline plus slack, nothing goes unhandled, and service resumes within a stated bound once
 * the store is back. Each run prints its counts.
 *
 * How a request is judged (by the phase it was *sent* in, see `violations` below):
 * - before: the correct answer (200 for a valid credential, 401 otherwise). One still in flight
 *   when the fault began may instead get 503: the store may have failed under it.
 * - onset (the fault being put in effect, e.g. between SIGKILL and the exit): correct or 503.
 * - outage (the fault in effect): correct or 503. When the fault is total (nothing answers),
 *   a request that needs the store and was answered before the fault began to be removed must
 *   get 503 — every one with the cache off; with the cache on, a request may be answered from
 *   what was cached before the fault (that answer is correct), but one sent `ttlMs` or more
 *   after the fault took effect finds every entry expired (entries are stamped with the time
 *   of the request that read them, all before the fault) and must get 503. One still in flight
 *   when the store came back may get either answer. Terminated PostgreSQL connections are a
 *   partial fault: the pool opens new ones at once, so only calls caught on a killed connection
 *   fail; there the rule is correct-or-503, and with the cache off some 503s must show that the
 *   fault bit.
 * - recovery (from the start of the restore until a store-backed 200 and a short settle): correct
 *   or 503.
 * - after: the correct answer, every one.
 * Credentials refused by their format alone (bad checksum, none at all) never reach the store:
 * 401 in every phase, never 503.
 */
import { randomBytes } from 'node:crypto'
import { Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../../adapters/memory/index.js'
import { RedisStore } from '../../adapters/redis/index.js'
import { nodeRedis, randomPrefix } from '../../adapters/redis/test-support/drivers.js'
import {
  findFreePort,
  RedisServerProcess,
  redisBinariesAvailable,
} from '../../adapters/redis/test-support/redis-server.js'
import { migrate, SqlStore } from '../../adapters/sql/index.js'
import {
  createPgPool,
  createPostgresDatabase,
  type TestDatabase,
} from '../../adapters/sql/test-support/databases.js'
import { createApp } from '../../examples/express/app.js'
import {
  createPortcullis,
  type Portcullis,
  type PortcullisOptions,
  type PortcullisStore,
} from '../../src/index.js'
import { randomProjectId } from '../../src/testing/index.js'
import { faultyStore, hung } from '../helpers.js'
import { serviceAvailable, serviceUrls } from '../support/services.js'
import { FULL } from './support/case-budget.js'
import {
  ClosedLoopLoad,
  type CredentialClass,
  countsTable,
  type RequestRecord,
  send,
} from './support/closed-loop-load.js'

/** Load before the fault, the fault's duration, the quiet time after recovery, the load after it. */
const BEFORE_MS = 800
const OUTAGE_MS = 2000
const SETTLE_MS = 300
const AFTER_MS = 1000
/** Service must resume within this long after the store is back. */
const RECOVERY_BOUND_MS = 5000
/** Added to the store deadline for the latest any answer (503 included) may arrive. */
const SLACK_MS = 1500
/** pg: how often the pool's backends are terminated again during the outage window. */
const TERMINATE_EVERY_MS = 250
const LOAD = { workers: 16, thinkMs: 3, maxPerPhase: 10_000, requestTimeoutMs: 10_000 } as const

const CACHE_MODES: readonly {
  name: string
  cache: NonNullable<PortcullisOptions['cache']>
  ttlMs: number
}[] = [
  { name: 'cache off', cache: false, ttlMs: 0 },
  // negativeTtlMs keeps its default (1000 ms), no longer than ttlMs.
  { name: 'cache ttlMs 1000', cache: { ttlMs: 1000 }, ttlMs: 1000 },
]

/**
 * `npm test` runs a fast subset: the hanging store in both cache modes, Redis and PostgreSQL
 * with the cache off. `npm run test:reliability` (PORTCULLIS_RELIABILITY=full) runs every pair.
 */
const SERVICE_CACHE_MODES = FULL ? CACHE_MODES : CACHE_MODES.slice(0, 1)

interface Fault {
  /**
   * `total`: from `begin()` until `end()` the store answers nothing. `partial`: the store stays
   * reachable and only calls caught by the fault fail (pg replaces a terminated connection).
   */
  readonly kind: 'total' | 'partial'
  /** Puts the fault in effect; resolves once it is. */
  begin(): Promise<void>
  /** Applied again through the outage window, when the fault is a series of blows. */
  repeat?(): Promise<void>
  /** Removes the fault; resolves once the store can answer again. */
  end(): Promise<void>
}

/** A store under test, its fault, and what to release afterwards. */
interface Target {
  readonly label: string
  readonly store: PortcullisStore
  readonly storeTimeoutMs: number
  readonly fault: Fault
  /** Report lines about the fault itself. */
  notes(): string[]
  close(): Promise<void>
}

/** Epoch ms (`Date.now()`, the gate's clock) of each boundary of one run. */
interface Timeline {
  faultBegan: number
  inEffect: number
  restoreBegan: number
  storeBack: number
  /** From `storeBack` to the answer of the first 200 for the probe key; null if none came. */
  recoveryMs: number | null
}

interface Run {
  readonly target: Target
  readonly mode: (typeof CACHE_MODES)[number]
  readonly classes: readonly CredentialClass[]
  readonly records: readonly RequestRecord[]
  readonly timeline: Timeline
  /** The latest any answer may arrive: the store deadline plus slack. */
  readonly latencyBoundMs: number
  readonly backgroundErrors: number
  /** Phases in which the load reached its cap on requests. */
  readonly cappedPhases: readonly string[]
}

const bearer = (credential: string) => `Bearer ${credential}`

async function postJson(port: number, path: string, secretKey: string, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { authorization: bearer(secretKey), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const json = (await response.json()) as Record<string, unknown>
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

/**
 * The credentials the load sends: the project's own keys and a Client Session Token issued by
 * the example's route; a key deleted and a session revoked (through the example's route);
 * a well-formed key with a valid checksum issued by another gate, so this store never held it;
 * a key with a wrong checksum; no credential. The probe key is used only to time recovery.
 */
async function prepareCredentials(gate: Portcullis, port: number) {
  const projectId = randomProjectId()
  const { test } = await gate.projects.provision(projectId)
  const secret = test.secretKey.key
  const deleted = await gate.keys.create({ projectId, type: 'secret', mode: 'test' })
  await gate.keys.delete(deleted.record.id)
  const probe = await gate.keys.create({ projectId, type: 'secret', mode: 'test' })
  const elsewhere = createPortcullis({
    store: new MemoryStore({ sweepIntervalMs: 0 }),
    sessionSecret: randomBytes(32),
  })
  const unknown = await elsewhere.keys.create({ projectId, type: 'secret', mode: 'test' })
  await elsewhere.close()
  const active = await postJson(port, '/v1/client-sessions', secret, { clientId: 'user_active' })
  const revoked = await postJson(port, '/v1/client-sessions', secret, { clientId: 'user_revoked' })
  await postJson(port, '/v1/client-sessions/revoke', secret, { clientId: 'user_revoked' })
  const badChecksum = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`

  const key = (name: string, path: string, credential: string | null, expected: 200 | 401) => ({
    name,
    path,
    authorization: credential === null ? null : bearer(credential),
    expected,
    needsStore: true,
  })
  const mix: CredentialClass[] = [
    key('secret', '/v1/account', secret, 200),
    key('publishable', '/v1/config', test.publishableKey.key, 200),
    key('session', '/v1/me', String(active.clientSessionToken), 200),
    key('unknown key', '/v1/account', unknown.key, 401),
    key('deleted key', '/v1/account', deleted.key, 401),
    key('revoked session', '/v1/me', String(revoked.clientSessionToken), 401),
    { ...key('bad checksum', '/v1/account', badChecksum, 401), needsStore: false },
    { ...key('no credential', '/v1/config', null, 401), needsStore: false },
  ]
  return { mix, probe: key('probe key', '/v1/account', probe.key, 200) }
}

/** One run: load before, during and after the fault, with the gate and app built fresh. */
async function runUnderFault(target: Target, mode: (typeof CACHE_MODES)[number]): Promise<Run> {
  let backgroundErrors = 0
  const gate = createPortcullis({
    store: target.store,
    sessionSecret: randomBytes(32),
    storeTimeoutMs: target.storeTimeoutMs,
    cache: mode.cache,
    onError: () => {
      backgroundErrors++
    },
  })
  const server = createApp(gate).listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  let load: ClosedLoopLoad | undefined
  let faulted = false
  try {
    const { mix, probe } = await prepareCredentials(gate, port)
    const classes = [...mix, probe]
    // Every credential gets its correct answer before anything fails.
    const checking = new Agent()
    for (const credential of mix) {
      const outcome = await send(checking, port, credential, 5000)
      expect(outcome.status, `${credential.name} while the store is healthy`).toBe(
        credential.expected,
      )
    }
    checking.destroy()

    load = new ClosedLoopLoad({ port, mix, ...LOAD })
    await sleep(BEFORE_MS)

    load.phase = 'onset'
    const faultBegan = Date.now()
    faulted = true
    await target.fault.begin()
    const inEffect = Date.now()
    load.phase = 'outage'
    while (Date.now() < inEffect + OUTAGE_MS) {
      await sleep(Math.min(TERMINATE_EVERY_MS, inEffect + OUTAGE_MS - Date.now()))
      if (target.fault.repeat !== undefined && Date.now() < inEffect + OUTAGE_MS) {
        await target.fault.repeat()
      }
    }

    load.phase = 'recovery'
    const restoreBegan = Date.now()
    await target.fault.end()
    faulted = false
    const storeBack = Date.now()
    // The probe key was never used before, so its first 200 was read from the store.
    let recoveryMs: number | null = null
    while (recoveryMs === null && Date.now() - storeBack < RECOVERY_BOUND_MS) {
      const { agent } = load
      const record = await load.measure(probe, () => send(agent, port, probe, 5000))
      if (record.status === 200) recoveryMs = record.answeredAt - storeBack
      else await sleep(20)
    }
    await sleep(SETTLE_MS)
    load.phase = 'after'
    await sleep(AFTER_MS)
    const records = await load.stop()

    const run: Run = {
      target,
      mode,
      classes,
      records,
      timeline: { faultBegan, inEffect, restoreBegan, storeBack, recoveryMs },
      latencyBoundMs: target.storeTimeoutMs + SLACK_MS,
      backgroundErrors,
      cappedPhases: load.cappedPhases,
    }
    console.log(report(run))
    return run
  } finally {
    await load?.stop()
    if (faulted) await target.fault.end()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await gate.close()
    await target.close()
  }
}

function report(run: Run): string {
  const { records, timeline } = run
  const unavailable = records.filter((r) => r.status === 503)
  const maxLatency = (list: readonly RequestRecord[]) =>
    list.length === 0 ? '-' : `${Math.round(Math.max(...list.map((r) => r.latencyMs)))} ms`
  const duration =
    Math.max(...records.map((r) => r.answeredAt)) - Math.min(...records.map((r) => r.sentAt))
  return countsTable(
    `${run.target.label} · ${run.mode.name}`,
    records,
    run.classes.map((c) => c.name),
    [
      `${records.length} requests in ${(duration / 1000).toFixed(1)} s; ${unavailable.length} got 503, slowest 503 ${maxLatency(unavailable)}, slowest answer ${maxLatency(records)} (bound ${run.latencyBoundMs} ms)`,
      `outage ${timeline.restoreBegan - timeline.inEffect} ms; serving again ${timeline.recoveryMs === null ? 'NOT within the bound' : `${timeline.recoveryMs} ms`} after the store was back (bound ${RECOVERY_BOUND_MS} ms); background errors ${run.backgroundErrors}${run.cappedPhases.length > 0 ? `; request cap reached in ${run.cappedPhases.join(', ')}` : ''}`,
      ...run.target.notes(),
    ],
  )
}

/** Every broken rule, with how often and one example; empty when the run behaved. */
function violations(run: Run): string[] {
  const { timeline: t, mode } = run
  const total = run.target.fault.kind === 'total'
  const classes = new Map(run.classes.map((c) => [c.name, c]))
  const broken = new Map<string, { count: number; example: RequestRecord }>()
  const note = (rule: string, record: RequestRecord) => {
    const seen = broken.get(rule)
    if (seen === undefined) broken.set(rule, { count: 1, example: record })
    else seen.count++
  }
  for (const r of run.records) {
    const credential = classes.get(r.credential) as CredentialClass
    const correct = r.status === credential.expected
    const unavailable = r.status === 503
    if (credential.expected === 200 && (r.status === 401 || r.status === 403)) {
      note('a valid credential was refused', r)
    }
    if (credential.expected === 401 && r.status === 200) note('an invalid credential got 200', r)
    if (!correct && !unavailable) note('neither the correct answer nor 503', r)
    if (unavailable) {
      if (r.code !== 'store_unavailable') note('503 without code store_unavailable', r)
      if (r.retryAfter === undefined) note('503 without Retry-After', r)
      if (!credential.needsStore) note('503 for a credential refused by its format', r)
    }
    if (r.latencyMs > run.latencyBoundMs) note('answered after the deadline plus slack', r)
    if (r.phase === 'before' && !correct && r.answeredAt < t.faultBegan) {
      note('before the fault: not the correct answer', r)
    }
    if (r.phase === 'after' && !correct) note('after recovery: not the correct answer', r)
    if (
      r.phase === 'outage' &&
      total &&
      credential.needsStore &&
      r.answeredAt < t.restoreBegan &&
      r.sentAt >= t.inEffect + mode.ttlMs &&
      !unavailable
    ) {
      note('during the outage: a request that needs the store did not get 503', r)
    }
  }
  return [...broken.entries()].map(
    ([rule, { count, example: e }]) =>
      `${rule}: ${count}× (e.g. ${e.credential}, sent in ${e.phase} at +${e.sentAt - t.faultBegan} ms from the fault: ${e.status} ${e.code ?? ''} in ${Math.round(e.latencyMs)} ms)`,
  )
}

/** The run's own checks: the rules, enough load in every phase, recovery in time. */
function expectSound(run: Run): void {
  expect(violations(run)).toEqual([])
  const { timeline: t } = run
  expect(t.recoveryMs, 'service resumed after the store was back').not.toBeNull()
  expect(t.recoveryMs).toBeLessThan(RECOVERY_BOUND_MS)
  for (const credential of run.classes) {
    if (credential.name === 'probe key') continue
    const mine = run.records.filter((r) => r.credential === credential.name)
    for (const phase of ['before', 'outage', 'after'] as const) {
      expect(
        mine.filter((r) => r.phase === phase).length,
        `${credential.name} requests sent in ${phase}`,
      ).toBeGreaterThan(0)
    }
    // The decisive window of a total fault was exercised for every credential that needs the store.
    if (run.target.fault.kind === 'total' && credential.needsStore) {
      const decisive = mine.filter(
        (r) =>
          r.phase === 'outage' &&
          r.sentAt >= t.inEffect + run.mode.ttlMs &&
          r.answeredAt < t.restoreBegan,
      )
      expect(decisive.length, `${credential.name}: requests that must get 503`).toBeGreaterThan(0)
    }
  }
  if (run.target.fault.kind === 'partial' && run.mode.cache === false) {
    // With nothing cached every request queries: terminating busy backends must show.
    expect(
      run.records.filter((r) => r.status === 503).length,
      '503s caused by terminated connections',
    ).toBeGreaterThan(0)
  }
}

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeAll(() => {
  // The example's routes log an audit line per event; the counts are what matters here.
  vi.stubEnv('PORTCULLIS_EXAMPLE_QUIET', '1')
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)
})
afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
  process.off('uncaughtException', onUnhandled)
  vi.unstubAllEnvs()
})
afterEach(() => {
  expect(unhandled, 'unhandled rejections and uncaught exceptions').toEqual([])
})

const RUN_TIMEOUT_MS = 30_000

describe('a store that hangs (every call never settles), under load', () => {
  for (const mode of CACHE_MODES) {
    it(
      `${mode.name}: 503 within storeTimeoutMs during the hang, no wrong answer, service resumes`,
      async () => {
        let hanging = false
        const run = await runUnderFault(
          {
            label: 'MemoryStore hangs (storeTimeoutMs 300)',
            store: faultyStore(hung, () => hanging),
            storeTimeoutMs: 300,
            fault: {
              kind: 'total',
              begin: async () => {
                hanging = true
              },
              end: async () => {
                hanging = false
              },
            },
            notes: () => [],
            close: async () => {},
          },
          mode,
        )
        expectSound(run)
      },
      RUN_TIMEOUT_MS,
    )
  }
})

describe.skipIf(!redisBinariesAvailable())(
  'Redis killed and restarted under load (needs the redis-server binary)',
  () => {
    let server: RedisServerProcess
    beforeAll(async () => {
      // Append-only file synced on every write: the keys outlive the SIGKILL and the restart.
      server = new RedisServerProcess(await findFreePort(), { persistent: true })
      await server.start()
    })
    afterAll(async () => {
      await server?.dispose()
    })

    for (const mode of SERVICE_CACHE_MODES) {
      it(
        `${mode.name}: 503 while Redis is down, no wrong answer, the same clients serve again after the restart`,
        async () => {
          // node-redis as the README configures it: no offline queue, reconnects forever.
          const { client, subscriber, close } = await nodeRedis.connect(server.url)
          const store = new RedisStore({
            client,
            subscriber,
            prefix: randomPrefix('portcullis-load'),
            commandTimeoutMs: 500,
          })
          const run = await runUnderFault(
            {
              label: 'Redis SIGKILLed and restarted (node-redis, storeTimeoutMs 1000)',
              store,
              storeTimeoutMs: 1000,
              fault: { kind: 'total', begin: () => server.stop(), end: () => server.start() },
              notes: () => [],
              close,
            },
            mode,
          )
          expectSound(run)
        },
        RUN_TIMEOUT_MS,
      )
    }
  },
)

describe.skipIf(!(await serviceAvailable('postgres')))(
  'PostgreSQL connections terminated under load',
  () => {
    let database: TestDatabase
    let admin: pg.Client
    beforeAll(async () => {
      database = createPostgresDatabase()
      await migrate(database.connect().db, { tablePrefix: database.prefix })
      admin = new pg.Client({
        connectionString: serviceUrls.postgres,
        application_name: `${database.prefix}admin`,
      })
      admin.on('error', () => {})
      await admin.connect()
    })
    afterAll(async () => {
      await admin?.end()
      await database?.drop()
    })

    for (const [index, mode] of SERVICE_CACHE_MODES.entries()) {
      it(
        `${mode.name}: requests on killed connections get 503, none a wrong answer, the pool recovers`,
        async () => {
          // Only this run's own connections carry this name; nothing else is terminated.
          const applicationName = `${database.prefix}load${index}`
          // createPgPool listens for 'error' on the pool and on every client (README: faults).
          const pool = createPgPool(serviceUrls.postgres, applicationName)
          const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
          const listen = async () => {
            const client = new pg.Client({
              connectionString: serviceUrls.postgres,
              application_name: applicationName,
            })
            client.on('error', () => {})
            await client.connect()
            return client
          }
          let storeErrors = 0
          const store = new SqlStore(db, {
            tablePrefix: database.prefix,
            sweepIntervalMs: 0,
            listen,
            onError: () => {
              storeErrors++
            },
          })
          const rounds: number[] = []
          const terminate = async () => {
            const { rows } = await admin.query(
              `select pg_terminate_backend(pid) from pg_stat_activity
                where application_name = $1 and pid <> pg_backend_pid()`,
              [applicationName],
            )
            rounds.push(rows.length)
          }
          const run = await runUnderFault(
            {
              label: `PostgreSQL: the pool's backends terminated every ${TERMINATE_EVERY_MS} ms (storeTimeoutMs 1000)`,
              store,
              storeTimeoutMs: 1000,
              fault: { kind: 'partial', begin: terminate, repeat: terminate, end: async () => {} },
              notes: () => [
                `backends terminated per round: ${rounds.join(' ')}; store background errors ${storeErrors}`,
              ],
              close: async () => {
                await store.close()
                await db.destroy()
              },
            },
            mode,
          )
          expect(rounds[0], 'backends of the pool terminated by the first round').toBeGreaterThan(0)
          expectSound(run)
        },
        RUN_TIMEOUT_MS,
      )
    }
  },
)
