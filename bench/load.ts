/**
 * The load generator, a long-lived child of `bench/run.ts` pinned to the other core. For each
 * `run` command it drives autocannon (programmatic API) against one server for a fixed time,
 * each connection cycling through its own share of that server's credentials, and reports
 * responses, latency percentiles and its own CPU time.
 * Latencies are taken from autocannon's per-response timings in full precision (its own
 * histogram keeps whole milliseconds).
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import type { LoadCommand, LoadResult } from './support/ipc.js'
import { percentileOfSorted } from './support/stats.js'

if (process.send === undefined) throw new Error('load.ts must be started with an IPC channel')

const credentialCache = new Map<string, readonly string[]>()

function credentialsOf(file: string): readonly string[] {
  let list = credentialCache.get(file)
  if (list === undefined) {
    list = JSON.parse(readFileSync(file, 'utf8')) as string[]
    if (list.length === 0) throw new Error(`no credentials in ${file}`)
    credentialCache.set(file, list)
  }
  return list
}

/**
 * Credential `i` goes to connection `i mod connections`: each connection cycles through its own
 * share (200 of 10,000 with 50 connections), as separate client machines would, and together
 * they present every credential. The requests are built once per run, when the connections
 * are created, so the load generator spends no time per request rebuilding them.
 */
function sharesOf(credentials: readonly string[], connections: number): string[][] {
  const shares = Array.from({ length: connections }, () => [] as string[])
  credentials.forEach((credential, i) => {
    shares[i % connections]?.push(credential)
  })
  return shares
}

async function run(command: LoadCommand): Promise<LoadResult> {
  const credentials = credentialsOf(command.credentialFile)
  const onePass = command.onePass === true
  // autocannon refuses more connections than requests.
  const connections = onePass
    ? Math.min(command.connections, credentials.length)
    : command.connections
  const shares = sharesOf(credentials, connections)
  // One pass: client i (autocannon sets them up in order) takes share i, since autocannon gives
  // the first (requests mod connections) clients one request more, as `sharesOf` gives the first
  // shares one credential more.
  let nextShare = onePass ? 0 : Math.floor(Math.random() * shares.length)
  const setupClient = (client: { setRequests(requests: object[]): void }) => {
    const share = shares[nextShare++ % shares.length] ?? []
    client.setRequests(
      share.map((value) => ({
        method: 'GET',
        path: '/v1/ping',
        headers: { ...command.extraHeaders, [command.header]: value },
      })),
    )
  }
  const latencies: number[] = []
  let responses = 0
  const cpuAtStart = process.cpuUsage()
  const result = await new Promise<Parameters<Parameters<typeof autocannon>[1]>[1]>(
    (resolve, reject) => {
      const instance = autocannon(
        {
          url: command.url,
          connections,
          ...(onePass ? { amount: credentials.length } : { duration: command.seconds }),
          timeout: 10,
          setupClient,
        },
        (error, outcome) => (error ? reject(error) : resolve(outcome)),
      )
      instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
        responses++
        latencies.push(responseTimeMs)
      })
    },
  )
  const cpu = process.cpuUsage(cpuAtStart)
  const sorted = Float64Array.from(latencies).sort()
  return {
    type: 'result',
    id: command.id,
    responses,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    cpuMicros: cpu.user + cpu.system,
    p50Ms: percentileOfSorted(sorted, 50),
    p99Ms: percentileOfSorted(sorted, 99),
  }
}

process.on('message', (command: LoadCommand | { type: 'exit' }) => {
  if (command.type === 'exit') {
    process.disconnect()
    return
  }
  run(command).then(
    (result) => process.send?.(result),
    (error: unknown) => {
      console.error('load generator:', error)
      process.exit(1)
    },
  )
})
process.send({ type: 'ready' })
