/**
 * `npm run bench:req-auth`: what it costs an Express server to hang a value on each request,
 * three ways, in one server process so that the machine's drift from second to second and from
 * process to process cancels out:
 *
 * - `own`: a property added to `req` (`req.authOwn = …`), as `req.auth` was set before
 *   src/express/request-auth.ts: Express re-prototyped the request, so V8 copies its hidden
 *   class for the new property on every request;
 * - `accessor`: portcullis's `setRequestAuth` and `getAuth`, the accessor on Express's request
 *   prototype with the value in a weak map (what `requireSecretKey` and the other guards use);
 * - `locals`: `res.locals.auth`, what the hand-written toy of `npm run bench` uses.
 *
 * The three routes are otherwise the same (one middleware, then a route answering a small JSON
 * body), and are loaded in turn (warm-up, then measured), round after round in alternating
 * order. The server runs pinned to core 0 and the load generator to core 1 where `taskset`
 * exists. Reports the server's CPU per request (user + system, GC included) per route, and
 * per round the ratio of each to `accessor`.
 *
 * Environment: BENCH_ROUNDS (12), BENCH_SECONDS (1), BENCH_CONNECTIONS (20).
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import express from 'express'
import type { AuthContext } from '../src/core/auth-context.js'
import { getAuth } from '../src/express/index.js'
import { setRequestAuth } from '../src/express/request-auth.js'
import { median } from './support/stats.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20)
const ROUTES = ['own', 'accessor', 'locals'] as const
type Route = (typeof ROUTES)[number]

type Command = { type: 'start' } | { type: 'stop' } | { type: 'exit' }
type Reply =
  | { type: 'listening'; port: number }
  | { type: 'started' }
  | { type: 'stopped'; cpuMicrosPerRequest: number }

/** Pins this process to `core`; false where that is impossible (no taskset, no such core). */
function pin(core: number): boolean {
  return (
    spawnSync('taskset', ['-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' })
      .status === 0
  )
}

function serve(): void {
  pin(0)
  const auth = Object.freeze({
    mode: 'test',
    livemode: false,
    projectId: 'proj_bench',
    credential: 'secret',
    keyId: 'key_bench',
    keyType: 'secret',
    metadata: Object.freeze({}),
  }) as AuthContext
  const app = express()
  app.disable('x-powered-by')
  app.get(
    '/own',
    (req, _res, next) => {
      ;(req as unknown as { authOwn: AuthContext }).authOwn = auth
      next()
    },
    (req, res) => {
      const { projectId, mode } = (req as unknown as { authOwn: AuthContext }).authOwn
      res.json({ projectId, mode })
    },
  )
  app.get(
    '/accessor',
    (req, _res, next) => {
      setRequestAuth(req, auth)
      next()
    },
    (req, res) => {
      const { projectId, mode } = getAuth(req)
      res.json({ projectId, mode })
    },
  )
  app.get(
    '/locals',
    (_req, res, next) => {
      res.locals.auth = auth
      next()
    },
    (_req, res) => {
      const { projectId, mode } = res.locals.auth as AuthContext
      res.json({ projectId, mode })
    },
  )
  let served = 0
  let servedAtStart = 0
  let cpuAtStart = process.cpuUsage()
  const server = createServer({ keepAliveTimeout: 10_000 }, app)
  server.on('request', () => {
    served++
  })
  const send = (reply: Reply) => process.send?.(reply)
  server.listen(0, '127.0.0.1', () => {
    send({ type: 'listening', port: (server.address() as AddressInfo).port })
  })
  process.on('message', (command: Command) => {
    if (command.type === 'start') {
      servedAtStart = served
      cpuAtStart = process.cpuUsage()
      send({ type: 'started' })
    } else if (command.type === 'stop') {
      const cpu = process.cpuUsage(cpuAtStart)
      send({
        type: 'stopped',
        cpuMicrosPerRequest: (cpu.user + cpu.system) / (served - servedAtStart),
      })
    } else {
      server.closeAllConnections()
      server.close(() => process.disconnect())
    }
  })
}

function nextReply<T extends Reply['type']>(child: ChildProcess, type: T) {
  return new Promise<Extract<Reply, { type: T }>>((resolve, reject) => {
    const onMessage = (reply: Reply) => {
      if (reply.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(reply as Extract<Reply, { type: T }>)
    }
    const onExit = (code: number | null) => reject(new Error(`server exited (${code})`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

function load(port: number, route: Route, seconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}/${route}`, connections: CONNECTIONS, duration: seconds },
      (error, result) => {
        if (error) reject(error)
        else if (result.non2xx > 0 || result.errors > 0) {
          reject(new Error(`${route}: ${result.non2xx} non-2xx, ${result.errors} errors`))
        } else resolve()
      },
    )
  })
}

async function main(): Promise<void> {
  if (!pin(1)) console.warn('taskset unavailable or one core only: processes are not pinned')
  const child = fork(fileURLToPath(import.meta.url), ['server'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
  const { port } = await nextReply(child, 'listening')
  for (const route of ROUTES) await load(port, route, 2)
  const perRoute = new Map<Route, number[]>(ROUTES.map((route) => [route, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ROUTES : [...ROUTES].reverse()
    for (const route of order) {
      await load(port, route, SECONDS / 2)
      const started = nextReply(child, 'started')
      child.send({ type: 'start' } satisfies Command)
      await started
      await load(port, route, SECONDS)
      const stopped = nextReply(child, 'stopped')
      child.send({ type: 'stop' } satisfies Command)
      perRoute.get(route)?.push((await stopped).cpuMicrosPerRequest)
    }
  }
  child.send({ type: 'exit' } satisfies Command)
  const accessor = perRoute.get('accessor') ?? []
  console.log(
    `Express 5 server CPU per request, ${ROUNDS} rounds of ${SECONDS} s per route, ${CONNECTIONS} connections\n`,
  )
  console.log(
    '| route | µs per request (median) | ÷ accessor (median round) | ÷ accessor (range) |',
  )
  console.log('| :--- | ---: | ---: | ---: |')
  for (const route of ROUTES) {
    const values = perRoute.get(route) ?? []
    const ratios = values.map((value, i) => value / (accessor[i] as number))
    console.log(
      `| ${route} | ${median(values).toFixed(1)} | ${median(ratios).toFixed(3)}× | ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}× |`,
    )
  }
}

if (process.argv[2] === 'server') serve()
else await main()
