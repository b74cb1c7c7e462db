import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../adapters/memory/index.js'
import { createPortcullis } from './portcullis.js'

const base = () => ({
  store: new MemoryStore({ sweepIntervalMs: 0 }),
  sessionSecret: randomBytes(32),
})

describe('createPortcullis options', () => {
  it('refuses a misspelt option instead of ignoring it: fail closed', () => {
    expect(() =>
      createPortcullis({ ...base(), refuseSecretKeysFromBrowser: false } as never),
    ).toThrow(
      /unknown option "refuseSecretKeysFromBrowser" \(known options: .*refuseSecretKeysFromBrowsers/,
    )
    expect(() => createPortcullis({ ...base(), cache: { ttl: 1000 } } as never)).toThrow(
      /cache: unknown option "ttl" \(known options: maxEntries, ttlMs, negativeTtlMs, maxMisses\)/,
    )
  })

  it('checks the browser switch and the app header names', () => {
    expect(() =>
      createPortcullis({ ...base(), refuseSecretKeysFromBrowsers: 'no' } as never),
    ).toThrow(/refuseSecretKeysFromBrowsers must be true or false/)
    expect(() => createPortcullis({ ...base(), appHeaders: { iosBundleId: 'X Bundle' } })).toThrow(
      /appHeaders.iosBundleId must be an HTTP header name/,
    )
    expect(() =>
      createPortcullis({ ...base(), resources: ['charges'], refuseSecretKeysFromBrowsers: false }),
    ).not.toThrow()
  })
})
