/**
 * Service-backed suites run when their server answers and are reported as skipped when it
 * does not. With PORTCULLIS_REQUIRE_SERVICES=1 (set by CI) an unreachable service is a
 * failure instead, so a suite can never be skipped silently where it must run.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { Socket } from 'node:net'
import { delimiter, join } from 'node:path'

export const servicesRequired = process.env.PORTCULLIS_REQUIRE_SERVICES === '1'

export const serviceUrls = {
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  postgres: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysql: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
} as const

/** True when a TCP connection to the URL's host and port succeeds within `timeoutMs`. */
export function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url)
  const host = hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.connect(Number(port), host, () => done(true))
  })
}

/**
 * Resolves to true when the service answers. When it does not: throws if services are
 * required (the test file fails), else resolves to false (use with `describe.skipIf`).
 */
export async function serviceAvailable(name: keyof typeof serviceUrls): Promise<boolean> {
  const url = serviceUrls[name]
  if (await reachable(url)) return true
  if (servicesRequired) {
    throw new Error(`${name} is not reachable at ${url} and PORTCULLIS_REQUIRE_SERVICES=1`)
  }
  return false
}

/** Where the browser suites look for Chromium when PORTCULLIS_CHROMIUM is not set. */
const CHROMIUM_PATH = '/usr/bin/chromium'
const CHROMIUM_NAMES = ['chromium', 'chromium-browser']

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * The Chromium the browser suites drive: `PORTCULLIS_CHROMIUM` when set (and then only it),
 * else /usr/bin/chromium, else `chromium` on PATH. Null when there is none, with the reason.
 */
export function findChromium(): { path: string } | { path: null; reason: string } {
  const chosen = process.env.PORTCULLIS_CHROMIUM
  if (chosen !== undefined && chosen !== '') {
    return executable(chosen)
      ? { path: chosen }
      : { path: null, reason: `PORTCULLIS_CHROMIUM=${chosen} is not an executable file` }
  }
  if (executable(CHROMIUM_PATH)) return { path: CHROMIUM_PATH }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of CHROMIUM_NAMES) {
      const path = join(dir, name)
      if (dir !== '' && executable(path)) return { path }
    }
  }
  return {
    path: null,
    reason: `no Chromium: set PORTCULLIS_CHROMIUM, or install it at ${CHROMIUM_PATH} or on PATH (apt-get install chromium)`,
  }
}

/**
 * The Chromium executable, for suites that drive a real browser. When there is none: throws if
 * services are required (the test file fails), else prints why and resolves to null (use with
 * `describe.skipIf`).
 */
export async function browserAvailable(): Promise<string | null> {
  const found = findChromium()
  if (found.path !== null) return found.path
  if (servicesRequired) throw new Error(`${found.reason}, and PORTCULLIS_REQUIRE_SERVICES=1`)
  console.warn(`browser suites skipped: ${found.reason}`)
  return null
}
