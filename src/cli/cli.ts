import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { ConflictError, isPortcullisError, NotFoundError } from '../core/errors.js'
import { createPortcullis, type Portcullis } from '../core/portcullis.js'
import type { KeyRecord, SessionRecord } from '../core/records.js'
import type { KeyType, Mode } from '../core/types.js'
import { type OpenedStore, openStore, StoreUrlError } from './open-store.js'

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** portcullis refused the operation: invalid input, not found, conflict. */
  refused: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** The store could not be reached. */
  unavailable: 3,
} as const

export interface CliIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
}

export const USAGE = `portcullis — manage API keys and client sessions in a portcullis store

Usage: portcullis <command> [options]

Commands:
  migrate                                   create or upgrade the SQL schema (idempotent); the
                                            only command that creates a missing SQLite file
  projects provision <projectId>            create a project's four keys; prints them once
  projects list                             the ids of the projects that have keys
  keys create --project <id> --type <secret|publishable|client> --mode <test|live>
              [--name <name>] [--allow-ip <cidr>]... [--expires-at <ISO date|epoch ms>]
              [--client-id <id>]           prints the new key once
  keys list --project <id> [--mode <m>] [--type <t>]   never prints a secret
  keys get <keyId>                          one key's record; never prints the secret
  keys roll <keyId> [--grace <duration>]    new key now; the old one stops at once, or works
                                            <duration> more (90s, 30m, 2h, 1d; at most 7d)
  keys delete <keyId>
  keys allow-ip <keyId> <cidr>... | --clear replace a secret key's IP allowlist
  keys reveal <keyId>                       print a test key again (needs PORTCULLIS_REVEAL_KEY)
  sessions list --project <id> --client-id <id> [--mode <m>]
                                            a client's sessions, both modes unless --mode
  sessions revoke <sessionId>               also succeeds (exit 0) if it was already revoked

Options:
  --store <url>   sqlite:<file>, postgres://…, mysql://…, redis://…; prefer setting
                  PORTCULLIS_STORE for a URL with a password: a flag is visible to every
                  user of the machine (ps) and lands in your shell history
  --json          machine-readable output
  -h, --help      this help

Environment: PORTCULLIS_PEPPER, PORTCULLIS_KEY_PREFIX and PORTCULLIS_REVEAL_KEY must match
your application's pepper, keyPrefix and revealKey, or its keys will not match the CLI's;
PORTCULLIS_TABLE_PREFIX (SqlStore tablePrefix) and PORTCULLIS_REDIS_PREFIX (RedisStore
prefix) name where the application keeps them.

Exit codes: 0 done, 1 refused (invalid, not found, conflict), 2 usage, 3 store unavailable.
`

class UsageError extends Error {}

const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const
type Unit = keyof typeof UNIT_MS
const DURATION = /^(\d+)(ms|s|m|h|d)$/

/** A duration as typed, so that messages about it can use the same unit. */
interface Duration {
  readonly ms: number
  readonly unit: Unit
}

function parseDuration(text: string, flag: string): Duration {
  const match = DURATION.exec(text)
  // A bare number is refused: "--grace 30" would otherwise mean 30 ms to some and 30 min to others.
  if (match === null) throw new UsageError(`${flag} takes a duration such as 90s, 30m, 2h or 1d`)
  const unit = match[2] as Unit
  return { ms: Number(match[1]) * UNIT_MS[unit], unit }
}

/** `ms` in `unit` when it is a whole number of them, else in the largest unit that is. */
function formatDuration(ms: number, unit: Unit): string {
  if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  const exact = (['d', 'h', 'm', 's', 'ms'] as const).find((u) => ms % UNIT_MS[u] === 0) ?? 'ms'
  return `${ms / UNIT_MS[exact]}${exact}`
}

function parseInstant(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(value))
    throw new UsageError(`${flag} takes an ISO date or epoch milliseconds`)
  return value
}

const iso = (epochMs: number | null, none = 'never') =>
  epochMs === null ? none : new Date(epochMs).toISOString()

