import type { ChangeSink, ChangeTableReader, Watcher } from './watch-table.js'

/**
 * Reads the feed every `intervalMs`, one read at a time (the next is scheduled when the last
 * one finished, so a slow database is never queued up). A failed read is reported and the loop
 * goes on: when the database comes back, the changes made meanwhile are delivered.
 */
export class PollLoop {
  readonly #feed: ChangeTableReader
  readonly #sink: ChangeSink
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #active = false
  #untilSuccess = false

  constructor(feed: ChangeTableReader, sink: ChangeSink, intervalMs: number) {
    this.#feed = feed
    this.#sink = sink
    this.#intervalMs = intervalMs
  }

  /**
   * Starts reading, first after `delayMs`. With `untilSuccess`, the loop stops after its first
   * successful read (a catch-up that is retried until the database answers).
   */
  start(options: { untilSuccess?: boolean; delayMs?: number } = {}): void {
    this.#untilSuccess = options.untilSuccess === true
    if (this.#active) return
    this.#active = true
    this.#schedule(options.delayMs ?? this.#intervalMs)
  }

  async stop(): Promise<void> {
    this.#active = false
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    await this.#running
  }

  #schedule(delayMs: number): void {
    if (!this.#active) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#running = this.#feed
        .readNew()
        .then(
          () => {
            if (this.#untilSuccess) this.#active = false
          },
          (error: unknown) => this.#sink.error(error),
        )
        .finally(() => {
          this.#running = null
          this.#schedule(this.#intervalMs)
        })
    }, delayMs)
    // Watching is background work: it never keeps the process alive on its own.
    this.#timer.unref()
  }
}

/** The watcher for MySQL, SQLite, and PostgreSQL without a LISTEN connection. */
export function createPollingWatcher(
  feed: ChangeTableReader,
  sink: ChangeSink,
  intervalMs: number,
): Watcher {
  const loop = new PollLoop(feed, sink, intervalMs)
  return {
    async start() {
      await feed.start()
      loop.start()
    },
    stop: () => loop.stop(),
  }
}
