import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AuthContext,
  type AuthenticateRequest,
  type CredentialKind,
  createPortcullis,
  type Portcullis,
  type StoreChange,
  type Unwatch,
} from '../../src/index.js'
import { randomProjectId } from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import {
  type AdminClient,
  type Connections,
  connectAdmin,
  deleteUnder,
  ioRedis5,
  nodeRedis,
  randomPrefix,
} from './test-support/drivers.js'

const available = await serviceAvailable('redis')

const TRIALS = 50
/** A correctness bound (B must hear every change, and soon), not a performance target. */
const PROPAGATION_BOUND_MS = 1000

const ADDRESS = '203.0.113.7'
const request = (credential: string): AuthenticateRequest => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress: ADDRESS,
})

/** One way instance A changes what instance B must stop accepting. */
interface Scenario {
  readonly name: string
  /** Creates the credential through A; returns it, the change B will hear, and the change itself. */
  prepare(): Promise<{
    credential: string
    kind: CredentialKind
    isTheChange: (change: StoreChange) => boolean
    change: () => Promise<unknown>
    refusedWith: string
  }>
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

describe.skipIf(!available)('cross-instance revocation through Redis', () => {
  const prefix = randomPrefix('portcullis-revocation-test')
  const sessionSecret = randomBytes(32)
  let admin: AdminClient
  let connectionsA: Connections
  let connectionsB: Connections
  let gateA: Portcullis
  let gateB: Portcullis
  let storeB: RedisStore

  beforeAll(async () => {
    admin = await connectAdmin(serviceUrls.redis)
    // Two app instances: their own clients (node-redis on A, ioredis on B), one Redis.
    connectionsA = await nodeRedis.connect(serviceUrls.redis)
    connectionsB = await ioRedis5.connect(serviceUrls.redis)
    const { client, subscriber } = connectionsA
    const storeA = new RedisStore({ client, subscriber, prefix })
    storeB = new RedisStore({
      client: connectionsB.client,
      subscriber: connectionsB.subscriber,
      prefix,
    })
    gateA = createPortcullis({ store: storeA, sessionSecret })
    gateB = createPortcullis({ store: storeB, sessionSecret })
  })
  afterAll(async () => {
    await gateA?.close()
    await gateB?.close()
    await connectionsA?.close()
    await connectionsB?.close()
    await deleteUnder(admin, prefix)
    await admin.close()
  })

  it(`B stops accepting what A rolled, deleted, re-allowlisted or revoked, and hears of it within ${PROPAGATION_BOUND_MS} ms (${TRIALS} trials)`, async () => {
    const projectId = randomProjectId()
    const { test } = await gateA.projects.provision(projectId)
    const server = await gateA.authenticate(request(test.secretKey.key), { credential: 'secret' })
    if (!server.ok) throw server.error
    const serverAuth: AuthContext = server.auth

    const newKey = async () => {
      const { key, record } = await gateA.keys.create({ projectId, type: 'secret', mode: 'test' })
      const isTheChange = (change: StoreChange) =>
        change.type === 'key' && change.keyId === record.id
      return { key, id: record.id, isTheChange }
    }
    let clients = 0
    const scenarios: Scenario[] = [
      {
        name: 'roll',
        async prepare() {
          const { key, id, isTheChange } = await newKey()
          const change = () => gateA.keys.roll(id)
          return {
            credential: key,
            kind: 'secret',
            isTheChange,
            change,
            refusedWith: 'api_key_expired',
          }
        },
      },
      {
        name: 'delete',
        async prepare() {
          const { key, id, isTheChange } = await newKey()
          const change = () => gateA.keys.delete(id)
          return {
            credential: key,
            kind: 'secret',
            isTheChange,
            change,
            refusedWith: 'api_key_invalid',
          }
        },
      },
      {
        name: 'allowlist',
        async prepare() {
          const { key, id, isTheChange } = await newKey()
          const change = () => gateA.keys.setAllowedIps(id, ['198.51.100.0/24'])
          return {
            credential: key,
            kind: 'secret',
            isTheChange,
            change,
            refusedWith: 'ip_not_allowed',
          }
        },
      },
      {
        name: 'revoke session',
        async prepare() {
          const { token, session } = await gateA.sessions.create(serverAuth, { clientId: 'user_1' })
          return {
            credential: token,
            kind: 'session',
            isTheChange: (change) => change.type === 'session' && change.sessionId === session.id,
            change: () => gateA.sessions.revoke(session.id),
            refusedWith: 'session_revoked',
          }
        },
      },
      {
        name: 'revoke client',
        async prepare() {
          const clientId = `user_${++clients}`
          const { token } = await gateA.sessions.create(serverAuth, { clientId })
          return {
            credential: token,
            kind: 'session',
            isTheChange: (change) => change.type === 'client' && change.clientId === clientId,
            change: () => gateA.sessions.revokeClient(serverAuth, clientId),
            refusedWith: 'session_revoked',
          }
        },
      },
    ]

    let waiting: { match: (change: StoreChange) => boolean; heard: (at: number) => void } | null =
      null
    const unwatch: Unwatch = await storeB.watch((change) => {
      const at = performance.now()
      if (waiting?.match(change)) waiting.heard(at)
    })
    const sinceCall: number[] = []
    const sinceWrite: number[] = []
    try {
      for (let trial = 0; trial < TRIALS; trial++) {
        const scenario = scenarios[trial % scenarios.length] as Scenario
        const { credential, kind, isTheChange, change, refusedWith } = await scenario.prepare()
        expect((await gateB.authenticate(request(credential), { credential: kind })).ok).toBe(true)

        let timer: NodeJS.Timeout | undefined
        const heard = new Promise<number>((resolve, reject) => {
          waiting = { match: isTheChange, heard: resolve }
          timer = setTimeout(
            () =>
              reject(
                new Error(`B did not hear the ${scenario.name} within ${PROPAGATION_BOUND_MS} ms`),
              ),
            PROPAGATION_BOUND_MS,
          )
        })
        const called = performance.now()
        await change()
        const written = performance.now()
        try {
          const at = await heard
          sinceCall.push(at - called)
          sinceWrite.push(Math.max(0, at - written))
        } finally {
          clearTimeout(timer)
          waiting = null
        }
        // B's in-process cache dropped the entry on the same message, so B refuses at once.
        const after = await gateB.authenticate(request(credential), { credential: kind })
        expect(after.ok, `${scenario.name}: B still accepts the old state`).toBe(false)
        if (!after.ok) expect(after.error.code, scenario.name).toBe(refusedWith)
      }
    } finally {
      await unwatch()
    }

    const summary = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b)
      const ms = (value: number) => `${value.toFixed(2)} ms`
      return `median ${ms(percentile(sorted, 50))}, p95 ${ms(percentile(sorted, 95))}, max ${ms(sorted.at(-1) as number)}`
    }
    console.log(
      `revocation propagation A -> B over ${TRIALS} trials (roll, delete, allowlist, session, client):\n` +
        `  from A's call to B's watch() listener: ${summary(sinceCall)}\n` +
        `  from A's write returning to B's listener: ${summary(sinceWrite)}`,
    )
    expect(Math.max(...sinceCall)).toBeLessThan(PROPAGATION_BOUND_MS)
  })
})
