import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../src/cli/cli.js'
import { serviceAvailable, serviceUrls } from './support/services.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const revealKey = randomBytes(32).toString('base64url')

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    env: { PORTCULLIS_REVEAL_KEY: revealKey, ...env },
  })
  return { code, stdout, stderr, json: () => JSON.parse(stdout) }
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Drops the tables or deletes the Redis keys one store test created. */
async function cleanUp(url: string, naming: { tablePrefix: string; redisPrefix: string }) {
  if (url.startsWith('postgres')) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    for (const table of ['changes', 'sessions', 'keys', 'migrations']) {
      await client.query(`DROP TABLE IF EXISTS ${naming.tablePrefix}${table}`)
    }
    await client.end()
  } else if (url.startsWith('redis')) {
    const { createClient } = await import('redis')
    const client = createClient({ url })
    await client.connect()
    for await (const keys of client.scanIterator({ MATCH: `${naming.redisPrefix}*`, COUNT: 500 })) {
      if (keys.length > 0) await client.del(keys)
    }
    await client.quit()
  }
}

const stores: [string, string | null][] = [
  ['SQLite', `sqlite:${join(dir, 'day-one.db')}`],
  ['PostgreSQL', (await serviceAvailable('postgres')) ? serviceUrls.postgres : null],
  ['Redis', (await serviceAvailable('redis')) ? serviceUrls.redis : null],
]

for (const [name, url] of stores) {
  describe.skipIf(url === null)(`the portcullis CLI on ${name}`, () => {
    // Names of this run's own tables and Redis keys, removed afterwards.
    const tag = randomBytes(4).toString('hex')
    const naming = { tablePrefix: `clitest_${tag}_`, redisPrefix: `clitest:${tag}:` }
    const env = {
      PORTCULLIS_TABLE_PREFIX: naming.tablePrefix,
      PORTCULLIS_REDIS_PREFIX: naming.redisPrefix,
    }
    const run = (args: string[]) => cli(args, env)
    afterAll(() => cleanUp(url as string, naming))

    it('runs the operator’s day one: migrate, provision, create, list, roll, allow-ip, reveal, delete', async () => {
      const store = ['--store', url as string]
      const project = `proj_${randomBytes(6).toString('hex')}`

      const migrated = await run(['migrate', ...store, '--json'])
      expect(migrated.code).toBe(EXIT.ok)
      expect((await run(['migrate', ...store])).code).toBe(EXIT.ok)

      const provisioned = await run(['projects', 'provision', project, ...store, '--json'])
      expect(provisioned.code).toBe(EXIT.ok)
      const keys = provisioned.json()
      expect(keys.live.secretKey.key).toMatch(/^sk_live_/)
      expect((await run(['projects', 'provision', project, ...store])).code).toBe(EXIT.refused)

      const created = await run([
        'keys',
        'create',
        ...store,
        '--project',
        project,
        '--type',
        'secret',
        '--mode',
        'live',
        '--name',
        'Billing',
        '--allow-ip',
        '203.0.113.0/24',
        '--json',
      ])
      expect(created.code).toBe(EXIT.ok)
      const { key, record } = created.json()
      expect(key).toMatch(/^sk_live_/)

      const listed = await run(['keys', 'list', ...store, '--project', project, '--mode', 'live'])
      expect(listed.code).toBe(EXIT.ok)
      expect(listed.stdout).toContain('"Billing"')
      expect(listed.stdout).toContain('ips=203.0.113.0/24')
      expect(listed.stdout).not.toContain(key)
      expect(listed.stdout).not.toContain(keys.live.secretKey.key)

      const rolled = await run(['keys', 'roll', record.id, '--grace', '2h', ...store, '--json'])
      expect(rolled.code).toBe(EXIT.ok)
      const roll = rolled.json()
      expect(roll.previous.expiresAt - Date.now()).toBeGreaterThan(2 * 3_600_000 - 60_000)
      expect(roll.record.allowedIps).toEqual(['203.0.113.0/24'])
      expect((await run(['keys', 'roll', record.id, ...store])).code).toBe(EXIT.refused)

      const allowed = await run([
        'keys',
        'allow-ip',
        roll.record.id,
        '198.51.100.0/24',
        '2001:DB8::/32',
        ...store,
        '--json',
      ])
      expect(allowed.json().allowedIps).toEqual(['198.51.100.0/24', '2001:db8::/32'])
      const bad = await run(['keys', 'allow-ip', roll.record.id, '::ffff:10.0.0.0/8', ...store])
      expect(bad.code).toBe(EXIT.refused)
      expect(bad.stderr).toContain('invalid_request')
      expect(
        (await run(['keys', 'allow-ip', roll.record.id, '--clear', ...store, '--json'])).json()
          .allowedIps,
      ).toEqual([])

      const revealed = await run(['keys', 'reveal', keys.test.secretKey.record.id, ...store])
      expect(revealed.stdout.trim()).toBe(keys.test.secretKey.key)
      const liveReveal = await run(['keys', 'reveal', keys.live.secretKey.record.id, ...store])
      expect(liveReveal.code).toBe(EXIT.refused)
      expect(liveReveal.stderr).toContain('key_not_revealable')

      expect((await run(['keys', 'delete', roll.record.id, ...store])).code).toBe(EXIT.ok)
      expect((await run(['keys', 'delete', roll.record.id, ...store])).code).toBe(EXIT.refused)
      const missing = await run(['sessions', 'revoke', 'cs_doesnotexist', ...store])
      expect(missing.code).toBe(EXIT.refused)
      expect(missing.stderr).toContain('resource_missing')
    })

    it('revokes a session', async () => {
      expect((await run(['migrate', '--store', url as string])).code).toBe(EXIT.ok)
      const { createPortcullis } = await import('../src/index.js')
      const { openStore } = await import('../src/cli/open-store.js')
      const opened = await openStore(url as string, naming)
      const gate = createPortcullis({ store: opened.store, sessionSecret: randomBytes(32) })
      const { test } = await gate.projects.provision(`proj_${randomBytes(6).toString('hex')}`)
      const auth = await gate.authenticate(
        { headers: { authorization: `Bearer ${test.secretKey.key}` } },
        { credential: 'secret' },
      )
      if (!auth.ok) throw auth.error
      const { token, session } = await gate.sessions.create(auth.auth, { clientId: 'u1' })
      const revoked = await run(['sessions', 'revoke', session.id, '--store', url as string])
      expect(revoked.code).toBe(EXIT.ok)
      expect(revoked.stdout).toContain(`revoked ${session.id}`)
      const use = await gate.authenticate(
        { headers: { authorization: `Bearer ${token}` } },
        { credential: 'session' },
      )
      expect(!use.ok && use.error.code).toBe('session_revoked')
      await opened.close()
    })
  })
}

