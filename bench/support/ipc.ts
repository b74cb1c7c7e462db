/** The messages between `bench/run.ts` and its server and load processes. */

/** Server → runner, once the variant is built and listening. */
export interface ServerReady {
  readonly type: 'ready'
  readonly port: number
  /** JSON file with the header values the load generator cycles through. */
  readonly credentialFile: string
  readonly setupMs: number
}

/** Runner → server. */
export type ServerCommand =
  | { readonly type: 'measure-start'; readonly id: number }
  | { readonly type: 'measure-stop'; readonly id: number }
  | { readonly type: 'close'; readonly id: number }

/** Server → runner, answering a command with the same id. */
export interface ServerReply {
  readonly type: 'reply'
  readonly id: number
  /** For `measure-stop`: CPU time (user + system, all threads) and requests since `measure-start`. */
  readonly cpuMicros?: number
  /** The same CPU time split: user mode, and the kernel on the server's behalf. */
  readonly userMicros?: number
  readonly systemMicros?: number
  /**
   * The same CPU time by thread (Linux only, from the scheduler's statistics): the main
   * thread's, and all the others' (V8's helpers, which mark, sweep and compile concurrently).
   */
  readonly mainThreadMicros?: number
  readonly otherThreadsMicros?: number
  readonly requests?: number
  readonly heapUsedBytes?: number
  /**
   * For `measure-stop`: garbage collections since `measure-start`: scavenges, full collections
   * and the full collections' main-thread pauses (wall clock).
   */
  readonly scavenges?: number
  readonly fullCollections?: number
  readonly fullCollectionMicros?: number
}

/** Runner → load generator. */
export interface LoadCommand {
  readonly type: 'run'
  readonly id: number
  readonly url: string
  readonly header: string
  /** Sent unchanged with every request (an Origin, say). */
  readonly extraHeaders?: Readonly<Record<string, string>>
  readonly credentialFile: string
  readonly connections: number
  readonly seconds: number
  /**
   * Instead of running for `seconds`: present every credential exactly once (each connection
   * goes once through its own share), then stop.
   */
  readonly onePass?: boolean
}

/** Load generator → runner. */
export interface LoadResult {
  readonly type: 'result'
  readonly id: number
  /** Responses received (any status). */
  readonly responses: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  /** Duration of the run as autocannon measured it. */
  readonly seconds: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** CPU time of the load generator during the run. */
  readonly cpuMicros: number
}