function keyLine(record: KeyRecord): string {
  const extras = [
    record.allowedIps.length > 0 ? `ips=${record.allowedIps.join(',')}` : '',
    record.expiresAt === null ? '' : `expires=${iso(record.expiresAt)}`,
    record.rolledToId === null ? '' : `rolled-to=${record.rolledToId}`,
  ].filter((part) => part !== '')
  return [
    record.id,
    record.redacted,
    record.mode,
    record.type,
    JSON.stringify(record.name),
    ...extras,
  ].join('  ')
}

/** Rows as columns padded to their widest cell. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  )
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length] as number
}

/** The closest candidate, if it is close enough to be a typo rather than another word. */
function closest(typed: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const d = distance(typed, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.min(2, Math.floor(typed.length / 2)) ? best : undefined
}

/** Every password-like part of the store URL, so no message can echo it. */
function secretsOf(url: string | undefined): string[] {
  if (url === undefined) return []
  try {
    const { password } = new URL(url)
    if (password === '') return []
    let decoded = password
    try {
      decoded = decodeURIComponent(password)
    } catch {}
    return [...new Set([password, decoded])].sort((a, b) => b.length - a.length)
  } catch {
    return []
  }
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@')
  for (const secret of secrets) out = out.split(secret).join('***')
  return out
}

/** The library's advice is for code; an operator at a shell runs the command instead. */
const forTheShell = (message: string) =>
  message.replace(/run migrate\(db\)/g, 'run portcullis migrate')

/** What the driver said, following `cause` (and the parts of an AggregateError). */
function causesOf(error: unknown): string[] {
  const out: string[] = []
  const seen = new Set<unknown>()
  let current = (error as { cause?: unknown } | null)?.cause
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current)
    const text = describeOne(current)
    if (text !== '' && !out.includes(text)) out.push(text)
    current = (current as { cause?: unknown }).cause
  }
  return out
}

function describeOne(error: object): string {
  const { message, code, errors } = error as { message?: unknown; code?: unknown; errors?: unknown }
  if (typeof message === 'string' && message !== '') return message
  // node's happy-eyeballs connect failures are AggregateErrors with an empty message.
  if (Array.isArray(errors)) {
    const parts = errors
      .map((part) => (typeof part === 'object' && part !== null ? describeOne(part) : ''))
      .filter((part) => part !== '')
    if (parts.length > 0) return [...new Set(parts)].join('; ')
  }
  return typeof code === 'string' ? code : ''
}

