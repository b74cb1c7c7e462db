/**
 * Starts and stops throwaway `redis-server` processes for the fault and cluster tests. Each
 * process is a child of the test process, kept by pid and killed by pid; nothing is daemonised.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { servicesRequired } from '../../../test/support/services.js'

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portAnswers(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.connect(port, '127.0.0.1', () => done(true))
  })
}

/** True when the `redis-server` and `redis-cli` binaries can be run. */
export function redisBinariesInstalled(): boolean {
  return ['redis-server', 'redis-cli'].every(
    (binary) => spawnSync(binary, ['--version'], { timeout: 5000 }).status === 0,
  )
}

/**
 * For `describe.skipIf`: true when the binaries are installed; when they are not, false, or a
 * thrown error under PORTCULLIS_REQUIRE_SERVICES=1 (a required suite never skips silently).
 */
export function redisBinariesAvailable(): boolean {
  if (redisBinariesInstalled()) return true
  if (servicesRequired) {
    throw new Error(
      'redis-server and redis-cli are not installed and PORTCULLIS_REQUIRE_SERVICES=1',
    )
  }
  return false
}

/** True when this process can bind 127.0.0.1:`port` (so nothing else holds it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A loopback port that is free now, and (with `withBus`) whose cluster bus port, port + 10000,
 * is free too. Picked at random in 20000–29999 so parallel test files rarely meet.
 */
export async function findFreePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    if ((await portFree(port)) && (!withBus || (await portFree(port + 10_000)))) return port
  }
  throw new Error('no free loopback port found in 20000-29999')
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** One `redis-server` child process on a fixed loopback port; can be stopped and started again. */
export class RedisServerProcess {
  readonly port: number
  readonly #clusterEnabled: boolean
  readonly #persistent: boolean
  readonly #dir: string
  #child: ChildProcess | null = null

  /**
   * `clusterEnabled` starts a cluster node; `persistent` keeps an append-only file synced on
   * every write, so the data outlives a SIGKILL and a restart (as a production Redis would).
   */
  constructor(port: number, options: { clusterEnabled?: boolean; persistent?: boolean } = {}) {
    this.port = port
    this.#clusterEnabled = options.clusterEnabled === true
    this.#persistent = options.persistent === true
    this.#dir = mkdtempSync(join(tmpdir(), `portcullis-redis-${port}-`))
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** The pid of the running process, or null. */
  get pid(): number | null {
    return this.#child?.pid ?? null
  }

  /** Spawns the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.#child !== null) throw new Error(`redis-server on ${this.port} is already running`)
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        this.#persistent ? 'yes' : 'no',
        ...(this.#persistent ? ['--appendfsync', 'always'] : []),
        '--daemonize',
        'no',
        '--dir',
        this.#dir,
        ...(this.#clusterEnabled
          ? [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(this.#dir, `nodes-${this.port}.conf`),
              '--cluster-node-timeout',
              '2000',
            ]
          : []),
      ],
      { stdio: 'ignore' },
    )
    this.#child = child
    child.once('exit', () => {
      if (this.#child === child) this.#child = null
    })
    await until(`redis-server on port ${this.port}`, async () => {
      if (this.#child !== child) throw new Error(`redis-server on port ${this.port} exited`)
      return portAnswers(this.port)
    })
  }

  /** Kills the process by pid (SIGKILL: an abrupt outage) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.#child
    if (child === null || child.pid === undefined) return
    const exited = once(child, 'exit')
    process.kill(child.pid, 'SIGKILL')
    await exited
    this.#child = null
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process: a server that accepts but never answers. */
  pause(paused: boolean): void {
    const pid = this.#child?.pid
    if (pid !== undefined) process.kill(pid, paused ? 'SIGSTOP' : 'SIGCONT')
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    this.pause(false)
    await this.stop()
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

/**
 * A three-master Redis Cluster on free loopback ports: three `redis-server --cluster-enabled`
 * children joined by `redis-cli --cluster create`, ready once every node reports
 * `cluster_state:ok`.
 */
export class RedisClusterProcesses {
  readonly nodes: readonly RedisServerProcess[]

  private constructor(nodes: RedisServerProcess[]) {
    this.nodes = nodes
  }

  static async start(size = 3): Promise<RedisClusterProcesses> {
    const nodes: RedisServerProcess[] = []
    const cluster = new RedisClusterProcesses(nodes)
    try {
      for (let i = 0; i < size; i++) {
        const node = new RedisServerProcess(await findFreePort(true), { clusterEnabled: true })
        nodes.push(node)
        await node.start()
      }
      const created = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((node) => `127.0.0.1:${node.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      )
      if (created.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
      }
      await until(
        'cluster_state:ok on every node',
        async () =>
          nodes.every((node) => {
            const info = spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], {
              encoding: 'utf8',
              timeout: 2000,
            })
            return info.stdout.includes('cluster_state:ok')
          }),
        20_000,
      )
      return cluster
    } catch (error) {
      await cluster.dispose()
      throw error
    }
  }

  /** Kills every node by pid and removes their directories. */
  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.dispose()))
  }
}
