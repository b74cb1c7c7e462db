import { existsSync } from 'node:fs'
import type { PortcullisStore } from '../core/store.js'

/** A store opened from a URL, with what the CLI needs around it. */
export interface OpenedStore {
  readonly store: PortcullisStore
  /** Human name of the backend, for messages. */
  readonly kind: 'sqlite' | 'postgres' | 'mysql' | 'redis'
  /** Creates or upgrades the schema (SQL); nothing to do for Redis. Returns what was applied. */
  migrate(): Promise<readonly string[]>
  /**
   * The ids of the projects that have at least one key on record, sorted. The storage
   * contract has no such read (a request never needs it), so each backend answers it here.
   */
  listProjects(): Promise<string[]>
  close(): Promise<void>
}

/** Names the application gave its store, which the CLI must use too. */
export interface StoreNaming {
  /** SqlStore `tablePrefix` (default `portcullis_`). */
  readonly tablePrefix?: string | undefined
  /** RedisStore `prefix` (default `portcullis:`). */
  readonly redisPrefix?: string | undefined
}

export interface OpenStoreOptions extends StoreNaming {
  /**
   * Whether a `sqlite:` URL may name a file that does not exist yet (it is then created).
   * Only `migrate` should: anywhere else a mistyped path would silently open an empty store.
   */
  readonly createSqliteFile?: boolean | undefined
}

/** Thrown for a URL the CLI cannot use; the message says what would work. */
export class StoreUrlError extends Error {
  override name = 'StoreUrlError'
}

const CONNECT_TIMEOUT_MS = 5000

async function load<T>(specifier: string, why: string): Promise<T> {
  try {
    return (await import(specifier)) as T
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new StoreUrlError(`${why} needs the ${specifier} package: npm install ${specifier}`)
    }
    throw error
  }
}

/** A store constructor refusing its options is a configuration mistake, not an outage. */
function configured<T>(build: () => T, variable: string): T {
  try {
    return build()
  } catch (error) {
    if (error instanceof TypeError) throw new StoreUrlError(`${variable}: ${error.message}`)
    throw error
  }
}

const NETWORK_SCHEMES: Readonly<Record<string, 'postgres' | 'mysql' | 'redis'>> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
  'redis:': 'redis',
  'rediss:': 'redis',
}

