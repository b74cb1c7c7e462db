import { StoreUnavailableError } from '../../src/index.js'
import type { LuaScript } from './lua-scripts.js'
import type { CommandSender } from './redis-client.js'

/** Runs a Lua script on the node that owns `keys[0]`. */
export type ScriptRunner = (
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
) => Promise<unknown>

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Runs scripts by `EVALSHA`, falling back to `EVAL` (which also caches the script on that node)
 * when the server answers `NOSCRIPT`: after a restart, a failover or `SCRIPT FLUSH`, and on
 * each cluster node the first time. Every failure, and a call that outlives `timeoutMs` (0 = no
 * deadline), becomes `StoreUnavailableError`, so a caller never mistakes an outage for "not
 * found". A timed-out command cannot be recalled: it may still run when Redis wakes up, so, as
 * with any timed-out write, its outcome is unknown (every script re-checks its conditions, so a
 * late one never breaks an invariant).
 */
export function createScriptRunner(send: CommandSender, timeoutMs: number): ScriptRunner {
  async function evaluate(script: LuaScript, keys: readonly string[], args: readonly string[]) {
    const firstKey = keys[0] as string
    const tail = [String(keys.length), ...keys, ...args]
    try {
      return await send(['EVALSHA', script.sha1, ...tail], firstKey)
    } catch (error) {
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error
      return await send(['EVAL', script.source, ...tail], firstKey)
    }
  }

  return async (script, keys, args) => {
    let timer: NodeJS.Timeout | undefined
    const attempt = evaluate(script, keys, args)
    try {
      if (timeoutMs === 0) return await attempt
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new StoreUnavailableError(
                `RedisStore: Redis did not answer ${script.name} within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        )
      })
      // The late outcome of an abandoned attempt must not surface as an unhandled rejection.
      attempt.catch(() => {})
      return await Promise.race([attempt, deadline])
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error
      throw new StoreUnavailableError(`RedisStore: ${script.name} failed: ${messageOf(error)}`, {
        cause: error,
      })
    } finally {
      clearTimeout(timer)
    }
  }
}
