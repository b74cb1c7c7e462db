import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { COMMAND_NAMES, EXIT, runCli } from '../src/cli/cli.js'
import { serviceAvailable, serviceUrls } from './support/services.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const revealKey = randomBytes(32).toString('base64url')

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
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

    it('creates a restricted key with permissions and metadata, updates it, and shows both', async () => {
      const store = ['--store', url as string]
      // As the application declares them: createPortcullis({ resources: ['charges', 'customers'] }).
      const platform = (args: string[]) =>
        cli(args, { ...env, PORTCULLIS_RESOURCES: 'charges, customers' })
      expect((await run(['migrate', ...store])).code).toBe(EXIT.ok)
      const project = `proj_${randomBytes(6).toString('hex')}`

      const created = await platform([
        'keys',
        'create',
        ...store,
        '--project',
        project,
        '--type',
        'restricted',
        '--mode',
        'test',
        '--name',
        'Contractor',
        '--permission',
        'charges:write',
        '--permission',
        'customers:read',
        '--metadata',
        '{"owner":"ci","tags":["nightly"]}',
        '--json',
      ])
      expect(created.code, created.stderr).toBe(EXIT.ok)
      const { key, record } = created.json()
      expect(key).toMatch(/^rk_test_/)
      expect(record).toMatchObject({
        type: 'restricted',
        permissions: { charges: 'write', customers: 'read' },
        metadata: { owner: 'ci', tags: ['nightly'] },
      })

      const shown = await platform(['keys', 'get', record.id, ...store])
      expect(shown.stdout).toMatch(/^type +restricted$/m)
      expect(shown.stdout).toMatch(/^permissions +charges:write, customers:read$/m)
      expect(shown.stdout).toMatch(/^metadata +\{"owner":"ci","tags":\["nightly"\]\}$/m)
      expect(shown.stdout).not.toContain(key)
      const listed = await platform(['keys', 'list', '--project', project, ...store])
      expect(listed.stdout).toContain('permissions=charges:write,customers:read')
      expect(listed.stdout).toContain('metadata={"owner":"ci","tags":["nightly"]}')

      // The key the CLI made works as the application sees it, with exactly its grant.
      const { createPortcullis } = await import('../src/index.js')
      const { openStore } = await import('../src/cli/open-store.js')
      const opened = await openStore(url as string, naming)
      const gate = createPortcullis({
        store: opened.store,
        sessionSecret: randomBytes(32),
        resources: ['charges', 'customers'],
        cache: false,
      })
      const use = async (permission: string) => {
        const result = await gate.authenticate(
          { headers: { authorization: `Bearer ${key}` } },
          { credential: 'secret', permission },
        )
        return result.ok ? 'ok' : result.error.code
      }
      expect(await use('charges:write')).toBe('ok')
      expect(await use('customers:write')).toBe('permission_denied')

      const updated = await platform([
        'keys',
        'update',
        record.id,
        '--name',
        'Contractor (2027)',
        '--permission',
        'customers:write',
        '--clear-metadata',
        ...store,
        '--json',
      ])
      expect(updated.code, updated.stderr).toBe(EXIT.ok)
      expect(updated.json()).toMatchObject({
        id: record.id,
        name: 'Contractor (2027)',
        permissions: { customers: 'write' },
        metadata: {},
      })
      expect(await use('customers:write')).toBe('ok')
      expect(await use('charges:write')).toBe('permission_denied')
      const again = await platform(['keys', 'get', record.id, ...store])
      expect(again.stdout).toMatch(/^permissions +customers:write$/m)
      expect(again.stdout).toMatch(/^metadata +none$/m)

      const cleared = await platform([
        'keys',
        'update',
        record.id,
        '--clear-permissions',
        '--metadata',
        '{"owner":"ops"}',
        ...store,
      ])
      expect(cleared.code).toBe(EXIT.ok)
      expect(cleared.stdout).toContain('permissions=none')
      expect(cleared.stdout).toContain('metadata={"owner":"ops"}')
      expect(await use('customers:read')).toBe('permission_denied')

      for (const [flags, message] of [
        [[], 'nothing to change'],
        [['--permission', 'charges:read', '--clear-permissions'], 'not both'],
        [['--metadata', '{}', '--clear-metadata'], 'not both'],
      ] as const) {
        const refused = await platform(['keys', 'update', record.id, ...flags, ...store])
        expect(refused.code).toBe(EXIT.usage)
        expect(refused.stderr).toContain(message)
      }
      // A secret key carries no permissions: the gate refuses, nothing is written.
      const secret = (
        await run(['projects', 'provision', `${project}_s`, ...store, '--json'])
      ).json()
      const onSecret = await platform([
        'keys',
        'update',
        secret.test.secretKey.record.id,
        '--permission',
        'charges:read',
        ...store,
      ])
      expect(onSecret.code).toBe(EXIT.refused)
      expect(onSecret.stderr).toContain(
        'invalid_request: permissions apply to restricted keys only',
      )
      await gate.close()
      await opened.close()
    })

    it('limits a publishable key to origins or apps, changes and lifts the limit, and shows it', async () => {
      const store = ['--store', url as string]
      expect((await run(['migrate', ...store])).code).toBe(EXIT.ok)
      const project = `proj_${randomBytes(6).toString('hex')}`
      const created = await run([
        'keys',
        'create',
        ...store,
        '--project',
        project,
        '--type',
        'publishable',
        '--mode',
        'live',
        '--name',
        'Storefront',
        '--allow-origin',
        'https://Shop.Example.com',
        '--allow-origin',
        'http://localhost:*',
        '--json',
      ])
      expect(created.code, created.stderr).toBe(EXIT.ok)
      const { key, record } = created.json()
      expect(record.allowedOrigins).toEqual(['https://shop.example.com', 'http://localhost:*'])
      const shown = await run(['keys', 'get', record.id, ...store])
      expect(shown.stdout).toMatch(
        /^allowed origins +https:\/\/shop\.example\.com, http:\/\/localhost:\*$/m,
      )
      const listed = await run(['keys', 'list', '--project', project, ...store])
      expect(listed.stdout).toContain('origins=https://shop.example.com,http://localhost:*')

      // As the application sees it.
      const { createPortcullis } = await import('../src/index.js')
      const { openStore } = await import('../src/cli/open-store.js')
      const opened = await openStore(url as string, naming)
      const gate = createPortcullis({
        store: opened.store,
        sessionSecret: randomBytes(32),
        cache: false,
      })
      const from = async (headers: Record<string, string>) => {
        const result = await gate.authenticate(
          { headers: { authorization: `Bearer ${key}`, ...headers } },
          { credential: 'publishable' },
        )
        return result.ok ? 'ok' : result.error.code
      }
      expect(await from({ origin: 'http://localhost:5173' })).toBe('ok')
      expect(await from({ origin: 'https://evil.example.net' })).toBe('origin_not_allowed')

      // <package>:<fingerprint>, split at the first colon: the fingerprint keeps its own.
      const fingerprint = Array.from({ length: 32 }, (_, i) =>
        (200 - i).toString(16).toUpperCase(),
      ).join(':')
      const android = await run([
        'keys',
        'update',
        record.id,
        '--allow-android-app',
        `com.example.shop:${fingerprint}`,
        '--allow-android-app',
        `com.example.shop.beta:${fingerprint.replace(/:/g, '').toLowerCase()}`,
        ...store,
        '--json',
      ])
      expect(android.code, android.stderr).toBe(EXIT.ok)
      expect(android.json()).toMatchObject({
        allowedOrigins: [],
        allowedAndroidApps: [
          { packageName: 'com.example.shop', sha256CertFingerprint: fingerprint },
          { packageName: 'com.example.shop.beta', sha256CertFingerprint: fingerprint },
        ],
      })
      const app = await run(['keys', 'get', record.id, ...store])
      expect(app.stdout).toContain(
        `allowed Android apps  com.example.shop:${fingerprint}, com.example.shop.beta:${fingerprint}`,
      )
      expect(
        await from({ 'x-android-package': 'com.example.shop', 'x-android-cert': fingerprint }),
      ).toBe('ok')
      expect(await from({ origin: 'http://localhost:5173' })).toBe('app_not_allowed')

      const ios = await run([
        'keys',
        'update',
        record.id,
        '--allow-ios-bundle',
        'com.example.shop',
        ...store,
      ])
      expect(ios.code, ios.stderr).toBe(EXIT.ok)
      expect(ios.stdout).toContain('ios=com.example.shop')
      expect(ios.stdout).not.toContain('android=')

      const cleared = await run(['keys', 'update', record.id, '--clear-restrictions', ...store])
      expect(cleared.code, cleared.stderr).toBe(EXIT.ok)
      expect(cleared.stdout).not.toMatch(/origins=|android=|ios=/)
      expect((await run(['keys', 'get', record.id, ...store])).stdout).toMatch(
        /^allowed clients +any$/m,
      )
      expect(await from({ origin: 'https://evil.example.net' })).toBe('ok')

      // The gate's refusals name the entry; nothing is written.
      const badOrigin = await run([
        'keys',
        'update',
        record.id,
        '--allow-origin',
        'https://ok.example.com',
        '--allow-origin',
        'https://*.com',
        ...store,
      ])
      expect(badOrigin.code).toBe(EXIT.refused)
      expect(badOrigin.stderr).toContain('invalid_request: allowedOrigins[1]: "https://*.com"')
      const badFingerprint = await run([
        'keys',
        'update',
        record.id,
        '--allow-android-app',
        'com.example.shop:AB:CD',
        ...store,
      ])
      expect(badFingerprint.code).toBe(EXIT.refused)
      expect(badFingerprint.stderr).toContain('allowedAndroidApps[0].sha256CertFingerprint')
      const secret = (
        await run(['projects', 'provision', `${project}_s`, ...store, '--json'])
      ).json()
      const onSecret = await run([
        'keys',
        'update',
        secret.test.secretKey.record.id,
        '--allow-origin',
        'https://shop.example.com',
        ...store,
      ])
      expect(onSecret.code).toBe(EXIT.refused)
      expect(onSecret.stderr).toContain('publishable keys only')
      expect((await run(['keys', 'get', record.id, ...store, '--json'])).json()).toMatchObject({
        allowedOrigins: [],
        allowedAndroidApps: [],
        allowedIosBundleIds: [],
      })
      await gate.close()
      await opened.close()
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

    it('lists projects, shows one key, says what a roll did to the old key', async () => {
      const store = ['--store', url as string]
      expect((await run(['migrate', ...store])).code).toBe(EXIT.ok)
      const [a, b, gone] = ['a', 'b', 'gone'].map(
        (name) => `proj_${name}_${randomBytes(4).toString('hex')}`,
      ) as [string, string, string]
      const keys = (
        await Promise.all(
          [a, b, gone].map(async (project) =>
            (await run(['projects', 'provision', project, ...store, '--json'])).json(),
          ),
        )
      )[2]
      for (const kind of ['secret', 'publishable'] as const) {
        for (const mode of ['test', 'live'] as const) {
          const id = keys[mode][`${kind}Key`].record.id
          expect((await run(['keys', 'delete', id, ...store])).code).toBe(EXIT.ok)
        }
      }
      const projects = await run(['projects', 'list', ...store, '--json'])
      expect(projects.code).toBe(EXIT.ok)
      expect(projects.json()).toEqual(expect.arrayContaining([a, b]))
      expect(projects.json()).not.toContain(gone)
      expect((await run(['projects', 'list', ...store])).stdout.split('\n')).toEqual(
        expect.arrayContaining([a, b]),
      )

      const provisioned = (
        await run(['projects', 'provision', `${a}_x`, ...store, '--json'])
      ).json()
      const { key, record } = provisioned.test.secretKey
      const shown = await run(['keys', 'get', record.id, ...store])
      expect(shown.code).toBe(EXIT.ok)
      expect(shown.stdout).toMatch(new RegExp(`^id +${record.id}$`, 'm'))
      expect(shown.stdout).toMatch(new RegExp(`^key +${record.redacted}$`, 'm'))
      expect(shown.stdout).toMatch(/^revealable +yes$/m)
      expect(shown.stdout).not.toContain(key)
      expect((await run(['keys', 'get', record.id, ...store, '--json'])).json()).toEqual(record)
      const missing = await run(['keys', 'get', 'key_doesnotexist', ...store])
      expect(missing.code).toBe(EXIT.refused)
      expect(missing.stderr).toContain('resource_missing')

      const graced = await run(['keys', 'roll', record.id, '--grace', '90m', ...store])
      expect(graced.code).toBe(EXIT.ok)
      const until = /the old key (\S+) works until (\S+)$/m.exec(graced.stdout)
      expect(until?.[1]).toBe(record.id)
      expect(Date.parse(until?.[2] as string) - Date.now()).toBeGreaterThan(89 * 60_000)
      expect(graced.stdout.trim().split('\n').at(-1)).toMatch(/^sk_test_/)
      const newId = graced.stdout.split('  ')[0] as string
      const stopped = await run(['keys', 'roll', newId, ...store])
      expect(stopped.code).toBe(EXIT.ok)
      expect(stopped.stdout).toContain(`the old key ${newId} stopped working`)
      expect(stopped.stdout).not.toContain('works until')
    })

    it('lists a client’s sessions in both modes and says when a session was already revoked', async () => {
      expect((await run(['migrate', '--store', url as string])).code).toBe(EXIT.ok)
      const { createPortcullis } = await import('../src/index.js')
      const { openStore } = await import('../src/cli/open-store.js')
      const opened = await openStore(url as string, naming)
      const gate = createPortcullis({ store: opened.store, sessionSecret: randomBytes(32) })
      const project = `proj_${randomBytes(6).toString('hex')}`
      const keys = await gate.projects.provision(project)
      const session = async (mode: 'test' | 'live', clientId: string) => {
        const auth = await gate.authenticate(
          { headers: { authorization: `Bearer ${keys[mode].secretKey.key}` } },
          { credential: 'secret' },
        )
        if (!auth.ok) throw auth.error
        return (await gate.sessions.create(auth.auth, { clientId })).session
      }
      const inTest = await session('test', 'u1')
      const inLive = await session('live', 'u1')
      await session('test', 'someone-else')
      await gate.close()
      await opened.close()
      const store = ['--store', url as string]
      const list = (...extra: string[]) =>
        run(['sessions', 'list', '--project', project, '--client-id', 'u1', ...store, ...extra])

      const both = await list()
      expect(both.code).toBe(EXIT.ok)
      const [header, ...rows] = both.stdout.trim().split('\n')
      expect(header?.split(/ {2,}/)).toEqual([
        'id',
        'mode',
        'state',
        'created',
        'expires',
        'absolute cap',
        'revoked',
      ])
      expect(rows.map((row) => row.split(/ +/).slice(0, 3))).toEqual([
        [inTest.id, 'test', 'active'],
        [inLive.id, 'live', 'active'],
      ])
      expect(rows[0]?.split(/ +/).slice(3)).toEqual([
        new Date(inTest.createdAt).toISOString(),
        new Date(inTest.expiresAt).toISOString(),
        new Date(inTest.maxExpiresAt).toISOString(),
        '-',
      ])
      expect(
        (await list('--mode', 'live', '--json')).json().map((s: { id: string }) => s.id),
      ).toEqual([inLive.id])

      const first = await run(['sessions', 'revoke', inTest.id, ...store, '--json'])
      expect(first.code).toBe(EXIT.ok)
      const { revokedAt, alreadyRevoked } = first.json()
      expect(alreadyRevoked).toBe(false)
      const again = await run(['sessions', 'revoke', inTest.id, ...store])
      expect(again.code).toBe(EXIT.ok)
      expect(again.stdout).toContain(
        `session ${inTest.id} was already revoked at ${new Date(revokedAt).toISOString()}`,
      )
      expect(
        (await run(['sessions', 'revoke', inTest.id, ...store, '--json'])).json(),
      ).toMatchObject({ id: inTest.id, revokedAt, alreadyRevoked: true })
      const after = await list('--mode', 'test')
      expect(after.stdout).toMatch(
        new RegExp(`^${inTest.id} +test +revoked .* ${new Date(revokedAt).toISOString()}$`, 'm'),
      )
      const nobody = await run([
        'sessions',
        'list',
        '--project',
        project,
        '--client-id',
        'nobody',
        ...store,
      ])
      expect(nobody.stdout).toContain('(no sessions for client "nobody"')
    })
  })
}

