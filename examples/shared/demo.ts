// What both example servers share: the gate on the embedded default store, the demo project,
// and the banner with the four keys and the curl walk-through.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createPortcullis,
  createTokenCheck,
  isPortcullisError,
  type OperatorEvent,
  type Portcullis,
  type PortcullisStore,
} from 'portcullis'
import { MemoryStore } from 'portcullis/adapters/memory'

export const DEMO_PROJECT = 'proj_demo'

/** The demo's operator credential: `ADMIN_TOKEN`, or one kept beside the example's store. */
let adminToken = process.env.ADMIN_TOKEN ?? randomBytes(16).toString('hex')
// Fail-closed: an empty or short ADMIN_TOKEN stops the example at start-up.
let isAdminToken = createTokenCheck(adminToken, 'ADMIN_TOKEN')

/** The demo project's keys as the banner shows them: live keys only when just created. */
export interface DemoKeys {
  test: { secretKey: string; publishableKey: string }
  live: { secretKey: string; publishableKey: string }
}

export interface Demo {
  gate: Portcullis
  projectId: string
  keys: DemoKeys
  /** Says which store the example runs on, for the banner. */
  storeDescription: string
  close(): Promise<void>
}

interface Secrets {
  sessionSecret: string
  revealKey: string
  adminToken: string
}

const newSecrets = (): Secrets => ({
  sessionSecret: randomBytes(32).toString('base64url'),
  revealKey: randomBytes(32).toString('base64url'),
  adminToken: randomBytes(16).toString('hex'),
})

/**
 * The embedded default store: a SQLite file when better-sqlite3 is installed (keys survive a
 * restart), else memory. With the file come the secrets that must outlive a restart too.
 */
async function openStore(): Promise<{
  store: PortcullisStore
  secrets: Secrets
  description: string
  close: () => Promise<void>
}> {
  const dir = process.env.PORTCULLIS_EXAMPLE_DIR ?? '.portcullis'
  let sqlite: [
    typeof import('better-sqlite3'),
    typeof import('kysely'),
    typeof import('portcullis/adapters/sql'),
  ]
  try {
    sqlite = await Promise.all([
      import('better-sqlite3').then((module) => module.default),
      import('kysely'),
      import('portcullis/adapters/sql'),
    ])
  } catch {
    return {
      store: new MemoryStore(),
      secrets: newSecrets(),
      description: 'memory (new keys on every start; install better-sqlite3 to keep them)',
      close: async () => {},
    }
  }
  const [Database, { Kysely, SqliteDialect }, { migrate, SqlStore }] = sqlite
  mkdirSync(dir, { recursive: true })
  const secretsFile = join(dir, 'example-secrets.json')
  if (!existsSync(secretsFile))
    writeFileSync(secretsFile, JSON.stringify(newSecrets()), { mode: 0o600 })
  const file = join(dir, 'example.db')
  const db = new Kysely({ dialect: new SqliteDialect({ database: new Database(file) }) })
  await migrate(db)
  const store = new SqlStore(db)
  return {
    store,
    secrets: JSON.parse(readFileSync(secretsFile, 'utf8')) as Secrets,
    description: `SQLite file ${file} (keys survive restarts; delete ${dir} to start over)`,
    close: async () => {
      await store.close()
      await db.destroy()
    },
  }
}

/** A gate on the embedded store with the demo project provisioned (or found again). */
export async function startDemo(): Promise<Demo> {
  const opened = await openStore()
  adminToken = process.env.ADMIN_TOKEN ?? opened.secrets.adminToken
  isAdminToken = createTokenCheck(adminToken, 'ADMIN_TOKEN')
  const gate = createPortcullis({
    store: opened.store,
    sessionSecret: process.env.CST_SECRET ?? opened.secrets.sessionSecret,
    // Lets the example show its test keys again after a restart; live keys never are.
    revealKey: opened.secrets.revealKey,
  })
  let keys: DemoKeys
  try {
    const { test, live } = await gate.projects.provision(DEMO_PROJECT)
    keys = {
      test: { secretKey: test.secretKey.key, publishableKey: test.publishableKey.key },
      live: { secretKey: live.secretKey.key, publishableKey: live.publishableKey.key },
    }
  } catch (error) {
    if (!isPortcullisError(error) || error.code !== 'project_exists') throw error
    keys = await findKeys(gate)
  }
  return {
    gate,
    projectId: DEMO_PROJECT,
    keys,
    storeDescription: opened.description,
    close: async () => {
      await gate.close()
      await opened.close()
    },
  }
}

/** After a restart: test keys revealed again, live keys only as their redacted form. */
async function findKeys(gate: Portcullis): Promise<DemoKeys> {
  const records = (await gate.keys.list(DEMO_PROJECT)).filter(
    (record) =>
      record.type !== 'client' && (record.expiresAt === null || record.expiresAt > Date.now()),
  )
  const pick = async (mode: 'test' | 'live', type: 'secret' | 'publishable') => {
    const record = records.find((candidate) => candidate.mode === mode && candidate.type === type)
    if (record === undefined) return '(none: create one with the admin API or the CLI)'
    if (mode === 'test') return gate.keys.reveal(record.id)
    return `${record.redacted} (live keys are shown once; roll it to get a new one)`
  }
  return {
    test: {
      secretKey: await pick('test', 'secret'),
      publishableKey: await pick('test', 'publishable'),
    },
    live: {
      secretKey: await pick('live', 'secret'),
      publishableKey: await pick('live', 'publishable'),
    },
  }
}

/** The banner: where it listens, the four keys, and the curl calls that walk through it. */
export function banner(framework: string, origin: string, demo: Demo): string {
  const { test, live } = demo.keys
  const sk = test.secretKey
  const pk = test.publishableKey
  const json = `-H "Content-Type: application/json"`
  const token = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).clientSessionToken'`
  return [
    `portcullis ${framework} example listening on ${origin}`,
    `store: ${demo.storeDescription}`,
    '',
    `project ${demo.projectId}:`,
    `  test secret key       ${sk}`,
    `  test publishable key  ${pk}`,
    `  live secret key       ${live.secretKey}`,
    `  live publishable key  ${live.publishableKey}`,
    '',
    'Try it:',
    `curl -s ${origin}/v1/account -H "Authorization: Bearer ${sk}"`,
    `curl -s ${origin}/v1/config -H "Authorization: Bearer ${pk}"`,
    `curl -s ${origin}/v1/config -H "Authorization: Bearer ${sk}"`,
    `TOKEN=$(curl -s -X POST ${origin}/v1/client-sessions -H "Authorization: Bearer ${sk}" ${json} -d '{"clientId":"user_42"}' | ${token})`,
    `curl -s ${origin}/v1/me -H "Authorization: Bearer $TOKEN"`,
    `curl -s -X POST ${origin}/v1/client-sessions/refresh -H "Authorization: Bearer ${sk}" ${json} -d '{"clientId":"user_42"}'`,
    `curl -s ${origin}/v1/internal/stats`,
    `curl -s ${origin}/v1/admin/projects/${demo.projectId}/keys?mode=test -H "X-Admin-Token: ${adminToken}"`,
    '',
  ].join('\n')
}

/** The demo's `authorize` hook: an operator is whoever sends the admin token. */
export function isOperator(headers: Record<string, string | string[] | undefined>): boolean {
  return isAdminToken(headers['x-admin-token'])
}

/** The demo's audit log: one line per change (a real app would keep them). */
export function logEvent(event: OperatorEvent): void {
  if (process.env.PORTCULLIS_EXAMPLE_QUIET !== '1') console.log('audit:', JSON.stringify(event))
}
