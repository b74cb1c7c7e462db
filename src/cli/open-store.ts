import type { PortcullisStore } from '../core/store.js'

/** A store opened from a URL, with what the CLI needs around it. */
export interface OpenedStore {
  readonly store: PortcullisStore
  /** Human name of the backend, for messages. */
  readonly kind: 'sqlite' | 'postgres' | 'mysql' | 'redis'
  /** Creates or upgrades the schema (SQL); nothing to do for Redis. Returns what was applied. */
  migrate(): Promise<readonly string[]>
  close(): Promise<void>
}

/** Names the application gave its store, which the CLI must use too. */
export interface StoreNaming {
  /** SqlStore `tablePrefix` (default `portcullis_`). */
  readonly tablePrefix?: string | undefined
  /** RedisStore `prefix` (default `portcullis:`). */
  readonly redisPrefix?: string | undefined
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

/**
 * Opens the store a URL names: `sqlite:<file>`, `postgres://…`, `mysql://…`, `redis://…`.
 * Drivers are loaded only when their URL is used, so none of them is a hard dependency.
 */
export async function openStore(url: string, options: StoreNaming = {}): Promise<OpenedStore> {
  const scheme = url.slice(0, url.indexOf(':') + 1).toLowerCase()
  if (scheme === 'sqlite:') return openSql('sqlite', url, options)
  if (scheme === 'postgres:' || scheme === 'postgresql:') return openSql('postgres', url, options)
  if (scheme === 'mysql:' || scheme === 'mariadb:') return openSql('mysql', url, options)
  if (scheme === 'redis:' || scheme === 'rediss:') return openRedis(url, options)
  throw new StoreUrlError(
    `Unsupported store URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//…@'))}: use sqlite:<file>, postgres://…, mysql://… or redis://…`,
  )
}

async function openSql(
  kind: 'sqlite' | 'postgres' | 'mysql',
  url: string,
  naming: StoreNaming,
): Promise<OpenedStore> {
  const kysely = await load<typeof import('kysely')>('kysely', 'A SQL store')
  const adapter = await import('../../adapters/sql/index.js')
  let db: import('kysely').Kysely<unknown>
  if (kind === 'sqlite') {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    if (file === '') throw new StoreUrlError('sqlite: needs a file, e.g. sqlite:./portcullis.db')
    const { default: Database } = await load<{ default: typeof import('better-sqlite3') }>(
      'better-sqlite3',
      'sqlite:',
    )
    db = new kysely.Kysely({
      dialect: new kysely.SqliteDialect({
        database: new Database(file, { timeout: CONNECT_TIMEOUT_MS }),
      }),
    })
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
  const tables = naming.tablePrefix === undefined ? {} : { tablePrefix: naming.tablePrefix }
  const store = new adapter.SqlStore(db, { dialect: kind, sweepIntervalMs: 0, ...tables })
  return {
    store,
    kind,
    migrate: async () => (await adapter.migrate(db, { dialect: kind, ...tables })).applied,
    async close() {
      await store.close?.()
      await db.destroy()
    },
  }
}

async function openRedis(url: string, naming: StoreNaming): Promise<OpenedStore> {
  const redis = await load<typeof import('redis')>('redis', 'redis://')
  const adapter = await import('../../adapters/redis/index.js')
  const client = redis.createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false },
  })
  client.on('error', () => {})
  await client.connect()
  const store = new adapter.RedisStore({
    client,
    ...(naming.redisPrefix === undefined ? {} : { prefix: naming.redisPrefix }),
  })
  return {
    store,
    kind: 'redis',
    migrate: async () => [],
    async close() {
      await client.quit()
    },
  }
}
