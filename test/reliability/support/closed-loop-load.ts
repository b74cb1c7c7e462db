/**
 * Bounded closed-loop HTTP load over loopback for the fault tests: a fixed number of workers
 * share one keep-alive agent and cycle through a mix of credentials, each request recorded with
 * the phase it was *sent* in, its status, its error code and its latency. Bounded in time by the
 * caller (who moves the phases and stops the load) and in requests by a cap per phase.
 */
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Where a request was sent relative to the fault: `onset` while the fault was being put in
 * effect, `outage` while it was in effect, `recovery` from the moment it began to be removed
 * until service was confirmed and had settled, `after` from then on.
 */
export type Phase = 'before' | 'onset' | 'outage' | 'recovery' | 'after'
export const PHASES: readonly Phase[] = ['before', 'onset', 'outage', 'recovery', 'after']

/** One kind of credential the load sends, on the route that requires its type. */
export interface CredentialClass {
  readonly name: string
  readonly path: string
  /** The `Authorization` header to send, or null for none. */
  readonly authorization: string | null
  /** The answer while the store is healthy. */
  readonly expected: 200 | 401
  /** False when the credential is refused by its format alone and never reaches the store. */
  readonly needsStore: boolean
}

/** What came back for one request; status 0 when nothing did (connection error, client timeout). */
export interface Outcome {
  readonly status: number
  /** `error.code` of the envelope, or the transport error's code when status is 0. */
  readonly code: string | undefined
  readonly retryAfter: string | undefined
  readonly latencyMs: number
}

export interface RequestRecord extends Outcome {
  readonly credential: string
  readonly phase: Phase
  /** `Date.now()` when it was sent: the gate's cache runs on that clock. */
  readonly sentAt: number
  /** `Date.now()` when its answer (or its failure) came back. */
  readonly answeredAt: number
}

/** One GET over `agent`; never rejects. */
export function send(
  agent: Agent,
  port: number,
  credential: Pick<CredentialClass, 'path' | 'authorization'>,
  timeoutMs: number,
): Promise<Outcome> {
  const started = performance.now()
  return new Promise((resolve) => {
    let settled = false
    const finish = (status: number, code: string | undefined, retryAfter?: string) => {
      if (settled) return
      settled = true
      resolve({ status, code, retryAfter, latencyMs: performance.now() - started })
    }
    const headers: Record<string, string> = {}
    if (credential.authorization !== null) headers.authorization = credential.authorization
    const req = request(
      { agent, host: '127.0.0.1', port, path: credential.path, method: 'GET', headers },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', (error: NodeJS.ErrnoException) => finish(0, error.code ?? error.message))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          let code: string | undefined
          if (status !== 200) {
            try {
              code = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.error?.code
            } catch {
              code = 'unparsable_body'
            }
          }
          const retryAfter = res.headers['retry-after']
          finish(status, code, typeof retryAfter === 'string' ? retryAfter : undefined)
        })
      },
    )
    req.setTimeout(timeoutMs, () => {
      finish(0, 'client_timeout')
      req.destroy()
    })
    req.on('error', (error: NodeJS.ErrnoException) => finish(0, error.code ?? error.message))
    req.end()
  })
}

export interface LoadOptions {
  readonly port: number
  readonly mix: readonly CredentialClass[]
  /** Concurrent requests in flight (each worker waits for its answer before sending again). */
  readonly workers: number
  /** Pause of each worker between an answer and its next request. */
  readonly thinkMs: number
  /** Requests sent per phase at most; past it the workers idle until the phase changes. */
  readonly maxPerPhase: number
  /** A request without an answer after this long is recorded with status 0. */
  readonly requestTimeoutMs: number
}

/** Starts at once, in phase `before`. */
export class ClosedLoopLoad {
  /** The phase requests are being sent in; the caller moves it. */
  phase: Phase = 'before'
  readonly records: RequestRecord[] = []
  readonly agent: Agent
  readonly #options: LoadOptions
  readonly #sent = new Map<Phase, number>()
  readonly #workers: Promise<void>[]
  #next = 0
  #stopped = false

  constructor(options: LoadOptions) {
    this.#options = options
    this.agent = new Agent({ keepAlive: true, maxSockets: options.workers + 4 })
    this.#workers = Array.from({ length: options.workers }, () => this.#work())
  }

  async #work(): Promise<void> {
    const { port, mix, thinkMs, maxPerPhase, requestTimeoutMs } = this.#options
    while (!this.#stopped) {
      const phase = this.phase
      const sent = this.#sent.get(phase) ?? 0
      if (sent >= maxPerPhase) {
        await sleep(10)
        continue
      }
      this.#sent.set(phase, sent + 1)
      const credential = mix[this.#next++ % mix.length] as CredentialClass
      await this.measure(credential, () => send(this.agent, port, credential, requestTimeoutMs))
      await sleep(thinkMs)
    }
  }

  /** The phases in which the cap on requests was reached (the workers then idled). */
  get cappedPhases(): Phase[] {
    return PHASES.filter((phase) => (this.#sent.get(phase) ?? 0) >= this.#options.maxPerPhase)
  }

  /** Sends one request with the current phase and records it (also used for probes). */
  async measure(
    credential: Pick<CredentialClass, 'name'>,
    go: () => Promise<Outcome>,
  ): Promise<RequestRecord> {
    const phase = this.phase
    const sentAt = Date.now()
    const outcome = await go()
    const record: RequestRecord = {
      credential: credential.name,
      phase,
      sentAt,
      answeredAt: Date.now(),
      ...outcome,
    }
    this.records.push(record)
    return record
  }

  /** Stops sending, waits for the requests in flight, closes the agent's sockets. */
  async stop(): Promise<RequestRecord[]> {
    this.#stopped = true
    await Promise.all(this.#workers)
    this.agent.destroy()
    return this.records
  }
}

/** `200:812 503:40` for the records given, statuses in ascending order; `-` for none. */
function statusCounts(records: readonly RequestRecord[]): string {
  if (records.length === 0) return '-'
  const counts = new Map<number, number>()
  for (const { status } of records) counts.set(status, (counts.get(status) ?? 0) + 1)
  return [...counts.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status === 0 ? 'none' : status}:${count}`)
    .join(' ')
}

/**
 * A compact table of counts: one row per credential class, one column per phase, each cell the
 * statuses received (`none` = no answer), then the totals row.
 */
export function countsTable(
  title: string,
  records: readonly RequestRecord[],
  classes: readonly string[],
  notes: readonly string[],
): string {
  const rows = [['credential', ...PHASES, 'all']]
  for (const name of [...classes, 'all']) {
    const mine = name === 'all' ? records : records.filter((r) => r.credential === name)
    if (mine.length === 0) continue
    rows.push([
      name,
      ...PHASES.map((phase) => statusCounts(mine.filter((r) => r.phase === phase))),
      String(mine.length),
    ])
  }
  const widths = (rows[0] as string[]).map((_, i) =>
    Math.max(...rows.map((row) => (row[i] as string).length)),
  )
  const lines = rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd(),
  )
  return [title, ...notes.map((note) => `  ${note}`), ...lines.map((line) => `  ${line}`)].join(
    '\n',
  )
}
