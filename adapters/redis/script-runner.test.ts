import { describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../src/index.js'
import { READ_HASH } from './lua-scripts.js'
import type { CommandSender } from './redis-client.js'
import { createScriptRunner } from './script-runner.js'

class NoScriptError extends Error {}

describe('running Lua scripts', () => {
  it('uses EVALSHA, and EVAL once when the server does not have the script', async () => {
    const sent: string[][] = []
    let cached = false
    const send: CommandSender = async (args) => {
      sent.push(args)
      if (args[0] === 'EVALSHA' && !cached) {
        throw new NoScriptError('NOSCRIPT No matching script. Please use EVAL.')
      }
      cached = true
      return ['id', 'key_1']
    }
    const run = createScriptRunner(send, 1000)
    expect(await run(READ_HASH, ['k'], ['a'])).toEqual(['id', 'key_1'])
    expect(await run(READ_HASH, ['k'], ['a'])).toEqual(['id', 'key_1'])
    expect(sent).toEqual([
      ['EVALSHA', READ_HASH.sha1, '1', 'k', 'a'],
      ['EVAL', READ_HASH.source, '1', 'k', 'a'],
      ['EVALSHA', READ_HASH.sha1, '1', 'k', 'a'],
    ])
  })

  it('turns any other failure into StoreUnavailableError that names the script and the cause', async () => {
    const cause = new Error('WRONGTYPE Operation against a key holding the wrong kind of value')
    const run = createScriptRunner(async () => Promise.reject(cause), 1000)
    const error = await run(READ_HASH, ['k'], []).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(StoreUnavailableError)
    expect((error as Error).message).toBe(`RedisStore: read failed: ${cause.message}`)
    expect((error as Error).cause).toBe(cause)
  })

  it('gives up after the command timeout, and swallows the late answer', async () => {
    let settle: (value: unknown) => void = () => {}
    let fail: (error: Error) => void = () => {}
    const run = createScriptRunner(
      () =>
        new Promise((resolve, reject) => {
          settle = resolve
          fail = reject
        }),
      50,
    )
    const started = performance.now()
    await expect(run(READ_HASH, ['k'], [])).rejects.toThrow(
      'RedisStore: Redis did not answer read within 50 ms',
    )
    expect(performance.now() - started).toBeLessThan(1000)
    // A late failure of the abandoned command must not become an unhandled rejection.
    fail(new Error('connection lost'))
    settle(null)
  })

  it('waits as long as the client does when the timeout is 0', async () => {
    const run = createScriptRunner(
      () => new Promise((resolve) => setTimeout(() => resolve('late'), 80)),
      0,
    )
    expect(await run(READ_HASH, ['k'], [])).toBe('late')
  })
})
