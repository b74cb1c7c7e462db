// What both example servers share: the gate on the embedded default store, the demo project,
// and the banner with the four keys and the curl walk-through.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type RequestListener } from 'node:http'
import { join } from 'node:path'
import {
  createPortcullis,
  createTokenCheck,
  isPortcullisError,
  type KeyRecord,
  type OperatorEvent,
  type Portcullis,
  type PortcullisStore,
} from 'portcullis'
import { MemoryStore } from 'portcullis/adapters/memory'
import { DASHBOARD_PATH } from './dashboard.js'

export const DEMO_PROJECT = 'proj_demo'

/** The demo's operator credential: `ADMIN_TOKEN`, or one kept beside the example's store. */
let adminToken = process.env.ADMIN_TOKEN ?? randomBytes(16).toString('hex')
// Fail-closed: an empty or short ADMIN_TOKEN stops the example at start-up.
let isAdminToken = createTokenCheck(adminToken, 'ADMIN_TOKEN')

/** One of the demo project's keys as the banner shows it. */
export interface DemoKey {
  /** The key's id; null when the project has no such key. */
  readonly id: string | null
  /** The key itself when this example can show it: just created, or a test key revealed. */
  readonly key: string | null
  /** What the banner prints in its place. */
  readonly display: string
  /**
   * A test key this example cannot decrypt (rolled or created by someone without its reveal
   * key, e.g. the CLI without PORTCULLIS_REVEAL_KEY): the banner says how to get a usable one.
   */
  readonly needsRoll: boolean
}

/** The demo project's current keys: live ones only as their redacted form after a restart. */
export interface DemoKeys {
  test: { secretKey: DemoKey; publishableKey: DemoKey }
  live: { secretKey: DemoKey; publishableKey: DemoKey }
}

export interface Demo {
  gate: Portcullis
  projectId: string
  keys: DemoKeys
  /** Says which store the example runs on, for the banner. */
  storeDescription: string
  /** Where the CLI finds the example's store and secrets; null on the memory store. */
  files: { storeUrl: string; secretsFile: string } | null
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
  files: Demo['files']
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
      files: null,
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
    files: { storeUrl: `sqlite:${file}`, secretsFile },
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
    const shown = ({ key, record }: { key: string; record: KeyRecord }): DemoKey => ({
      id: record.id,
      key,
      display: key,
      needsRoll: false,
    })
    keys = {
      test: { secretKey: shown(test.secretKey), publishableKey: shown(test.publishableKey) },
      live: { secretKey: shown(live.secretKey), publishableKey: shown(live.publishableKey) },
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
    files: opened.files,
    close: async () => {
      await gate.close()
      await opened.close()
    },
  }
}

/**
 * After a restart: the current key of each kind (never one that was rolled, even while its
 * grace period lets it work), test keys revealed again, live keys only as their redacted form.
 */
async function findKeys(gate: Portcullis): Promise<DemoKeys> {
  const now = Date.now()
  const current = (await gate.keys.list(DEMO_PROJECT)).filter(
    (record) =>
      record.type !== 'client' &&
      record.rolledToId === null &&
      (record.expiresAt === null || record.expiresAt > now),
  )
  const pick = async (mode: 'test' | 'live', type: 'secret' | 'publishable'): Promise<DemoKey> => {
    // Newest first; a key limited to some addresses only if no other one is left, since the
    // walk-through calls from this machine.
    const candidates = current
      .filter((record) => record.mode === mode && record.type === type)
      .reverse()
      .sort((a, b) => Number(a.allowedIps.length > 0) - Number(b.allowedIps.length > 0))
    const record = candidates[0]
    if (record === undefined) {
      return {
        id: null,
        key: null,
        display: '(none: create one with the admin API or the CLI)',
        needsRoll: false,
      }
    }
    if (mode === 'live') {
      return {
        id: record.id,
        key: null,
        display: `${record.redacted} (live keys are shown once; roll it to get a new one)`,
        needsRoll: false,
      }
    }
    try {
      const key = await gate.keys.reveal(record.id)
      return { id: record.id, key, display: key, needsRoll: false }
    } catch (error) {
      if (!isPortcullisError(error) || error.code !== 'key_not_revealable') throw error
      return {
        id: record.id,
        key: null,
        display: `${record.redacted} (cannot be shown again: see below)`,
        needsRoll: true,
      }
    }
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

/** Quotes a word for a POSIX shell when it needs it. */
const shellWord = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`

/**
 * How to turn a test key this example cannot show into one it can: roll it again with the
 * example's reveal key, through the admin route (the server has that key) or the CLI.
 */
function rollHints(origin: string, demo: Demo): string[] {
  const { test } = demo.keys
  const sealed = [
    ['test secret key', test.secretKey],
    ['test publishable key', test.publishableKey],
  ] as const
  const lines: string[] = []
  for (const [label, key] of sealed) {
    if (!key.needsRoll || key.id === null) continue
    lines.push(
      '',
      `The ${label} ${key.id} cannot be shown here: it was made without this example's`,
      'reveal key (by the CLI without PORTCULLIS_REVEAL_KEY?), and only the command that made it',
      'printed it. To get one this example shows, roll it again, through the admin route (the new',
      'key is the answer\'s "key"):',
      `  curl -s -X POST ${origin}/v1/admin/keys/${key.id}/roll -H "X-Admin-Token: ${adminToken}" -H "Content-Type: application/json" -d '{}'`,
    )
    if (demo.files !== null) {
      const revealKey = `node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).revealKey' ${shellWord(demo.files.secretsFile)}`
      lines.push(
        "or with the CLI and the reveal key from the example's secrets file, then restart:",
        `  PORTCULLIS_REVEAL_KEY=$(${revealKey}) npx tsx src/cli/main.ts keys roll ${key.id} --store ${shellWord(demo.files.storeUrl)}`,
      )
    }
  }
  return lines
}

