import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import request from 'supertest'
import { afterAll, describe, expect, it } from 'vitest'

/*
 * The README's snippets that are not whole programs (the quick starts are: test/package runs
 * them from the packed tarball) run here, inside a small harness that gives them what the
 * surrounding text assumes exists. A snippet is marked with <!-- readme-check: NAME -->.
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')

function snippet(name: string): string {
  const match = new RegExp(`<!-- readme-check: ${name} -->\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  )
  if (match === null) throw new Error(`README.md has no snippet marked readme-check: ${name}`)
  return match[1] as string
}

const dir = join(root, 'test', '.readme-snippets')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the README’s restricted-key snippet', () => {
  it('runs as shown: the key passes the route naming its permission and no other', async () => {
    const code = snippet('restricted-key')
    expect(code.trim().split('\n').length).toBeLessThanOrEqual(10)
    mkdirSync(dir, { recursive: true })
    const file = join(dir, 'restricted-key.ts')
    writeFileSync(
      file,
      `import { randomBytes } from 'node:crypto'
import express, { type RequestHandler } from 'express'
import { createPortcullis } from '../../src/index.js'
import { MemoryStore } from '../../adapters/memory/index.js'
import { getAuth, requireSecretKey } from '../../src/express/index.js'

const store = new MemoryStore()
const sessionSecret = randomBytes(32)
const app = express()
const createCharge: RequestHandler = (req, res) => {
  res.status(201).json({ keyType: getAuth(req).keyType, permissions: getAuth(req).permissions })
}
const getBalance: RequestHandler = (_req, res) => {
  res.json({ available: 0 })
}

export async function run() {
${code.replace(/^/gm, '  ')}
  return { app, key }
}
`,
    )
    const { run } = (await import(file)) as {
      run: () => Promise<{ app: import('express').Express; key: string }>
    }
    const { app, key } = await run()
    const charge = await request(app).post('/v1/charges').set('Authorization', `Bearer ${key}`)
    expect(charge.status).toBe(201)
    expect(charge.body).toEqual({
      keyType: 'restricted',
      permissions: { charges: 'write', customers: 'read' },
    })
    const balance = await request(app).get('/v1/balance').set('Authorization', `Bearer ${key}`)
    expect(balance.status).toBe(403)
    expect(balance.body.error.code).toBe('permission_denied')
  })
})

describe('the README’s API keys page snippet', () => {
  const code = snippet('api-keys-page')
  const [expressPart, koaPart] = code.split(/^(?=\/\/ Koa:)/m) as [string, string]

  /** Writes a module around a part of the snippet and imports it. */
  async function load<T>(name: string, source: string): Promise<T> {
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `${name}.ts`)
    writeFileSync(file, source)
    return (await import(file)) as T
  }
  const header = `import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../../adapters/memory/index.js'
import { createPortcullis } from '../../src/index.js'

export const gate = createPortcullis({ store: new MemoryStore(), sessionSecret: randomBytes(32), revealKey: randomBytes(32) })
await gate.projects.provision('proj_a')
// The app's own login: a header names the user here.
const users: Record<string, { projectId: string; isOwner: boolean }> = {
  owner: { projectId: 'proj_a', isOwner: true },
  developer: { projectId: 'proj_a', isOwner: false },
}
`
  const api = { 'X-Portcullis-Page': '1', 'Content-Type': 'application/json' }

  it('has an Express part and a Koa part, each a few lines', () => {
    expect(expressPart).toContain("from 'portcullis/express'")
    expect(koaPart).toContain("from 'portcullis/koa'")
    expect(code.trim().split('\n').length).toBeLessThanOrEqual(10)
  })

  it('Express: mounts the page behind the login; can.reveal follows the user', async () => {
    const { app, gate } = await load<{
      app: import('express').Express
      gate: import('../src/index.js').Portcullis
    }>(
      'api-keys-page-express',
      `import express, { type RequestHandler } from 'express'
import { apiKeysPage } from '../../src/express/index.js'
${header}
export const app = express()
const requireLogin: RequestHandler = (req, _res, next) => {
  Object.assign(req, { user: users[String(req.headers['x-user'])] })
  next()
}
${expressPart}`,
    )
    expect((await request(app).get('/settings/api-keys/')).status).toBe(403)
    const page = await request(app).get('/settings/api-keys/').set('X-User', 'owner')
    expect(page.status).toBe(200)
    expect(page.headers['content-security-policy']).toContain("default-src 'self'")
    const owner = await request(app)
      .get('/settings/api-keys/api/context')
      .set({ ...api, 'X-User': 'owner' })
    expect(owner.body).toMatchObject({ projectId: 'proj_a', can: { reveal: true } })
    const keyId = (await gate.keys.list('proj_a', { mode: 'test' }))[0]?.id
    const reveal = (user: string) =>
      request(app)
        .post(`/settings/api-keys/api/keys/${keyId}/reveal`)
        .set({ ...api, 'X-User': user })
        .send({})
    expect((await reveal('owner')).body.key).toMatch(/^sk_test_/)
    const developer = await reveal('developer')
    expect(developer.status).toBe(403)
    expect(developer.text).not.toMatch(/sk_test_/)
  })

  it('Koa: mounts the page with @koa/router; authorize reads ctx.state.user', async () => {
    const { app } = await load<{ app: import('koa') }>(
      'api-keys-page-koa',
      `import Router from '@koa/router'
import Koa from 'koa'
import { apiKeysPage } from '../../src/koa/index.js'
${header}
export const app = new Koa()
app.silent = true
const router = new Router()
app.use(async (ctx, next) => {
  ctx.state.user = users[ctx.get('x-user')]
  await next()
})
${koaPart}
app.use(router.routes())
`,
    )
    const server = app.callback()
    expect((await request(server).get('/settings/api-keys/')).status).toBe(403)
    expect((await request(server).get('/settings/api-keys/').set('X-User', 'owner')).status).toBe(
      200,
    )
    const context = await request(server)
      .get('/settings/api-keys/api/context')
      .set({ ...api, 'X-User': 'developer' })
    expect(context.body).toMatchObject({ projectId: 'proj_a', can: { reveal: true } })
  })
})

describe('the README’s images', () => {
  it('exist in the repository as PNGs of at most 150 KB', () => {
    const images = [...readme.matchAll(/!\[[^\]]+\]\(([^)]+)\)/g)].map(
      (match) => match[1] as string,
    )
    expect(images).toContain('docs/api-keys-page.png')
    for (const image of images) {
      const bytes = readFileSync(join(root, image))
      expect(bytes.subarray(1, 4).toString('latin1'), image).toBe('PNG')
      expect(bytes.length, image).toBeLessThanOrEqual(150 * 1024)
    }
  })
})
