import { describe, expect, it } from 'vitest'
import { isPortcullisError } from './errors.js'
import {
  checkPermissions,
  createPermissionCatalog,
  grants,
  parseRequiredPermissions,
} from './permissions.js'

const catalog = createPermissionCatalog(['charges', 'customers', 'refunds'])

describe('the permission catalog', () => {
  it('holds the platform’s resources and the built-in client_sessions', () => {
    expect([...catalog]).toEqual(['client_sessions', 'charges', 'customers', 'refunds'])
    expect([...createPermissionCatalog(undefined)]).toEqual(['client_sessions'])
  })

  it('refuses a bad catalog at start-up', () => {
    for (const [resources, message] of [
      ['charges', /must be an array/],
      [['Charges'], /"Charges" is not a resource name/],
      [['charges', 'charges'], /charges is listed twice/],
      [['client_sessions'], /client_sessions is built in/],
      [[''], /is not a resource name/],
      [[7], /7 is not a resource name/],
    ] as const) {
      expect(() => createPermissionCatalog(resources)).toThrow(message)
    }
  })
})

describe('a restricted key’s permissions', () => {
  it('keep read and write, drop none, and come back frozen', () => {
    const granted = checkPermissions(
      { charges: 'write', customers: 'read', refunds: 'none' },
      catalog,
    )
    expect(granted).toEqual({ charges: 'write', customers: 'read' })
    expect(Object.isFrozen(granted)).toBe(true)
  })

  it('refuse an unknown resource or level with invalid_request naming it', () => {
    for (const [input, param] of [
      [{ payouts: 'read' }, 'permissions.payouts'],
      [{ charges: 'admin' }, 'permissions.charges'],
      [{ charges: true }, 'permissions.charges'],
      [['charges'], 'permissions'],
      [null, 'permissions'],
    ] as const) {
      try {
        checkPermissions(input, catalog)
        expect.unreachable(`accepted ${JSON.stringify(input)}`)
      } catch (error) {
        expect(isPortcullisError(error) && error.code).toBe('invalid_request')
        expect((error as { param?: string }).param).toBe(param)
      }
    }
  })
})

describe('what a route requires', () => {
  it('parses one permission or a list, and refuses what the catalog does not know', () => {
    expect(parseRequiredPermissions('charges:write', catalog, 'requireSecretKey')).toEqual([
      { resource: 'charges', level: 'write', text: 'charges:write' },
    ])
    expect(
      parseRequiredPermissions(['charges:read', 'client_sessions:write'], catalog, 'x').map(
        (p) => p.text,
      ),
    ).toEqual(['charges:read', 'client_sessions:write'])
    expect(() => parseRequiredPermissions('payouts:read', catalog, 'requireSecretKey')).toThrow(
      /requireSecretKey: permission payouts:read names no resource/,
    )
    for (const bad of ['charges', 'charges:admin', 'charges:WRITE', '', [], 7]) {
      expect(() => parseRequiredPermissions(bad, catalog, 'x'), String(bad)).toThrow(TypeError)
    }
  })

  it('is granted by the same or a higher level: write implies read, none grants nothing', () => {
    const [read] = parseRequiredPermissions('charges:read', catalog, 'x')
    const [write] = parseRequiredPermissions('charges:write', catalog, 'x')
    if (read === undefined || write === undefined) throw new Error('unparsed')
    const table: [Record<string, 'read' | 'write'>, boolean, boolean][] = [
      [{}, false, false],
      [{ charges: 'read' }, true, false],
      [{ charges: 'write' }, true, true],
      [{ customers: 'write' }, false, false],
    ]
    for (const [granted, canRead, canWrite] of table) {
      expect(grants(granted, read), JSON.stringify(granted)).toBe(canRead)
      expect(grants(granted, write), JSON.stringify(granted)).toBe(canWrite)
    }
  })
})
