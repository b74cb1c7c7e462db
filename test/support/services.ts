/**
 * Service-backed suites run when their server answers and are reported as skipped when it
 * does not. With PORTCULLIS_REQUIRE_SERVICES=1 (set by CI) an unreachable service is a
 * failure instead, so a suite can never be skipped silently where it must run.
 */
import { Socket } from 'node:net'

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