describe('the portcullis CLI', () => {
  it('recommends PORTCULLIS_STORE over --store for a URL with a password', async () => {
    const help = (await cli(['--help'])).stdout
    expect(help).toMatch(/prefer setting\s+PORTCULLIS_STORE for a URL with a password/)
  })

  it('documents every command in --help', async () => {
    const help = (await cli(['--help'])).stdout
    expect(COMMAND_NAMES).toEqual(
      expect.arrayContaining(['projects list', 'keys get', 'sessions list']),
    )
    for (const command of COMMAND_NAMES) expect(help).toContain(`\n  ${command}`)
    expect(help).toContain('sessions list --project <id> --client-id <id> [--mode <m>]')
    expect(help).toContain('keys roll <keyId> [--grace <duration>]')
    expect(help).toContain('--type <secret|restricted|publishable|client>')
    expect(help).toContain('[--permission <resource:none|read|write>]...')
    expect(help).toContain('[--metadata <JSON object>]')
    expect(help).toContain('keys update <keyId> [--name <name>] [--allow-ip <cidr>]...')
    expect(help).toContain('[--permission <resource:level>... | --clear-permissions]')
    expect(help).toContain('[--metadata <JSON object> | --clear-metadata]')
    expect(help).toMatch(/PORTCULLIS_RESOURCES lists your\s+application's resources/)
    for (const usage of [
      '[--allow-origin <pattern>... | --allow-android-app <package>:<sha256 fingerprint>...',
      '| --allow-ios-bundle <bundleId>...]',
      '| --allow-ios-bundle <bundleId>... | --clear-restrictions]',
      'https://*.example.com',
      'http://localhost:*',
    ]) {
      expect(help).toContain(usage)
    }
    expect(help).toMatch(/shows\s+permissions, metadata and client restrictions/)
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

  it('names the flag a mistyped one was meant to be', async () => {
    const typo = await cli(['keys', 'list', '--projet', 'p', '--store', 'sqlite::memory:'])
    expect(typo.code).toBe(EXIT.usage)
    expect(typo.stderr).toContain('unknown option --projet (did you mean --project?)')
    const grace = await cli(['keys', 'roll', 'key_x', '--grce=1h', '--store', 'sqlite::memory:'])
    expect(grace.stderr).toContain('unknown option --grce (did you mean --grace?)')
    const far = await cli(['keys', 'list', '--frobnicate', '--store', 'sqlite::memory:'])
    expect(far.stderr).toContain('unknown option --frobnicate\n')
    const command = await cli(['keys', 'lst', '--store', 'sqlite::memory:'])
    expect(command.code).toBe(EXIT.usage)
    expect(command.stderr).toContain('unknown command "keys lst" (did you mean "keys list"?)')
  })

  it('states duration limits in the unit the user typed', async () => {
    const roll = (grace: string) =>
      cli(['keys', 'roll', 'key_x', '--grace', grace, '--store', 'sqlite::memory:'])
    const days = await roll('30d')
    expect(days.code).toBe(EXIT.usage)
    expect(days.stderr).toBe('portcullis: --grace must be at most 7d\n')
    expect((await roll('169h')).stderr).toContain('--grace must be at most 168h')
    expect((await roll('700000s')).stderr).toContain('--grace must be at most 604800s')
    // A bare number has no unit to answer in, and no unit everyone would assume.
    expect((await roll('30')).stderr).toContain('--grace takes a duration such as 90s')
  })

  it('never creates a SQLite file but with migrate', async () => {
    const file = join(dir, 'typo.db')
    const listed = await cli(['keys', 'list', '--project', 'p', '--store', `sqlite:${file}`])
    expect(listed.code).toBe(EXIT.usage)
    expect(listed.stderr).toBe(
      `portcullis: no such SQLite file: ${file}; run portcullis migrate --store sqlite:${file} to create it\n`,
    )
    expect((await cli(['projects', 'list', '--store', `sqlite:${file}`])).code).toBe(EXIT.usage)
    expect(existsSync(file)).toBe(false)
    expect((await cli(['migrate', '--store', `sqlite:${file}`])).code).toBe(EXIT.ok)
    expect(existsSync(file)).toBe(true)
    expect((await cli(['keys', 'list', '--project', 'p', '--store', `sqlite:${file}`])).code).toBe(
      EXIT.ok,
    )
  })

  it('tells an operator to run portcullis migrate, not migrate(db)', async () => {
    const file = join(dir, 'unmigrated.db')
    writeFileSync(file, '') // an empty file is an empty SQLite database
    const listed = await cli(['keys', 'list', '--project', 'p', '--store', `sqlite:${file}`])
    expect(listed.code).toBe(EXIT.unavailable)
    expect(listed.stderr).toContain('run portcullis migrate')
    expect(listed.stderr).not.toContain('migrate(db)')
    expect(listed.stderr).toContain('cause: no such table')
  })

  it('names PORTCULLIS_RESOURCES when a permission names a resource it does not list', async () => {
    const store = ['--store', `sqlite:${join(dir, 'resources.db')}`]
    expect((await cli(['migrate', ...store])).code).toBe(EXIT.ok)
    const create = (permission: string, env: Record<string, string | undefined>) =>
      cli(
        [
          'keys',
          'create',
          ...store,
          '--project',
          'proj_r',
          '--type',
          'restricted',
          '--mode',
          'test',
          '--permission',
          permission,
          '--json',
        ],
        env,
      )
    const unset = await create('charges:write', {})
    expect(unset.code).toBe(EXIT.usage)
    expect(unset.stderr).toBe(
      "portcullis: --permission charges:write: PORTCULLIS_RESOURCES is not set, so the only resource is client_sessions; set it to your application's createPortcullis({ resources }), comma-separated (e.g. PORTCULLIS_RESOURCES=charges,customers)\n",
    )
    const elsewhere = await create('charges:write', { PORTCULLIS_RESOURCES: 'customers,refunds' })
    expect(elsewhere.code).toBe(EXIT.usage)
    expect(elsewhere.stderr).toContain(
      'charges is not in PORTCULLIS_RESOURCES (customers,refunds); it must list your application',
    )
    // A catalog the gate refuses is named by its variable, not by the gate's option.
    const misspelt = await create('charges:write', { PORTCULLIS_RESOURCES: 'Charges' })
    expect(misspelt.code).toBe(EXIT.usage)
    expect(misspelt.stderr).toContain('PORTCULLIS_RESOURCES: "Charges" is not a resource name')
    const malformed = await create('charges=write', { PORTCULLIS_RESOURCES: 'charges' })
    expect(malformed.code).toBe(EXIT.usage)
    expect(malformed.stderr).toContain('--permission takes <resource>:<none|read|write>')
    const twice = await cli(
      [
        'keys',
        'create',
        ...store,
        '--project',
        'proj_r',
        '--type',
        'restricted',
        '--mode',
        'test',
        '--permission',
        'charges:read',
        '--permission',
        'charges:write',
      ],
      { PORTCULLIS_RESOURCES: 'charges' },
    )
    expect(twice.stderr).toContain('--permission names charges twice')
    expect((await cli(['keys', 'list', '--project', 'proj_r', ...store, '--json'])).json()).toEqual(
      [],
    )
    // The built-in resource needs no variable.
    const sessions = await create('client_sessions:write', {})
    expect(sessions.code, sessions.stderr).toBe(EXIT.ok)
    expect(sessions.json().record.permissions).toEqual({ client_sessions: 'write' })
    const listed = await create('charges:read', { PORTCULLIS_RESOURCES: 'charges, customers' })
    expect(listed.code, listed.stderr).toBe(EXIT.ok)
  })

  it('refuses --metadata that is not a JSON object with a usage error', async () => {
    const store = ['--store', `sqlite:${join(dir, 'metadata.db')}`]
    expect((await cli(['migrate', ...store])).code).toBe(EXIT.ok)
    const create = (metadata: string) =>
      cli([
        'keys',
        'create',
        ...store,
        '--project',
        'proj_m',
        '--type',
        'secret',
        '--mode',
        'test',
        '--metadata',
        metadata,
      ])
    const invalid = await create('{owner:ci}')
    expect(invalid.code).toBe(EXIT.usage)
    expect(invalid.stderr).toBe(
      `portcullis: --metadata must be a JSON object, e.g. --metadata '{"owner":"ci"}': this is not valid JSON\n`,
    )
    expect((await create('["ci"]')).stderr).toContain('(got an array;')
    expect((await create('null')).stderr).toContain('--clear-metadata removes it')
    expect((await create('"ci"')).code).toBe(EXIT.usage)
    // Valid JSON the gate refuses (over 4 KiB) is its refusal, as for any other field.
    const big = await create(JSON.stringify({ notes: 'x'.repeat(4096) }))
    expect(big.code).toBe(EXIT.refused)
    expect(big.stderr).toContain('invalid_request: metadata is')
    const update = await cli(['keys', 'update', 'key_x', '--metadata', '{', ...store])
    expect(update.code).toBe(EXIT.usage)
    expect(update.stderr).toContain('not valid JSON')
    expect((await cli(['keys', 'list', '--project', 'proj_m', ...store, '--json'])).json()).toEqual(
      [],
    )
  })

  it('refuses client restriction flags that contradict each other with a usage error', async () => {
    const store = ['--store', `sqlite:${join(dir, 'restrictions.db')}`]
    expect((await cli(['migrate', ...store])).code).toBe(EXIT.ok)
    const { test } = (
      await cli(['projects', 'provision', 'proj_restrictions', ...store, '--json'])
    ).json()
    const before = (
      await cli(['keys', 'list', '--project', 'proj_restrictions', ...store, '--json'])
    ).json()
    const keyId = test.publishableKey.record.id
    const fingerprint = 'AB:'.repeat(31).concat('AB')
    const cases: [string[], string][] = [
      [
        [
          'keys',
          'update',
          keyId,
          '--allow-origin',
          'https://a.example.com',
          '--allow-ios-bundle',
          'com.example.shop',
        ],
        'a key is limited to one kind of client at most: give --allow-origin or --allow-ios-bundle, not both',
      ],
      [
        [
          'keys',
          'create',
          '--project',
          'proj_restrictions',
          '--type',
          'publishable',
          '--mode',
          'test',
          '--allow-android-app',
          `com.example.shop:${fingerprint}`,
          '--allow-origin',
          'https://a.example.com',
        ],
        'one kind of client at most',
      ],
      [
        [
          'keys',
          'update',
          keyId,
          '--allow-origin',
          'https://a.example.com',
          '--clear-restrictions',
        ],
        'give --allow-origin or --clear-restrictions, not both',
      ],
      [
        ['keys', 'update', keyId, '--allow-android-app', 'com.example.shop'],
        '--allow-android-app takes <package>:<sha256 fingerprint>',
      ],
      [
        ['keys', 'update', keyId, '--allow-android-app', `:${fingerprint}`],
        '--allow-android-app takes <package>:<sha256 fingerprint>',
      ],
      [
        ['keys', 'update', keyId, '--allow-android-app', 'com.example.shop:'],
        '--allow-android-app takes <package>:<sha256 fingerprint>',
      ],
      [
        ['keys', 'update', keyId],
        '--allow-origin, --allow-android-app, --allow-ios-bundle or --clear-restrictions',
      ],
    ]
    for (const [args, message] of cases) {
      const refused = await cli([...args, ...store])
      expect(refused.code, args.join(' ')).toBe(EXIT.usage)
      expect(refused.stderr).toContain(message)
    }
    expect(
      (await cli(['keys', 'list', '--project', 'proj_restrictions', ...store, '--json'])).json(),
    ).toEqual(before)
    // A mistyped flag is named, as for any other.
    const typo = await cli([
      'keys',
      'update',
      keyId,
      '--allow-orgin',
      'https://a.example.com',
      ...store,
    ])
    expect(typo.stderr).toContain('unknown option --allow-orgin (did you mean --allow-origin?)')
  })

  it('names PORTCULLIS_REVEAL_KEY when revealing without it', async () => {
    const store = ['--store', `sqlite:${join(dir, 'reveal.db')}`]
    expect((await cli(['migrate', ...store])).code).toBe(EXIT.ok)
    const { test } = (
      await cli(['projects', 'provision', 'proj_reveal', ...store, '--json'])
    ).json()
    const without = await cli(['keys', 'reveal', test.secretKey.record.id, ...store], {
      PORTCULLIS_REVEAL_KEY: undefined,
    })
    expect(without.code).toBe(EXIT.refused)
    expect(without.stderr).toContain('needs PORTCULLIS_REVEAL_KEY')
    const other = await cli(['keys', 'reveal', test.secretKey.record.id, ...store], {
      PORTCULLIS_REVEAL_KEY: randomBytes(32).toString('base64url'),
    })
    expect(other.stderr).toContain('PORTCULLIS_REVEAL_KEY must be the revealKey')
    // Rolled without it, the new key can never be shown; the message says so and what to do.
    const rolled = await cli(['keys', 'roll', test.secretKey.record.id, ...store, '--json'], {
      PORTCULLIS_REVEAL_KEY: undefined,
    })
    const sealed = await cli(['keys', 'reveal', rolled.json().record.id, ...store])
    expect(sealed.code).toBe(EXIT.refused)
    expect(sealed.stderr).toContain('roll it with PORTCULLIS_REVEAL_KEY set')
    // A malformed one is a configuration mistake, named as such, not a store outage.
    const malformed = await cli(['keys', 'list', '--project', 'p', ...store], {
      PORTCULLIS_REVEAL_KEY: 'short',
    })
    expect(malformed.code).toBe(EXIT.usage)
    expect(malformed.stderr).toContain('PORTCULLIS_REVEAL_KEY must be exactly 32 bytes')
  })

  it.skipIf(stores[1]?.[1] === null)(
    'shows why the database refused, never the password in the URL',
    async () => {
      const password = `pw-${randomBytes(6).toString('hex')}`
      const base = new URL(serviceUrls.postgres)
      base.password = password
      base.pathname = '/portcullis_no_such_db'
      for (const args of [
        ['keys', 'list', '--project', 'p', '--store', base.href],
        ['migrate', '--store', base.href],
      ]) {
        const failed = await cli(args)
        expect(failed.code).toBe(EXIT.unavailable)
        expect(failed.stderr).toContain('cause: database "portcullis_no_such_db" does not exist')
        expect(failed.stderr).not.toContain(password)
      }
      const fromEnv = await cli(['projects', 'list'], { PORTCULLIS_STORE: base.href })
      expect(fromEnv.stderr).toContain('does not exist')
      expect(fromEnv.stderr).not.toContain(password)
      const down = await cli([
        'keys',
        'list',
        '--project',
        'p',
        '--store',
        `postgres://u:${password}@127.0.0.1:1/x`,
      ])
      expect(down.code).toBe(EXIT.unavailable)
      expect(down.stderr).toContain('cause: connect ECONNREFUSED')
      expect(down.stderr).not.toContain(password)
      const malformed = await cli([
        'keys',
        'list',
        '--project',
        'p',
        '--store',
        `postgres://u:${password}@127.0.0.1:port/x`,
      ])
      expect(malformed.code).toBe(EXIT.usage)
      expect(malformed.stderr).not.toContain(password)
    },
  )

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
