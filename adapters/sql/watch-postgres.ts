import { PollLoop } from './watch-poll.js'
import type { ChangeSink, ChangeTableReader, Watcher } from './watch-table.js'

/** A notification as node-postgres delivers it. */
export interface PgNotificationMessage {
  readonly channel: string
  readonly payload?: string | undefined
}

type PgEvents = {
  (event: 'notification', listener: (message: PgNotificationMessage) => void): unknown
  (event: 'error', listener: (error: Error) => void): unknown
  (event: 'end', listener: () => void): unknown
}

/**
 * The connection `LISTEN` runs on: a `pg.Client` you connected, or a client checked out of a
 * `pg.Pool` (`pool.connect()`). It is used for nothing else while watching. When watching
 * stops or the connection fails, portcullis gives it back: `release(true)` for a pool client
 * (it is destroyed rather than reused, since it carried a LISTEN), `end()` otherwise.
 *
 * @example
 * ```ts
 * // A client checked out of the application's pool (it holds one slot while watching):
 * new SqlStore(db, { listen: () => pool.connect() })
 * // Or a dedicated client:
 * new SqlStore(db, {
 *   listen: async () => {
 *     const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
 *     await client.connect()
 *     return client
 *   },
 * })
 * ```
 */
export interface PgListenConnection {
  query(text: string): Promise<unknown>
  on: PgEvents
  removeListener: PgEvents
  release?(destroy?: boolean | Error): void
  end?(): Promise<void>
}

const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 10_000

/**
 * PostgreSQL LISTEN/NOTIFY: a change reaches every instance as soon as its transaction commits.
 * If the LISTEN connection is lost, the watcher polls the changes table meanwhile, reconnects
 * with backoff (calling `connect` again), and on reconnecting reads what it missed.
 */
export class PostgresListenWatcher implements Watcher {
  readonly #feed: ChangeTableReader
  readonly #sink: ChangeSink
  readonly #connect: () => Promise<PgListenConnection>
  readonly #channel: string
  readonly #fallback: PollLoop
  #connection: PgListenConnection | null = null
  #detach: (() => void) | null = null
  #reconnectTimer: NodeJS.Timeout | null = null
  #backoffMs = MIN_BACKOFF_MS
  #stopped = false

  constructor(
    feed: ChangeTableReader,
    sink: ChangeSink,
    connect: () => Promise<PgListenConnection>,
    channel: string,
    pollIntervalMs: number,
  ) {
    this.#feed = feed
    this.#sink = sink
    this.#connect = connect
    this.#channel = channel
    this.#fallback = new PollLoop(feed, sink, pollIntervalMs)
  }

  async start(): Promise<void> {
    this.#stopped = false
    await this.#feed.start()
    await this.#listen()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = null
    await this.#fallback.stop()
    const connection = this.#connection
    this.#connection = null
    if (connection !== null) {
      try {
        await connection.query(`UNLISTEN "${this.#channel}"`)
      } catch {
        // It is released (and destroyed, if pooled) just below either way.
      }
      this.#release(connection)
    }
  }

  async #listen(): Promise<void> {
    const connection = await this.#connect()
    const onNotification = (message: PgNotificationMessage) => {
      if (message.channel !== this.#channel || message.payload === undefined) return
      const seq = seqOf(message.payload)
      if (seq === null) {
        this.#sink.error(new TypeError('SqlStore.watch: ignored a notification without seq'))
        return
      }
      this.#feed.offer(seq, message.payload)
    }
    const onError = (error: Error) => this.#lost(connection, error)
    const onEnd = () => this.#lost(connection, new Error('SqlStore.watch: LISTEN connection ended'))
    connection.on('notification', onNotification)
    connection.on('error', onError)
    connection.on('end', onEnd)
    this.#detach = () => {
      connection.removeListener('notification', onNotification)
      connection.removeListener('error', onError)
      connection.removeListener('end', onEnd)
    }
    try {
      await connection.query(`LISTEN "${this.#channel}"`)
    } catch (error) {
      this.#release(connection)
      throw error
    }
    if (this.#stopped) {
      this.#release(connection)
      return
    }
    this.#connection = connection
    this.#backoffMs = MIN_BACKOFF_MS
    // Whatever committed while nobody was listening is in the table: read it once now (retried
    // until the database answers), then rely on notifications alone.
    await this.#fallback.stop()
    if (!this.#stopped) this.#fallback.start({ untilSuccess: true, delayMs: 0 })
  }

  #lost(connection: PgListenConnection, error: Error): void {
    if (this.#connection !== connection) return
    this.#connection = null
    this.#release(connection)
    this.#sink.error(error)
    if (this.#stopped) return
    this.#fallback.start()
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#reconnectTimer !== null) return
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null
      this.#listen().catch((error: unknown) => {
        this.#sink.error(error)
        this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS)
        this.#scheduleReconnect()
      })
    }, this.#backoffMs)
    this.#reconnectTimer.unref()
  }

  #release(connection: PgListenConnection): void {
    this.#detach?.()
    this.#detach = null
    // A closing client may still emit 'error'; an unheard 'error' event would crash the process.
    connection.on('error', ignore)
    try {
      if (typeof connection.release === 'function') connection.release(true)
      else void connection.end?.().catch(ignore)
    } catch {
      // Already released or ended.
    }
  }
}

function ignore(): void {}

function seqOf(payload: string): number | null {
  try {
    const { seq } = JSON.parse(payload) as { seq?: unknown }
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : null
  } catch {
    return null
  }
}
