/**
 * One server variant in its own process (started by `bench/run.ts`, pinned to one core):
 * `node --import tsx bench/server.ts <variant id> <run directory> <redis prefix> [<instance>]`
 * (the instance number tells apart several processes of one variant).
 *
 * It builds the variant, listens on 127.0.0.1, writes its clients' credentials to a file and
 * reports `ready` over IPC. Between `measure-start` and `measure-stop` it counts requests and
 * the process's CPU time (user + system, every thread: GC included), which the runner turns
 * into CPU µs per request, and the same time split between the main thread and the others.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks'
import type { ServerCommand, ServerReady, ServerReply } from './support/ipc.js'
import { threadSplit, threadTimes } from './support/thread-cpu.js'
import { VARIANTS } from './variants.js'

const [variantId, runDirectory, redisPrefix, instance = '0'] = process.argv.slice(2)
const variant = VARIANTS.find((candidate) => candidate.id === variantId)
if (variant === undefined || runDirectory === undefined || redisPrefix === undefined) {
  throw new Error(
    `usage: server.ts <variant id> <run directory> <redis prefix> [<instance>] (got ${variantId})`,
  )
}
if (process.send === undefined) throw new Error('server.ts must be started with an IPC channel')
const send = (message: ServerReady | ServerReply) => process.send?.(message)

const started = performance.now()
const built = await variant.build({ redisPrefix })
let served = 0
const server = createServer({ keepAliveTimeout: 10_000 }, built.listener)
// A second 'request' listener: one increment per request, the same in every variant.
server.on('request', () => {
  served++
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const credentials = await built.credentials(`http://127.0.0.1:${port}`)
const credentialFile = join(runDirectory, `${variant.id}.${instance}.json`)
writeFileSync(credentialFile, JSON.stringify(credentials))
send({ type: 'ready', port, credentialFile, setupMs: Math.round(performance.now() - started) })

let cpuAtStart = process.cpuUsage()
let threadsAtStart = threadTimes()
let servedAtStart = 0

// Garbage collections while measuring: how many scavenges, and how many full collections with
// their main-thread pauses. Counts, not scavenge pauses: a pause is timed by the wall clock, and
// in the paired phase a SIGSTOP that lands in one adds the whole stopped turn to it.
let measuredFrom = Number.POSITIVE_INFINITY
let scavenges = 0
let fullCollections = 0
let fullCollectionMicros = 0
const countCollections = (entries: readonly PerformanceEntry[]) => {
  for (const entry of entries) {
    if (entry.startTime < measuredFrom) continue
    const { kind } = (entry as PerformanceEntry & { detail: { kind: number } }).detail
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      scavenges++
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      fullCollections++
      fullCollectionMicros += entry.duration * 1000
    }
  }
}
const collections = new PerformanceObserver((list) => countCollections(list.getEntries()))
collections.observe({ entryTypes: ['gc'] })

process.on('message', async (message: ServerCommand) => {
  switch (message.type) {
    case 'measure-start':
      servedAtStart = served
      countCollections(collections.takeRecords())
      measuredFrom = performance.now()
      scavenges = 0
      fullCollections = 0
      fullCollectionMicros = 0
      cpuAtStart = process.cpuUsage()
      threadsAtStart = threadTimes()
      send({ type: 'reply', id: message.id })
      return
    case 'measure-stop': {
      const cpu = process.cpuUsage(cpuAtStart)
      const threads = threadSplit(threadsAtStart, threadTimes())
      countCollections(collections.takeRecords())
      measuredFrom = Number.POSITIVE_INFINITY
      send({
        type: 'reply',
        id: message.id,
        cpuMicros: cpu.user + cpu.system,
        userMicros: cpu.user,
        systemMicros: cpu.system,
        ...(threads === undefined
          ? {}
          : { mainThreadMicros: threads.mainMicros, otherThreadsMicros: threads.otherMicros }),
        requests: served - servedAtStart,
        heapUsedBytes: process.memoryUsage().heapUsed,
        scavenges,
        fullCollections,
        fullCollectionMicros,
      })
      return
    }
    case 'close':
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await built.close()
      send({ type: 'reply', id: message.id })
      process.disconnect()
      return
  }
})