/** Runs one command; resolves to the exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    io.stderr(`portcullis: ${(error as Error).message}\nRun portcullis --help for usage.\n`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  if (values.help === true || positionals.length === 0) {
    io.stdout(USAGE)
    return positionals.length === 0 && values.help !== true ? EXIT.usage : EXIT.ok
  }
  let resolved: { name: string; command: Command }
  try {
    resolved = commandOf(positionals)
  } catch (error) {
    io.stderr(`portcullis: ${(error as Error).message}\nRun portcullis --help for usage.\n`)
    return EXIT.usage
  }
  const url = values.store ?? io.env.PORTCULLIS_STORE
  if (url === undefined) {
    io.stderr('portcullis: no store: pass --store <url> or set PORTCULLIS_STORE\n')
    return EXIT.usage
  }
  const secrets = secretsOf(url)
  const fail = (text: string, error?: unknown) => {
    const causes = error === undefined ? [] : causesOf(error).map((cause) => `\n  cause: ${cause}`)
    io.stderr(redact(`portcullis: ${forTheShell(text)}${causes.join('')}\n`, secrets))
  }
  const json = values.json === true
  const print = (human: string, machine: unknown) =>
    io.stdout(json ? `${JSON.stringify(machine, null, 2)}\n` : `${human}\n`)

  let opened: OpenedStore | undefined
  try {
    opened = await openStore(url, {
      tablePrefix: io.env.PORTCULLIS_TABLE_PREFIX,
      redisPrefix: io.env.PORTCULLIS_REDIS_PREFIX,
      createSqliteFile: resolved.name === 'migrate',
    })
    const { store } = opened
    const gate = configure(() =>
      createPortcullis({
        store,
        // The CLI never signs a session token; the secret only satisfies the constructor.
        sessionSecret: io.env.PORTCULLIS_SESSION_SECRET ?? randomBytes(32),
        // Longer than the drivers' connect timeouts, so that their own reason reaches the user.
        storeTimeoutMs: 10_000,
        // The CLI authenticates nothing: a cache would only open a change feed to no purpose.
        cache: false,
        ...(io.env.PORTCULLIS_PEPPER === undefined ? {} : { pepper: io.env.PORTCULLIS_PEPPER }),
        ...(io.env.PORTCULLIS_KEY_PREFIX === undefined
          ? {}
          : { keyPrefix: io.env.PORTCULLIS_KEY_PREFIX }),
        ...(io.env.PORTCULLIS_REVEAL_KEY === undefined
          ? {}
          : { revealKey: io.env.PORTCULLIS_REVEAL_KEY }),
      }),
    )
    try {
      await resolved.command({ gate, opened, values, args: positionals, print, env: io.env })
    } finally {
      await gate.close()
    }
    return EXIT.ok
  } catch (error) {
    if (error instanceof UsageError || error instanceof StoreUrlError) {
      fail(error.message)
      return EXIT.usage
    }
    if (isPortcullisError(error)) {
      fail(`${error.code}: ${error.message}`, error)
      return error.code === 'store_unavailable' ? EXIT.unavailable : EXIT.refused
    }
    fail(`the store could not be reached: ${describeOne(error as object) || String(error)}`, error)
    return EXIT.unavailable
  } finally {
    await opened?.close().catch(() => {})
  }
}

const OPTIONS = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  project: { type: 'string' },
  type: { type: 'string' },
  mode: { type: 'string' },
  name: { type: 'string' },
  'allow-ip': { type: 'string', multiple: true },
  'expires-at': { type: 'string' },
  'client-id': { type: 'string' },
  grace: { type: 'string' },
  clear: { type: 'boolean' },
} as const

function parse(argv: readonly string[]) {
  // A first, lenient pass finds unknown flags, so the message can suggest the intended one
  // (the strict pass would only say "Unknown option").
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: OPTIONS,
  })
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name in OPTIONS) continue
    const guess = closest(token.name, Object.keys(OPTIONS))
    throw new UsageError(
      `unknown option ${token.rawName}${guess === undefined ? '' : ` (did you mean --${guess}?)`}`,
    )
  }
  return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS })
}

type Values = ReturnType<typeof parse>['values']
type Print = (human: string, machine: unknown) => void
interface CommandInput {
  readonly gate: Portcullis
  readonly opened: OpenedStore
  readonly values: Values
  readonly args: string[]
  readonly print: Print
  readonly env: CliIo['env']
}
type Command = (input: CommandInput) => Promise<void>

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

/** The environment variable behind each gate option the CLI sets from one. */
const OPTION_VARIABLES: Readonly<Record<string, string>> = {
  revealKey: 'PORTCULLIS_REVEAL_KEY',
  pepper: 'PORTCULLIS_PEPPER',
  keyPrefix: 'PORTCULLIS_KEY_PREFIX',
  sessionSecret: 'PORTCULLIS_SESSION_SECRET',
}

/** The gate refusing its options means an environment variable is wrong, not the store. */
function configure<T>(build: () => T): T {
  try {
    return build()
  } catch (error) {
    if (isPortcullisError(error)) throw error
    const message = (error as Error).message.replace(
      /\b(revealKey|pepper|keyPrefix|sessionSecret)\b/g,
      (option) => OPTION_VARIABLES[option] ?? option,
    )
    throw new UsageError(message)
  }
}

