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
