import { readFileSync } from 'node:fs'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { createApp as createExpressApp } from '../examples/cors/express.js'
import { createApp as createKoaApp } from '../examples/cors/koa.js'
import { makeGate } from './helpers.js'

// The recipe in a real browser is test/browser/cors.test.ts; this checks the doc shows it as
// it runs, and what the CORS headers say, without a browser.
const doc = readFileSync(new URL('../docs/client-restrictions.md', import.meta.url), 'utf8')

describe.each([
  ['express', (gate: Parameters<typeof createExpressApp>[0]) => createExpressApp(gate)],
  ['koa', (gate: Parameters<typeof createKoaApp>[0]) => createKoaApp(gate).callback()],
] as const)('the %s CORS recipe', (name, create) => {
  it('is shown in docs/client-restrictions.md exactly as it runs', () => {
    const source = readFileSync(new URL(`../examples/cors/${name}.ts`, import.meta.url), 'utf8')
    expect(doc).toContain(source.trimEnd())
  })

  it('answers the preflight itself and puts CORS headers on refusals too', async () => {
    const { gate } = makeGate()
    const app = create(gate)
    const { key } = await gate.keys.create({
      projectId: 'proj_a',
      type: 'publishable',
      mode: 'test',
      allowedOrigins: ['https://shop.example.com'],
    })
    const preflight = await request(app)
      .options('/v1/config')
      .set('Origin', 'https://elsewhere.example.org')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization')
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('*')
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Authorization/)
    expect(preflight.headers['access-control-max-age']).toBe('600')

    const call = (origin: string) =>
      request(app).get('/v1/config').set('Origin', origin).set('Authorization', `Bearer ${key}`)
    const allowed = await call('https://shop.example.com')
    expect(allowed.status).toBe(200)
    expect(allowed.headers['access-control-allow-origin']).toBe('*')
    const refused = await call('https://elsewhere.example.org')
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('origin_not_allowed')
    expect(refused.headers['access-control-allow-origin']).toBe('*')
    expect(refused.headers['access-control-expose-headers']).toMatch(/WWW-Authenticate/)
    expect(refused.headers['access-control-allow-credentials']).toBeUndefined()
  })
})
