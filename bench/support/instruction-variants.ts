/** The variants of `npm run bench:instructions`, shared by the runner and its worker. */
import { BENCH_PERMISSION } from './fixtures.js'

export const FRAMEWORKS = ['express', 'koa'] as const
export type Framework = (typeof FRAMEWORKS)[number]

/** What each variant guards with; the variant id is `<framework>-<kind>`. */
export const KINDS = [
  'noop',
  'toy',
  'secret',
  'restricted',
  'publishable',
  'publishable-origins',
  'session-memory',
  'session-redis',
] as const
export type Kind = (typeof KINDS)[number]

export const KIND_LABELS: Readonly<Record<Kind, string>> = {
  noop: 'no-op middleware (the harness alone)',
  toy: 'SHA-256→Map toy (hand-written)',
  secret: 'requireSecretKey, 10,000 allowlisted secret keys',
  restricted: `requireSecretKey { permission: '${BENCH_PERMISSION}' }, restricted keys`,
  publishable: 'requirePublishableKey',
  'publishable-origins': 'requirePublishableKey, keys limited to origins (Origin sent)',
  'session-memory': 'requireSession, MemoryStore',
  'session-redis': 'requireSession, RedisStore (cache hit)',
}

/**
 * The native function whose entry makes callgrind write out its counts so far
 * (`--dump-before=uv_getrusage`). The worker reaches it through `process.cpuUsage()`, which
 * nothing else calls while it runs, at the three points the runner reads: after the warm-up,
 * after N measured decisions and after 3N. The runner checks that there were exactly three.
 */
export const DUMP_TRIGGER = 'uv_getrusage'
export const DUMPS_PER_RUN = 3

/** What happened in one measured stretch of decisions. */
export interface SegmentReport {
  readonly decisions: number
  /** Decisions that reached `next()`: must equal `decisions`. */
  readonly accepted: number
  /** Store calls meanwhile: 0 for a warm cache. */
  readonly storeCalls: number
  /** Usage flushes meanwhile (every BENCH_FLUSH_INTERVAL_MS of simulated time). */
  readonly flushes: number
}

/** The line the worker prints when done (JSON). */
export interface WorkerReport {
  readonly variant: string
  /** N: the first measured stretch; the second one is 2N. */
  readonly iterations: number
  readonly warmupDecisions: number
  /** Decisions 1…N after the warm-up, then N+1…3N. */
  readonly segments: readonly [SegmentReport, SegmentReport]
  /** Simulated time at the end of decision 3N, from the first decision of the warm-up. */
  readonly simulatedSeconds: number
  readonly hash: string
}
