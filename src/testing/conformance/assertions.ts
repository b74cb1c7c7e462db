import assert from 'node:assert/strict'
import type { AuthResult } from '../../core/authenticate.js'
import { isPortcullisError } from '../../core/errors.js'
import type { StoredSession } from '../../core/store.js'

/** For `assert.rejects`: the error is the store contract's ConflictError. */
export function assertConflict(error: unknown): true {
  assert.ok(isPortcullisError(error), `expected a ConflictError, got ${String(error)}`)
  assert.equal(error.code, 'conflict')
  return true
}

/** One touch in a race: the instant it passed and what the store answered. */
export interface TouchAnswer {
  readonly now: number
  readonly answer: StoredSession | null
}

/**
 * Checks every answer of a race against the session as the race left it (`final`). Every
 * instant lies inside the session's live window, so a touch either took effect or met a
 * revocation:
 * - a live answer came from a touch that took effect before any revoke: it slid the expiry to
 *   at least `min(now + idle, cap)`, and the stored expiry can only have grown since;
 * - a revoked answer came after the revoke, which freezes the session: it shows exactly the
 *   final state (same `revokedAt`, same `expiresAt`).
 * Returns how many answers were live.
 */
export function checkTouchAnswers(answers: readonly TouchAnswer[], final: StoredSession): number {
  let live = 0
  for (const { now, answer } of answers) {
    assert.ok(answer !== null, 'a touch answered null for an existing session')
    assert.ok(
      answer.expiresAt <= final.maxExpiresAt,
      `a touch at ${now} answered an expiry ${answer.expiresAt - final.maxExpiresAt} ms past the cap`,
    )
    if (answer.revokedAt === null) {
      live++
      const floor = Math.min(now + final.idleTimeoutMs, final.maxExpiresAt)
      assert.ok(
        answer.expiresAt >= floor,
        `a touch at ${now} answered an expiry ${floor - answer.expiresAt} ms short of now + idle`,
      )
      assert.ok(
        answer.expiresAt <= final.expiresAt,
        `a touch answered an expiry ${answer.expiresAt - final.expiresAt} ms later than the one stored after the race (a lost update)`,
      )
    } else {
      assert.equal(answer.revokedAt, final.revokedAt, 'revokedAt changed after the revoke')
      assert.equal(answer.expiresAt, final.expiresAt, 'a touch slid a revoked session')
    }
  }
  return live
}

/** The first few refusals among `results`, with their causes, for a failure message. */
export const describeRefusals = (results: readonly AuthResult[]) =>
  results
    .flatMap((result) =>
      result.ok
        ? []
        : [`${result.error.code} (${String(result.error.cause ?? result.error.message)})`],
    )
    .slice(0, 3)
    .join('; ')

/** The distinct outcomes among `results` (`ok` or an error code), e.g. `'ok, session_revoked'`. */
export const codesOf = (results: readonly AuthResult[]) =>
  [...new Set(results.map((result) => (result.ok ? 'ok' : result.error.code)))].join(', ')
