/** The `portcullis` command: usage, exit codes, and dispatch to the command named on the line. */
import { isPortcullisError } from '../core/errors.js'
import type { Command, Commands, Env } from './command.js'
import { configureGate } from './configure-gate.js'
import { describeError, failTo, UsageError } from './errors.js'
import { KEY_COMMANDS } from './key-commands.js'
import { MIGRATE_COMMANDS } from './migrate-command.js'
import { type OpenedStore, openStore, StoreUrlError } from './open-store.js'
import { parse } from './options.js'
import { printTo } from './output.js'
import { PROJECT_COMMANDS } from './project-commands.js'
import { SESSION_COMMANDS } from './session-commands.js'
import { closest } from './suggest.js'

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
  readonly env: Env
}

export const USAGE = `portcullis — manage API keys and client sessions in a portcullis store

Usage: portcullis <command> [options]

Commands:
  migrate                                   create or upgrade the SQL schema (idempotent); the
                                            only command that creates a missing SQLite file
  projects provision <projectId>            create a project's four keys; prints them once
  projects list                             the ids of the projects that have keys
  keys create --project <id> --type <secret|restricted|publishable|client> --mode <test|live>
              [--name <name>] [--allow-ip <cidr>]... [--expires-at <ISO date|epoch ms>]
              [--client-id <id>] [--permission <resource:none|read|write>]...
              [--metadata <JSON object>]
              [--allow-origin <pattern>... | --allow-android-app <package>:<sha256 fingerprint>...
               | --allow-ios-bundle <bundleId>...]
                                            prints the new key once; --permission (restricted
                                            keys only) grants one resource, write implies read;
                                            --allow-origin, --allow-android-app and
                                            --allow-ios-bundle (publishable keys only, one kind
                                            per key) limit where it may be used: origins such as
                                            https://app.example.com, https://*.example.com,
                                            http://localhost:*
  keys update <keyId> [--name <name>] [--allow-ip <cidr>]...
              [--permission <resource:level>... | --clear-permissions]
              [--metadata <JSON object> | --clear-metadata]
              [--allow-origin <pattern>... | --allow-android-app <package>:<sha256 fingerprint>...
               | --allow-ios-bundle <bundleId>... | --clear-restrictions]
                                            changes only what is given, in one write; the
                                            --permission flags replace the whole grant, the
                                            --allow-origin/-android-app/-ios-bundle flags the
                                            whole client restriction, whatever its kind
  keys list --project <id> [--mode <m>] [--type <t>]   never prints a secret; shows
                                            permissions, metadata and client restrictions
  keys get <keyId>                          one key's record, permissions, metadata and client
                                            restrictions; never prints the secret
  keys roll <keyId> [--grace <duration>]    new key now; the old one stops at once, or works
                                            <duration> more (90s, 30m, 2h, 1d; at most 7d)
  keys delete <keyId>
  keys allow-ip <keyId> <cidr>... | --clear replace a secret or restricted key's IP allowlist
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
prefix) name where the application keeps them. PORTCULLIS_RESOURCES lists your
application's resources (createPortcullis({ resources })), comma-separated, e.g.
charges,customers: --permission can name only those and the built-in client_sessions.

Exit codes: 0 done, 1 refused (invalid, not found, conflict), 2 usage, 3 store unavailable.
`

/**
 * Every command, by name as typed; each lives in its group's file (key-commands.ts, …).
 * A new command is an entry there and a line in USAGE; a new flag is one in options.ts.
 */
const COMMANDS: Commands = {
  ...MIGRATE_COMMANDS,
  ...PROJECT_COMMANDS,
  ...KEY_COMMANDS,
  ...SESSION_COMMANDS,
}

/** Every command the CLI runs, as typed (`keys roll`). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS)

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
  const fail = failTo(io.stderr, url)
  const print = printTo(io.stdout, values.json === true)

  let opened: OpenedStore | undefined
  try {
    opened = await openStore(url, {
      tablePrefix: io.env.PORTCULLIS_TABLE_PREFIX,
      redisPrefix: io.env.PORTCULLIS_REDIS_PREFIX,
      createSqliteFile: resolved.name === 'migrate',
    })
    const gate = configureGate(opened.store, io.env)
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
    fail(
      `the store could not be reached: ${describeError(error as object) || String(error)}`,
      error,
    )
    return EXIT.unavailable
  } finally {
    await opened?.close().catch(() => {})
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
