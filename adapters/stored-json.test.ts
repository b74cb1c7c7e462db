import { describe, expect, it } from 'vitest'
import { jsonOrNull, parseClientRestrictions } from './stored-json.js'

const FINGERPRINT = Array.from({ length: 32 }, () => 'AB').join(':')

/** Frozen, and an object at all (`Object.isFrozen` says true of undefined and primitives). */
const frozenObject = (value: unknown) =>
  typeof value === 'object' && value !== null && Object.isFrozen(value)

describe('parseClientRestrictions', () => {
  it('reads each of the three kinds back as written, frozen at every level', () => {
    const written = [
      { kind: 'origins', origins: ['https://app.example.com', 'https://*.example.com'] },
      {
        kind: 'android',
        apps: [{ packageName: 'com.example.shop', sha256CertFingerprint: FINGERPRINT }],
      },
      { kind: 'ios', bundleIds: ['com.example.app', 'com.example.app.beta'] },
    ] as const
    for (const restrictions of written) {
      const read = parseClientRestrictions(jsonOrNull(restrictions) as string)
      expect(read).toEqual(restrictions)
      expect(read).toSatisfy(frozenObject)
      const [list] = Object.values(read ?? {}).filter(Array.isArray)
      expect(list).toSatisfy(frozenObject)
      for (const item of list ?? []) {
        if (typeof item === 'object') expect(item).toSatisfy(frozenObject)
      }
    }
  })

  it('reads the fields in any order, and an empty list as a restriction that admits nothing', () => {
    expect(parseClientRestrictions('{"bundleIds":["com.example.app"],"kind":"ios"}')).toEqual({
      kind: 'ios',
      bundleIds: ['com.example.app'],
    })
    expect(parseClientRestrictions('{"kind":"origins","origins":[]}')).toEqual({
      kind: 'origins',
      origins: [],
    })
  })

  // Fails closed: whatever this release cannot read in full is unusable, never "unrestricted".
  it.each([
    ['not JSON', '{"kind":"origins"'],
    ['JSON null', 'null'],
    ['an array', '[{"kind":"ios","bundleIds":[]}]'],
    ['a string', '"https://app.example.com"'],
    ['no kind', '{"origins":["https://app.example.com"]}'],
    ['an unknown kind', '{"kind":"referrers","referrers":["https://app.example.com"]}'],
    ['a kind in another case', '{"kind":"IOS","bundleIds":["com.example.app"]}'],
    ['the list of another kind', '{"kind":"ios","origins":["https://app.example.com"]}'],
    ['two kinds at once', '{"kind":"ios","bundleIds":["a.b"],"origins":["https://a.example"]}'],
    ['an extra field', '{"kind":"ios","bundleIds":["a.b"],"except":["c.d"]}'],
    ['a list that is a string', '{"kind":"origins","origins":"https://app.example.com"}'],
    ['a list that is null', '{"kind":"ios","bundleIds":null}'],
    ['a list holding a number', '{"kind":"origins","origins":["https://a.example",1]}'],
    ['a list holding null', '{"kind":"ios","bundleIds":[null]}'],
    ['an app without its fingerprint', '{"kind":"android","apps":[{"packageName":"a.b"}]}'],
    ['an app as a string', '{"kind":"android","apps":["a.b"]}'],
    [
      'an app with a numeric fingerprint',
      '{"kind":"android","apps":[{"packageName":"a.b","sha256CertFingerprint":1}]}',
    ],
    [
      'an app with an extra field',
      `{"kind":"android","apps":[{"packageName":"a.b","sha256CertFingerprint":"${FINGERPRINT}","debug":true}]}`,
    ],
    ['apps as an object', '{"kind":"android","apps":{"0":{"packageName":"a.b"}}}'],
    ['a __proto__ field', '{"kind":"ios","bundleIds":["a.b"],"__proto__":{"kind":"ios"}}'],
  ])('refuses %s', (_what, text) => {
    expect(parseClientRestrictions(text)).toBeUndefined()
  })
})
