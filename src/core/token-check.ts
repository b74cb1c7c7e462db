import { createHash, timingSafeEqual } from 'node:crypto'

/** Shortest shared token accepted: 32 characters (e.g. 16 random bytes in hex). */
export const MIN_TOKEN_LENGTH = 32

const GENERATE = `node -e "console.log(require('crypto').randomBytes(32).toString('hex'))"`

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/**
 * A fail-closed check of a shared secret token (an operator or admin token), built once at
 * start-up. Throws a `TypeError` there when `expected` is unset, empty or shorter than 32
 * characters: `req.headers['x-admin-token'] === process.env.ADMIN_TOKEN` lets everyone in when
 * the variable is unset, since `undefined === undefined`.
 *
 * The returned function is false for anything but a string (a missing header, a header sent
 * twice), and compares SHA-256 digests in constant time, so neither the content nor the length
 * of the token leaks through timing.
 *
 * @param expected The token, usually from the environment.
 * @param name How the error message calls it, e.g. `'ADMIN_TOKEN'`.
 *
 * @example
 * ```ts
 * const isAdmin = createTokenCheck(process.env.ADMIN_TOKEN, 'ADMIN_TOKEN')
 * app.use('/v1/admin', keyManagementRoutes(gate, {
 *   authorize: (req) => isAdmin(req.headers['x-admin-token']),
 * }))
 * ```
 */
export function createTokenCheck(
  expected: string | undefined,
  name = 'the operator token',
): (sent: unknown) => boolean {
  if (typeof expected !== 'string' || expected.length < MIN_TOKEN_LENGTH) {
    const problem =
      typeof expected !== 'string' || expected === ''
        ? 'is not set'
        : `is shorter than ${MIN_TOKEN_LENGTH} characters`
    throw new TypeError(
      `${name} ${problem}; refusing to start, since a missing or guessable token would let anyone in. Generate one with: ${GENERATE}`,
    )
  }
  const wanted = digest(expected)
  return (sent) => typeof sent === 'string' && timingSafeEqual(digest(sent), wanted)
}
