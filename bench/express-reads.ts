/**
 * `npm run bench:express-reads`: what it costs to read `headers`, `socket` and `rawHeaders` from
 * a real Express 5 request, as named loads (`req.headers`) and through `Reflect.get`, which is how
 * the Express binding's `readRequest` reads them (src/express/middleware.ts).
 *
 * Express re-prototypes every request and then adds properties to it, so each request has a
 * hidden class of its own: a named load from it misses V8's inline caches every time. One
 * server process answers requests sent one at a time per connection over keep-alive sockets; the
 * route times only the read (`process.hrtime.bigint()` around it), and the readers take turns
 * batch by batch so that they share the process's state and the machine's moment. `none` times
 * an empty read: the timer's own cost.
 *
 * Environment: BENCH_BATCHES (20), BENCH_BATCH_REQUESTS (2000).
 */
import { Agent, createServer, get } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { readRequest } from '../src/express/middleware.js'
import { median } from './support/stats.js'

const BATCHES = Number(process.env.BENCH_BATCHES ?? 20)
const BATCH_REQUESTS = Number(process.env.BENCH_BATCH_REQUESTS ?? 2000)
const SOCKETS = 4

type Reader = (req: express.Request) => unknown

const READERS: Record<string, Reader> = {
  none: () => null,
  'named loads': (req) => ({
    headers: req.headers,
    remoteAddress: req.socket?.remoteAddress,
    rawHeaders: req.rawHeaders,
  }),
  'Reflect.get (readRequest)': (req) => readRequest(req),
  'req.headers alone': (req) => req.headers,
  'Reflect.get(req, "headers") alone': (req) => Reflect.get(req, 'headers'),
}
const NAMES = Object.keys(READERS)

let reader: Reader = () => null
let spentNs = 0n
let reads = 0
let sink: unknown

const app = express()
app.disable('x-powered-by')
app.get('/read', (req, res) => {
  const started = process.hrtime.bigint()
  sink = reader(req)
  spentNs += process.hrtime.bigint() - started
  reads++
  res.end(sink === undefined ? '' : 'ok')
})

const server = createServer({ keepAliveTimeout: 10_000 }, app)
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS })
const request = () =>
  new Promise<void>((resolve, reject) => {
    get(
      { host: '127.0.0.1', port, path: '/read', agent, headers: { authorization: 'Bearer sk_x' } },
      (res) => {
        res.resume()
        res.on('end', resolve)
      },
    ).on('error', reject)
  })

/** Nanoseconds per read for one batch of `BATCH_REQUESTS` requests with `name`'s reader. */
async function batch(name: string): Promise<number> {
  reader = READERS[name] as Reader
  spentNs = 0n
  reads = 0
  for (let sent = 0; sent < BATCH_REQUESTS; sent += SOCKETS) {
    await Promise.all(Array.from({ length: SOCKETS }, request))
  }
  return Number(spentNs) / reads
}

for (const name of NAMES) await batch(name) // warm-up
const perReader = new Map<string, number[]>(NAMES.map((name) => [name, []]))
for (let round = 0; round < BATCHES; round++) {
  const order = round % 2 === 0 ? NAMES : [...NAMES].reverse()
  for (const name of order) perReader.get(name)?.push(await batch(name))
}
agent.destroy()
server.close()

console.log(
  `Express 5, ${BATCHES} batches of ${BATCH_REQUESTS} requests per reader, ${SOCKETS} keep-alive sockets\n`,
)
console.log('| reader | ns per request (median batch) | range |')
console.log('| :--- | ---: | ---: |')
for (const name of NAMES) {
  const values = perReader.get(name) ?? []
  console.log(
    `| ${name} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} |`,
  )
}
