import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { isPortcullisError, NotFoundError } from '../core/errors.js'
import { createPortcullis, type Portcullis } from '../core/portcullis.js'
import type { KeyRecord } from '../core/records.js'
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
  migrate                                   create or upgrade the SQL schema (idempotent)
  projects provision <projectId>            create a project's four keys; prints them once
  keys create --project <id> --type <secret|publishable|client> --mode <test|live>
              [--name <name>] [--allow-ip <cidr>]... [--expires-at <ISO date|epoch ms>]
              [--client-id <id>]           prints the new key once
  keys list --project <id> [--mode <m>] [--type <t>]   never prints a secret
  keys roll <keyId> [--grace <duration>]    new key now; the old one works for <duration> (30m, 2h, 1d)
  keys delete <keyId>
  keys allow-ip <keyId> <cidr>... | --clear replace a secret key's IP allowlist
  keys reveal <keyId>                       print a test key again (needs PORTCULLIS_REVEAL_KEY)
  sessions revoke <sessionId>

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

const DURATION = /^(\d+)(ms|s|m|h|d)?$/
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

function parseDuration(text: string, flag: string): number {
  const match = DURATION.exec(text)
  if (match === null) throw new UsageError(`${flag} takes a duration such as 90s, 30m, 2h or 1d`)
  return Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] as number)
}

function parseInstant(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(value))
    throw new UsageError(`${flag} takes an ISO date or epoch milliseconds`)
  return value
}

function keyLine(record: KeyRecord): string {
  const extras = [
    record.allowedIps.length > 0 ? `ips=${record.allowedIps.join(',')}` : '',
    record.expiresAt === null ? '' : `expires=${new Date(record.expiresAt).toISOString()}`,
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
  const url = values.store ?? io.env.PORTCULLIS_STORE
  if (url === undefined) {
    io.stderr('portcullis: no store: pass --store <url> or set PORTCULLIS_STORE\n')
    return EXIT.usage
  }
  const json = values.json === true
  const print = (human: string, machine: unknown) =>
    io.stdout(json ? `${JSON.stringify(machine, null, 2)}\n` : `${human}\n`)

  let opened: OpenedStore | undefined
  try {
    const command = commandOf(positionals)
    opened = await openStore(url, {
      tablePrefix: io.env.PORTCULLIS_TABLE_PREFIX,
      redisPrefix: io.env.PORTCULLIS_REDIS_PREFIX,
    })
    const gate = createPortcullis({
      store: opened.store,
      // The CLI never signs a session token; the secret only satisfies the constructor.
      sessionSecret: io.env.PORTCULLIS_SESSION_SECRET ?? randomBytes(32),
      ...(io.env.PORTCULLIS_PEPPER === undefined ? {} : { pepper: io.env.PORTCULLIS_PEPPER }),
      ...(io.env.PORTCULLIS_KEY_PREFIX === undefined
        ? {}
        : { keyPrefix: io.env.PORTCULLIS_KEY_PREFIX }),
      ...(io.env.PORTCULLIS_REVEAL_KEY === undefined
        ? {}
        : { revealKey: io.env.PORTCULLIS_REVEAL_KEY }),
    })
    await command(gate, opened, values, positionals, print)
    await gate.close()
    return EXIT.ok
  } catch (error) {
    if (error instanceof UsageError || error instanceof StoreUrlError) {
      io.stderr(`portcullis: ${error.message}\n`)
      return EXIT.usage
    }
    if (isPortcullisError(error)) {
      io.stderr(`portcullis: ${error.code}: ${error.message}\n`)
      return error.code === 'store_unavailable' ? EXIT.unavailable : EXIT.refused
    }
    io.stderr(`portcullis: the store could not be reached: ${(error as Error).message}\n`)
    return EXIT.unavailable
  } finally {
    await opened?.close().catch(() => {})
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
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
    },
  })
}

type Values = ReturnType<typeof parse>['values']
type Print = (human: string, machine: unknown) => void
type Command = (
  gate: Portcullis,
  opened: OpenedStore,
  values: Values,
  args: string[],
  print: Print,
) => Promise<void>

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

function commandOf(positionals: string[]): Command {
  const [group, action] = positionals
  const name = group === 'migrate' ? 'migrate' : `${group} ${action ?? ''}`.trim()
  const command = COMMANDS[name]
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`)
  return command
}

const COMMANDS: Readonly<Record<string, Command>> = {
  async migrate(_gate, opened, _values, _args, print) {
    const applied = await opened.migrate()
    const human =
      opened.kind === 'redis'
        ? 'redis: nothing to migrate'
        : applied.length === 0
          ? `${opened.kind}: schema up to date`
          : `${opened.kind}: applied ${applied.join(', ')}`
    print(human, { store: opened.kind, applied })
  },

  async 'projects provision'(gate, _opened, _values, args, print) {
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

  async 'keys create'(gate, _opened, values, _args, print) {
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

  async 'keys list'(gate, _opened, values, _args, print) {
    const records = await gate.keys.list(need(values.project, '--project'), {
      ...(values.mode === undefined ? {} : { mode: values.mode as Mode }),
      ...(values.type === undefined ? {} : { type: values.type as KeyType }),
    })
    print(records.length === 0 ? '(no keys)' : records.map(keyLine).join('\n'), records)
  },

  async 'keys roll'(gate, _opened, values, args, print) {
    const rolled = await gate.keys.roll(need(args[2], '<keyId>'), {
      ...(values.grace === undefined
        ? {}
        : { gracePeriodMs: parseDuration(values.grace, '--grace') }),
    })
    const until =
      rolled.previous.expiresAt === null
        ? ''
        : ` (old key works until ${new Date(rolled.previous.expiresAt).toISOString()})`
    print(`${keyLine(rolled.record)}${until}\n${rolled.key}`, rolled)
  },

  async 'keys delete'(gate, _opened, _values, args, print) {
    const keyId = need(args[2], '<keyId>')
    if (!(await gate.keys.delete(keyId))) {
      throw new NotFoundError(`No such key: ${keyId}`)
    }
    print(`deleted ${keyId}`, { id: keyId, deleted: true })
  },

  async 'keys allow-ip'(gate, _opened, values, args, print) {
    const ranges = args.slice(3)
    if (values.clear !== true && ranges.length === 0)
      throw new UsageError('give the addresses or ranges, or --clear')
    if (values.clear === true && ranges.length > 0)
      throw new UsageError('--clear takes no addresses')
    const record = await gate.keys.setAllowedIps(need(args[2], '<keyId>'), ranges)
    print(keyLine(record), record)
  },

  async 'keys reveal'(gate, _opened, _values, args, print) {
    const keyId = need(args[2], '<keyId>')
    const key = await gate.keys.reveal(keyId)
    print(key, { id: keyId, key })
  },

  async 'sessions revoke'(gate, _opened, _values, args, print) {
    const session = await gate.sessions.revoke(need(args[2], '<sessionId>'))
    print(`revoked ${session.id} (client ${session.clientId}, ${session.mode})`, session)
  },
}
