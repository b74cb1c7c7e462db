import { sql } from 'kysely'
import { parseStoreChange, type StoreChange } from '../../src/index.js'
import { ChangeCursor } from './change-cursor.js'
import type { SqlDatabase } from './dialect.js'
import { integer, type SqlRow, text } from './rows.js'

/** Where a watcher sends what it reads. */
export interface ChangeSink {
  deliver(change: StoreChange): void
  /** A background failure (a poll that failed, a lost LISTEN connection); watching goes on. */
  error(error: unknown): void
}

/** A running source of changes: polling, or PostgreSQL LISTEN with polling as a fallback. */
export interface Watcher {
  /** Resolves once changes committed from now on will be delivered. */
  start(): Promise<void>
  /** Stops delivering and releases what `start` took (timers, the LISTEN connection). */
  stop(): Promise<void>
}

const BATCH = 500

/**
 * Reads the changes table from where it left off and hands every change not yet delivered to
 * the sink, once. Shared by the polling watcher and by the PostgreSQL listener (which uses it
 * to catch up after its connection was lost).
 */
export class ChangeTableReader {
  readonly #db: SqlDatabase
  readonly #table: string
  readonly #sink: ChangeSink
  #cursor: ChangeCursor | null = null

  constructor(db: SqlDatabase, table: string, sink: ChangeSink) {
    this.#db = db
    this.#table = table
    this.#sink = sink
  }

  /** Starts at the newest change: what was committed before watching began is not replayed. */
  async start(): Promise<void> {
    const { rows } =
      await sql<SqlRow>`select max(seq) as seq from ${sql.table(this.#table)}`.execute(this.#db)
    const latest = rows[0]?.seq
    this.#cursor = new ChangeCursor(
      latest === null || latest === undefined ? 0 : integer(rows[0] as SqlRow, 'seq'),
    )
  }

  /** Delivers every change committed since the last read (and late arrivals below it). */
  async readNew(): Promise<void> {
    const cursor = this.#cursor
    if (cursor === null) return
    for (;;) {
      const gaps = cursor.pendingGaps().slice(0, BATCH)
      const late = gaps.length > 0 ? sql` or seq in (${sql.join(gaps)})` : sql``
      const { rows } = await sql<SqlRow>`select seq, payload from ${sql.table(this.#table)}
        where seq > ${cursor.highest}${late} order by seq limit ${BATCH}`.execute(this.#db)
      for (const row of rows) this.#offer(integer(row, 'seq'), text(row, 'payload'))
      if (rows.length < BATCH) return
    }
  }

  /** A change that arrived by notification; delivered unless the table read already did. */
  offer(seq: number, payload: string): void {
    this.#offer(seq, payload)
  }

  #offer(seq: number, payload: string): void {
    if (this.#cursor === null || !this.#cursor.accept(seq)) return
    const change = parseStoreChange(payload)
    if (change === null) {
      this.#sink.error(new TypeError(`SqlStore.watch: ignored a malformed change (seq ${seq})`))
      return
    }
    this.#sink.deliver(change)
  }
}