/** The banner: where it listens, the four keys, and the curl calls that walk through it. */
export function banner(framework: string, origin: string, demo: Demo): string {
  const { test, live } = demo.keys
  // Without a test key to show, the walk-through names shell variables the reader sets.
  const sk = test.secretKey.key ?? '$SK'
  const pk = test.publishableKey.key ?? '$PK'
  const json = `-H "Content-Type: application/json"`
  const token = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).clientSessionToken'`
  const missing = [
    test.secretKey.key === null ? 'SK to a test secret key' : '',
    test.publishableKey.key === null ? 'PK to a test publishable key' : '',
  ].filter((text) => text !== '')
  return [
    `portcullis ${framework} example listening on ${origin}`,
    `store: ${demo.storeDescription}`,
    '',
    `project ${demo.projectId}:`,
    `  test secret key       ${test.secretKey.display}`,
    `  test publishable key  ${test.publishableKey.display}`,
    `  live secret key       ${live.secretKey.display}`,
    `  live publishable key  ${live.publishableKey.display}`,
    ...rollHints(origin, demo),
    '',
    `Dashboard (the API keys page your customers would use): ${origin}${DASHBOARD_PATH}`,
    `  sign in with the admin token ${adminToken}`,
    '',
    missing.length === 0 ? 'Try it:' : `Try it, after setting ${missing.join(' and ')}:`,
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

/**
 * Serves `handler` on 127.0.0.1:$PORT (default 3000), prints the banner once listening, and
 * closes the store on SIGINT or SIGTERM. A port that cannot be used ends the process with a
 * line saying what to do instead of a stack trace.
 */
export function serve(framework: string, demo: Demo, handler: RequestListener): void {
  const port = Number(process.env.PORT ?? 3000)
  const fail = async (message: string) => {
    console.error(message)
    await demo.close()
    process.exitCode = 1
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    void fail(
      `PORT must be a port number from 0 to 65535 (got ${JSON.stringify(process.env.PORT)})`,
    )
    return
  }
  const server = createServer(handler)
  server.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') void fail(`port ${port} is in use; set PORT to a free one`)
    else if (error.code === 'EACCES')
      void fail(`port ${port} needs privileges; set PORT to another`)
    else void fail(`cannot listen on port ${port}: ${error.message}`)
  })
  server.listen(port, '127.0.0.1', () => {
    const { port: actual } = server.address() as { port: number }
    console.log(banner(framework, `http://127.0.0.1:${actual}`, demo))
  })
  const stop = () => server.close(() => void demo.close())
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/** Whether `sent` is the admin token (compared in constant time). */
export function isOperatorToken(sent: unknown): boolean {
  return isAdminToken(sent)
}

/** The demo's `authorize` hook: an operator is whoever sends the admin token. */
export function isOperator(headers: Record<string, string | string[] | undefined>): boolean {
  return isOperatorToken(headers['x-admin-token'])
}

/** The demo's audit log: one line per change (a real app would keep them). */
export function logEvent(event: OperatorEvent): void {
  if (process.env.PORTCULLIS_EXAMPLE_QUIET !== '1') console.log('audit:', JSON.stringify(event))
}
