import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

describe('examples', () => {
  it('quickstart walks from provisioning to an idle-expired session', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], {
      cwd: root,
    })
    expect(stdout).toMatch(/test secret key: +sk_test_[0-9A-Za-z]{49}\n/)
    expect(stdout).toMatch(/test publishable key: pk_test_[0-9A-Za-z]{49}\n/)
    expect(stdout).toContain("credential: 'session'")
    expect(stdout).toContain('after 23 h idle -> ok, expiry slid forward')
    expect(stdout).toContain('after 25 more idle hours -> session_expired')
  })
})
