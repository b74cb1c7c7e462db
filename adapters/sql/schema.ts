/**
 * Table names. Every table portcullis owns starts with one prefix, so it can share a database
 * (and a schema) with the application, and several independent installations can coexist.
 */

/** The prefix used when none is given: tables `portcullis_keys`, `portcullis_sessions`, … */
export const DEFAULT_TABLE_PREFIX = 'portcullis_'

// Lowercase so that no dialect needs quoting (PostgreSQL folds unquoted names to lowercase),
// and short enough that the longest derived name stays within MySQL's and PostgreSQL's
// identifier limits (64 and 63 characters).
const TABLE_PREFIX = /^(?:[a-z][a-z0-9_]{0,39})?$/

/** The tables of one installation. */
export interface TableNames {
  /** API keys (secret, publishable, development client keys). */
  readonly keys: string
  /** Client Session Tokens' server-side state. */
  readonly sessions: string
  /** Recent changes other instances must hear about (read by `watch()`); pruned after a while. */
  readonly changes: string
  /** Which migrations `migrate()` has applied. */
  readonly migrations: string
}

/** Checks a table prefix and returns it; throws a `TypeError` naming `caller` otherwise. */
export function checkTablePrefix(prefix: string | undefined, caller: string): string {
  if (prefix === undefined) return DEFAULT_TABLE_PREFIX
  if (typeof prefix !== 'string' || !TABLE_PREFIX.test(prefix)) {
    throw new TypeError(
      `${caller}: tablePrefix must be empty or up to 40 lowercase letters, digits and "_", starting with a letter (got ${JSON.stringify(prefix)})`,
    )
  }
  return prefix
}

/** The table names for a (checked) prefix. */
export function tableNames(prefix: string): TableNames {
  return {
    keys: `${prefix}keys`,
    sessions: `${prefix}sessions`,
    changes: `${prefix}changes`,
    migrations: `${prefix}migrations`,
  }
}

/** The PostgreSQL NOTIFY channel of an installation: its changes table's name. */
export function notifyChannel(prefix: string): string {
  return tableNames(prefix).changes
}