/**
 * Opens the store a URL names: `sqlite:<file>`, `postgres://…`, `mysql://…`, `redis://…`.
 * Drivers are loaded only when their URL is used, so none of them is a hard dependency.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const scheme = url.slice(0, url.indexOf(':') + 1).toLowerCase()
  if (scheme === 'sqlite:') return openSql('sqlite', url, options)
  const network = NETWORK_SCHEMES[scheme]
  if (network !== undefined && !URL.canParse(url)) {
    // Not echoed: the malformed part may well be the password.
    throw new StoreUrlError(
      `the ${network} store URL is not a valid URL (check its port, and that special characters in the password are percent-encoded)`,
    )
  }
  if (network === 'redis') return openRedis(url, options)
  if (network !== undefined) return openSql(network, url, options)
  throw new StoreUrlError(
    `Unsupported store URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//…@'))}: use sqlite:<file>, postgres://…, mysql://… or redis://…`,
  )
}

async function openSqlite(
  url: string,
  create: boolean,
): Promise<import('better-sqlite3').Database> {
  const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
  if (file === '') throw new StoreUrlError('sqlite: needs a file, e.g. sqlite:./portcullis.db')
  const inMemory = file === ':memory:'
  if (!create && !inMemory && !existsSync(file)) {
    throw new StoreUrlError(
      `no such SQLite file: ${file}; run portcullis migrate --store ${url} to create it`,
    )
  }
  const { default: Database } = await load<{ default: typeof import('better-sqlite3') }>(
    'better-sqlite3',
    'sqlite:',
  )
  try {
    // fileMustExist also covers a file removed between the check above and this open.
    return new Database(file, { timeout: CONNECT_TIMEOUT_MS, fileMustExist: !create && !inMemory })
  } catch (error) {
    throw new StoreUrlError(`cannot open SQLite file ${file}: ${(error as Error).message}`)
  }
}

async function openSql(
  kind: 'sqlite' | 'postgres' | 'mysql',
  url: string,
  options: OpenStoreOptions,
): Promise<OpenedStore> {
  const kysely = await load<typeof import('kysely')>('kysely', 'A SQL store')
  const adapter = await import('../../adapters/sql/index.js')
  const { toStoreError } = await import('../../adapters/sql/sql-errors.js')
  let db: import('kysely').Kysely<unknown>
  if (kind === 'sqlite') {
    const database = await openSqlite(url, options.createSqliteFile === true)
    db = new kysely.Kysely({ dialect: new kysely.SqliteDialect({ database }) })
  } else if (kind === 'postgres') {
    const { default: pg } = await load<{ default: typeof import('pg') }>('pg', 'postgres://')
    const pool = new pg.Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    })
    pool.on('error', () => {})
    db = new kysely.Kysely({ dialect: new kysely.PostgresDialect({ pool }) })
  } else {
    const mysql = await load<typeof import('mysql2')>('mysql2', 'mysql://')
    const pool = mysql.createPool({
      uri: url.replace(/^mariadb:/, 'mysql:'),
      connectionLimit: 2,
      connectTimeout: CONNECT_TIMEOUT_MS,
    })
    db = new kysely.Kysely({ dialect: new kysely.MysqlDialect({ pool }) })
  }
  const tables = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }
  let store: InstanceType<typeof adapter.SqlStore>
  try {
    store = configured(
      () => new adapter.SqlStore(db, { dialect: kind, sweepIntervalMs: 0, ...tables }),
      'PORTCULLIS_TABLE_PREFIX',
    )
  } catch (error) {
    await db.destroy()
    throw error
  }
  return {
    store,
    kind,
    async migrate() {
      try {
        return (await adapter.migrate(db, { dialect: kind, ...tables })).applied
      } catch (error) {
        throw toStoreError(error, 'migrate')
      }
    },
    async listProjects() {
      try {
        const { rows } = await kysely.sql<{ project_id: string }>`select distinct project_id
          from ${kysely.sql.table(store.tables.keys)} order by project_id`.execute(db)
        return rows.map((row) => row.project_id)
      } catch (error) {
        throw toStoreError(error, 'listProjects')
      }
    },
    async close() {
      await store.close?.()
      await db.destroy()
    },
  }
}

/** Escapes the glob characters of a Redis SCAN MATCH pattern. */
const literalPattern = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

async function openRedis(url: string, naming: StoreNaming): Promise<OpenedStore> {
  const redis = await load<typeof import('redis')>('redis', 'redis://')
  const adapter = await import('../../adapters/redis/index.js')
  const { createKeyLayout } = await import('../../adapters/redis/key-layout.js')
  const prefix = naming.redisPrefix ?? 'portcullis:'
  const layout = configured(() => createKeyLayout(prefix), 'PORTCULLIS_REDIS_PREFIX')
  const client = redis.createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false },
  })
  client.on('error', () => {})
  await client.connect()
  const store = new adapter.RedisStore({ client, prefix })
  return {
    store,
    kind: 'redis',
    migrate: async () => [],
    async listProjects() {
      const namespace = layout.projectNamespace
      const candidates = new Set<string>()
      for await (const keys of client.scanIterator({
        MATCH: `${literalPattern(namespace)}*`,
        COUNT: 500,
      })) {
        for (const key of keys) candidates.add(key.slice(namespace.length))
      }
      // A project list can outlive its key records (they expire by TTL); listKeys drops such
      // ids, so a project counts only while one of its keys is still on record.
      const projects: string[] = []
      for (const projectId of [...candidates].sort()) {
        if ((await store.listKeys(projectId)).length > 0) projects.push(projectId)
      }
      return projects
    },
    async close() {
      await client.quit()
    },
  }
}
