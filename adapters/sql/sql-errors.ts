import { ConflictError, isPortcullisError, StoreUnavailableError } from '../../src/index.js'

/** The fields drivers put on their errors: pg (`code` = SQLSTATE), mysql2, better-sqlite3. */
interface DriverError {
  readonly code?: unknown
  readonly errno?: unknown
  readonly fatal?: unknown
  readonly message?: unknown
}

function fieldsOf(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {}
}

function codeOf(error: unknown): string {
  const { code } = fieldsOf(error)
  return typeof code === 'string' ? code : ''
}

function messageOf(error: unknown): string {
  const { message } = fieldsOf(error)
  return typeof message === 'string' ? message : String(error)
}

/** A unique index refused a row: PostgreSQL 23505, MySQL 1062, SQLite UNIQUE/PRIMARY KEY. */
export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error)
  return (
    code === '23505' ||
    code === 'ER_DUP_ENTRY' ||
    fieldsOf(error).errno === 1062 ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  )
}

/**
 * An ALTER TABLE refused to add a column the table already has: MySQL/MariaDB
 * ER_DUP_FIELDNAME (1060), SQLite "duplicate column name" (PostgreSQL says IF NOT EXISTS).
 */
export function isDuplicateColumn(error: unknown): boolean {
  return (
    codeOf(error) === 'ER_DUP_FIELDNAME' ||
    fieldsOf(error).errno === 1060 ||
    (codeOf(error) === 'SQLITE_ERROR' && /duplicate column name/i.test(messageOf(error)))
  )
}

/** A deadlock or serialization failure: the transaction can simply run again. */
export function isRetryableConflict(error: unknown): boolean {
  const code = codeOf(error)
  return code === '40P01' || code === '40001' || code === 'ER_LOCK_DEADLOCK'
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
])

const BUSY_CODES = new Set([
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
])

/** Why the database could not answer, as far as the driver's error tells. */
export type SqlFailureKind = 'unreachable' | 'refused' | 'busy' | 'read_only' | 'schema' | 'query'

/** Sorts a driver error into the kinds an operator acts on differently. */
export function classifySqlError(error: unknown): SqlFailureKind {
  const code = codeOf(error)
  const message = messageOf(error)
  // PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient resources,
  // 57P0x server shutting down / terminated, 57014 statement_timeout, 55P03 lock_timeout.
  if (/^08/.test(code) || /^53/.test(code) || /^57P0/.test(code)) return 'unreachable'
  // Reached, but it will not let us in: no such database (3D000, ER_BAD_DB_ERROR), failed
  // authentication (28xxx, ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR).
  if (
    code === '3D000' ||
    /^28/.test(code) ||
    code === 'ER_BAD_DB_ERROR' ||
    code === 'ER_ACCESS_DENIED_ERROR' ||
    code === 'ER_DBACCESS_DENIED_ERROR'
  ) {
    return 'refused'
  }
  if (code === '57014' || code === '55P03' || isRetryableConflict(error)) return 'busy'
  if (code === '25006' || code === 'ER_OPTION_PREVENTS_STATEMENT') return 'read_only'
  if (code === '42P01' || code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_FIELD_ERROR')
    return 'schema'
  if (code === '42703') return 'schema'
  if (NETWORK_CODES.has(code) || fieldsOf(error).fatal === true) return 'unreachable'
  if (BUSY_CODES.has(code)) return 'busy'
  if (code.startsWith('SQLITE_READONLY')) return 'read_only'
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_NOTADB' ||
    code === 'SQLITE_CORRUPT'
  ) {
    return 'unreachable'
  }
  if (/no such table|no such column/i.test(message)) return 'schema'
  // pg and pg-pool report lost connections and connect timeouts without a code.
  if (
    /connection terminated|timeout exceeded when trying to connect|connection timeout|not (?:open|connected)|closed|Cannot open database|driver has already been destroyed/i.test(
      message,
    )
  ) {
    return 'unreachable'
  }
  return 'query'
}

const MESSAGES: Readonly<Record<SqlFailureKind, string>> = {
  unreachable: 'the database is unreachable or the connection was lost',
  refused:
    'the database refused the connection (no such database, or authentication failed; check the connection settings)',
  busy: 'the database did not answer in time (timeout, lock or deadlock)',
  read_only: 'the database refuses writes (read-only)',
  schema: 'the portcullis tables are missing or outdated; run migrate(db)',
  query:
    'a query failed for a reason other than connectivity (see `cause`; this may be a bug or a schema mismatch)',
}

/**
 * Turns a failure into the error the contract asks for: portcullis errors pass through, every
 * driver error becomes `StoreUnavailableError` whose message says what kind of failure it was
 * and whose `cause` is the driver's error, so a bug stays distinguishable from an outage.
 */
export function toStoreError(error: unknown, operation: string): Error {
  if (isPortcullisError(error)) return error
  const kind = classifySqlError(error)
  const detail = codeOf(error) || messageOf(error).slice(0, 120)
  return new StoreUnavailableError(`SqlStore.${operation}: ${MESSAGES[kind]} (${detail})`, {
    cause: error,
  })
}

/** The conflict an insert raises for a duplicate id or hash. */
export function duplicateError(what: 'key' | 'session'): ConflictError {
  return new ConflictError(
    'conflict',
    what === 'key'
      ? 'A key with this id or hash already exists'
      : 'A session with this id already exists',
  )
}