describe('the portcullis CLI', () => {
  it('recommends PORTCULLIS_STORE over --store for a URL with a password', async () => {
    const help = (await cli(['--help'])).stdout
    expect(help).toMatch(/prefer setting\s+PORTCULLIS_STORE for a URL with a password/)
  })

  it('answers usage errors with exit code 2 and store outages with 3', async () => {
    expect((await cli([])).code).toBe(EXIT.usage)
    expect((await cli(['--help'])).stdout).toContain('keys roll <keyId>')
    expect((await cli(['keys', 'list'])).stderr).toContain('PORTCULLIS_STORE')
    expect((await cli(['keys', 'frobnicate', '--store', 'sqlite::memory:'])).code).toBe(EXIT.usage)
    expect((await cli(['keys', 'list', '--bogus', '--store', 'sqlite::memory:'])).code).toBe(
      EXIT.usage,
    )
    expect(
      (await cli(['keys', 'roll', 'key_x', '--grace', 'soon', '--store', 'sqlite::memory:'])).code,
    ).toBe(EXIT.usage)
    expect((await cli(['keys', 'list', '--project', 'p', '--store', 'ftp://x'])).code).toBe(
      EXIT.usage,
    )
    const down = await cli(['keys', 'list', '--project', 'p', '--store', 'redis://127.0.0.1:1'])
    expect(down.code).toBe(EXIT.unavailable)
    const pgDown = await cli([
      'keys',
      'list',
      '--project',
      'p',
      '--store',
      'postgres://nobody@127.0.0.1:1/x',
    ])
    expect(pgDown.code).toBe(EXIT.unavailable)
  })

  it('runs as the package bin', async () => {
    const run = promisify(execFile)
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', '--help'],
      { cwd: root },
    )
    expect(stdout).toContain('Usage: portcullis <command>')
    const failure = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'nope'], {
      cwd: root,
    }).catch((error: { code: number; stderr: string }) => error)
    expect((failure as { code: number }).code).toBe(EXIT.usage)
  })
})
