import { readFileSync } from 'node:fs'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { createApp as createExpressApp } from '../examples/rate-limit/express.js'
import { createApp as createKoaApp } from '../examples/rate-limit/koa.js'
import { makeGate } from './helpers.js'

const doc = readFileSync(new URL('../docs/rate-limiting.md', import.meta.url), 'utf8')

describe.each([
  ['express', (gate: Parameters<typeof createExpressApp>[0]) => createExpressApp(gate)],
  ['koa', (gate: Parameters<typeof createKoaApp>[0]) => createKoaApp(gate).callback()],
] as const)('the %s per-key rate-limit recipe', (name, create) => {
  it('is shown in docs/rate-limiting.md exactly as it runs here', () => {
    const source = readFileSync(
      new URL(`../examples/rate-limit/${name}.ts`, import.meta.url),
      'utf8',
    )
    expect(doc).toContain(source.trimEnd())
  })

  it('gives each key its own budget, lower in test mode, and leaves other keys alone', async () => {
    const { gate } = makeGate()
    const app = create(gate)
    const a = await gate.projects.provision('proj_a')
    const other = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    const call = (key: string) =>
      request(app).get('/v1/charges').set('Authorization', `Bearer ${key}`)
    const statuses = async (key: string, count: number) => {
      const seen: number[] = []
      for (let i = 0; i < count; i++) seen.push((await call(key)).status)
      return seen
    }
    const testKey = a.test.secretKey.key
    expect(await statuses(testKey, 25)).toEqual(Array(25).fill(200))
    const limited = await call(testKey)
    expect(limited.status).toBe(429)
    // Another key of the same project and mode, and the same project's live key, are untouched.
    expect((await call(other.key)).status).toBe(200)
    expect(await statuses(a.live.secretKey.key, 100)).toEqual(Array(100).fill(200))
    expect((await call(a.live.secretKey.key)).status).toBe(429)
    // A refused key never reaches the limiter.
    expect((await call('sk_test_nope')).status).toBe(401)
  })
})