function commandOf(positionals: string[]): { name: string; command: Command } {
  const [group, action] = positionals
  const name = group === 'migrate' ? 'migrate' : `${group} ${action ?? ''}`.trim()
  const command = COMMANDS[name]
  if (command === undefined) {
    const guess = closest(name, Object.keys(COMMANDS))
    throw new UsageError(
      `unknown command ${JSON.stringify(name)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
    )
  }
  return { name, command }
}

function sessionRows(sessions: readonly SessionRecord[], now: number): string[][] {
  return [
    ['id', 'mode', 'state', 'created', 'expires', 'absolute cap', 'revoked'],
    ...sessions.map((session) => [
      session.id,
      session.mode,
      session.revokedAt !== null ? 'revoked' : session.expiresAt <= now ? 'expired' : 'active',
      iso(session.createdAt),
      iso(session.expiresAt),
      iso(session.maxExpiresAt),
      iso(session.revokedAt, '-'),
    ]),
  ]
}

const COMMANDS: Readonly<Record<string, Command>> = {
  async migrate({ opened, print }) {
    const applied = await opened.migrate()
    const human =
      opened.kind === 'redis'
        ? 'redis: nothing to migrate'
        : applied.length === 0
          ? `${opened.kind}: schema up to date`
          : `${opened.kind}: applied ${applied.join(', ')}`
    print(human, { store: opened.kind, applied })
  },

  async 'projects provision'({ gate, args, print }) {
    const project = await gate.projects.provision(need(args[2], '<projectId>'))
    const created = [
      project.test.secretKey,
      project.test.publishableKey,
      project.live.secretKey,
      project.live.publishableKey,
    ]
    print(
      [
        `project ${project.projectId} provisioned; these keys are shown once:`,
        ...created.map(
          ({ key, record }) => `  ${record.id}  ${record.mode} ${record.type}  ${key}`,
        ),
      ].join('\n'),
      project,
    )
  },

  async 'projects list'({ opened, print }) {
    const projects = await opened.listProjects()
    print(projects.length === 0 ? '(no projects)' : projects.join('\n'), projects)
  },

  async 'keys create'({ gate, values, print }) {
    const created = await gate.keys.create({
      projectId: need(values.project, '--project'),
      type: need(values.type, '--type') as KeyType,
      mode: need(values.mode, '--mode') as Mode,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(values['allow-ip'] === undefined ? {} : { allowedIps: values['allow-ip'] }),
      ...(values['expires-at'] === undefined
        ? {}
        : { expiresAt: parseInstant(values['expires-at'], '--expires-at') }),
      ...(values['client-id'] === undefined ? {} : { clientId: values['client-id'] }),
    })
    print(`${keyLine(created.record)}\n${created.key}`, created)
  },

  async 'keys list'({ gate, values, print }) {
    const records = await gate.keys.list(need(values.project, '--project'), {
      ...(values.mode === undefined ? {} : { mode: values.mode as Mode }),
      ...(values.type === undefined ? {} : { type: values.type as KeyType }),
    })
    print(records.length === 0 ? '(no keys)' : records.map(keyLine).join('\n'), records)
  },

  async 'keys get'({ gate, args, print }) {
    const keyId = need(args[2], '<keyId>')
    const record = await gate.keys.get(keyId)
    if (record === null) throw new NotFoundError(`No such key: ${keyId}`)
    const rows = [
      ['id', record.id],
      ['key', record.redacted],
      ['project', record.projectId],
      ['mode', record.mode],
      ['type', record.type],
      ['name', JSON.stringify(record.name)],
      ...(record.clientId === null ? [] : [['client', record.clientId]]),
      ['allowed IPs', record.allowedIps.length === 0 ? 'any' : record.allowedIps.join(', ')],
      ['created', iso(record.createdAt)],
      ['expires', iso(record.expiresAt)],
      ['last used', iso(record.lastUsedAt)],
      ...(record.rolledFromId === null ? [] : [['rolled from', record.rolledFromId]]),
      ...(record.rolledToId === null ? [] : [['rolled to', record.rolledToId]]),
      ['revealable', record.revealable ? 'yes' : 'no'],
    ]
    print(table(rows), record)
  },

  async 'keys roll'({ gate, values, args, print }) {
    const keyId = need(args[2], '<keyId>')
    let gracePeriodMs = 0
    if (values.grace !== undefined) {
      const grace = parseDuration(values.grace, '--grace')
      const max = gate.limits.maxGracePeriodMs
      if (grace.ms > max)
        throw new UsageError(`--grace must be at most ${formatDuration(max, grace.unit)}`)
      gracePeriodMs = grace.ms
    }
    const rolled = await gate.keys.roll(keyId, { gracePeriodMs })
    const until = rolled.previous.expiresAt
    const old =
      until !== null && until > Date.now()
        ? `the old key ${rolled.previous.id} works until ${iso(until)}`
        : `the old key ${rolled.previous.id} stopped working`
    // The new key last, as `keys create` prints it, so `| tail -n 1` gets it from either.
    print(`${keyLine(rolled.record)}\n${old}\n${rolled.key}`, rolled)
  },

  async 'keys delete'({ gate, args, print }) {
    const keyId = need(args[2], '<keyId>')
    if (!(await gate.keys.delete(keyId))) {
      throw new NotFoundError(`No such key: ${keyId}`)
    }
    print(`deleted ${keyId}`, { id: keyId, deleted: true })
  },

  async 'keys allow-ip'({ gate, values, args, print }) {
    const ranges = args.slice(3)
    if (values.clear !== true && ranges.length === 0)
      throw new UsageError('give the addresses or ranges, or --clear')
    if (values.clear === true && ranges.length > 0)
      throw new UsageError('--clear takes no addresses')
    const record = await gate.keys.setAllowedIps(need(args[2], '<keyId>'), ranges)
    print(keyLine(record), record)
  },

  async 'keys reveal'({ gate, args, print, env }) {
    const keyId = need(args[2], '<keyId>')
    // The core speaks of its revealKey option; here that option is an environment variable.
    const record = await gate.keys.get(keyId)
    if (record === null) throw new NotFoundError(`No such key: ${keyId}`)
    if (record.mode === 'test' && !record.revealable) {
      throw new ConflictError(
        'key_not_revealable',
        `Key ${keyId} was created or rolled without a reveal key, so it cannot be shown again; roll it with PORTCULLIS_REVEAL_KEY set to get one that can.`,
      )
    }
    if (record.mode === 'test' && env.PORTCULLIS_REVEAL_KEY === undefined) {
      throw new ConflictError(
        'key_not_revealable',
        'Revealing a test key needs PORTCULLIS_REVEAL_KEY: set it to the revealKey your application uses.',
      )
    }
    let key: string
    try {
      key = await gate.keys.reveal(keyId)
    } catch (error) {
      if (
        record.mode === 'test' &&
        isPortcullisError(error) &&
        error.code === 'key_not_revealable'
      ) {
        throw new ConflictError(
          'key_not_revealable',
          `${error.message} PORTCULLIS_REVEAL_KEY must be the revealKey your application uses.`,
        )
      }
      throw error
    }
    print(key, { id: keyId, key })
  },

  async 'sessions list'({ gate, values, print }) {
    const projectId = need(values.project, '--project')
    const clientId = need(values['client-id'], '--client-id')
    const modes: Mode[] = values.mode === undefined ? ['test', 'live'] : [values.mode as Mode]
    const sessions: SessionRecord[] = []
    for (const mode of modes) {
      sessions.push(...(await gate.sessions.listClient({ projectId, mode, clientId })))
    }
    sessions.sort((a, b) => a.createdAt - b.createdAt)
    const human =
      sessions.length === 0
        ? `(no sessions for client ${JSON.stringify(clientId)} in project ${projectId})`
        : table(sessionRows(sessions, Date.now()))
    print(human, sessions)
  },

  async 'sessions revoke'({ gate, args, print }) {
    const sessionId = need(args[2], '<sessionId>')
    const before = gate.clock()
    const session = await gate.sessions.revoke(sessionId)
    // The store keeps the first revokedAt: an earlier one means this call changed nothing.
    const alreadyRevoked = session.revokedAt !== null && session.revokedAt < before
    const human = alreadyRevoked
      ? `session ${session.id} was already revoked at ${iso(session.revokedAt)} (client ${session.clientId}, ${session.mode})`
      : `revoked ${session.id} (client ${session.clientId}, ${session.mode})`
    print(human, { ...session, alreadyRevoked })
  },
}

/** Every command the CLI runs, as typed (`keys roll`). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS)
