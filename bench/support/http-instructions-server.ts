/**
 * One server variant of `npm run bench` for `npm run bench:http-instructions`, run under
 * callgrind: `node --predictable <bundle> <variant id> <run directory> <time scale>`.
 *
 * Under callgrind a request takes some 150 times longer than natively, so the process runs on a
 * clock slowed by `<time scale>`: `Date.now` (the gate's default clock, looked up at each call)
 * `setTimeout` (the recent clock's timer, the usage recorder's fallback flush) and `setInterval`
 * (MemoryStore's sweep of expired records, which walks every key) all scaled, so that cache ttls,
 * refreshes, usage flushes and sweeps fall as often per request as at full speed. Node's own
 * timers (keep-alive, the Date header) are not slowed.
 *
 * It builds the variant, listens on 127.0.0.1, writes its port and credentials to
 * `<run directory>/<variant id>.json` and prints `ready`. Each SIGUSR2 calls
 * `process.resourceUsage()` (callgrind's dump trigger: {@link DUMP_TRIGGER}) and prints `dumped`.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { VARIANTS } from '../variants.js'

const [variantId, runDirectory, scaleText] = process.argv.slice(2)
const variant = VARIANTS.find((candidate) => candidate.id === variantId)
const scale = Number(scaleText)
if (variant === undefined || runDirectory === undefined || !(scale >= 1)) {
  throw new Error(
    `usage: http-instructions-server <variant id> <run directory> <time scale> (got ${process.argv.slice(2).join(' ')})`,
  )
}

const realNow = Date.now
const origin = realNow()
Date.now = () => origin + Math.floor((realNow() - origin) / scale)
/** `setTimeout` or `setInterval`, as far as this script calls them. */
type TimerFunction = (
  callback: (...args: unknown[]) => void,
  ms?: number,
  ...args: unknown[]
) => NodeJS.Timeout
/** `real` with its delay scaled like the clock. */
const slowed =
  (real: TimerFunction): TimerFunction =>
  (callback, ms, ...rest) =>
    real(callback, (ms ?? 0) * scale, ...rest)
globalThis.setTimeout = slowed(globalThis.setTimeout as TimerFunction) as typeof setTimeout
globalThis.setInterval = slowed(globalThis.setInterval as TimerFunction) as typeof setInterval

const built = await variant.build({
  redisPrefix: `portcullis-bench-http-instructions:${process.pid}:`,
})
const server = createServer({ keepAliveTimeout: 3_600_000 }, built.listener)
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const credentials = await built.credentials(`http://127.0.0.1:${port}`)
writeFileSync(join(runDirectory, `${variant.id}.json`), JSON.stringify({ port, credentials }))
process.on('SIGUSR2', () => {
  process.resourceUsage()
  console.log('dumped')
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close()
  built.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
console.log('ready')
