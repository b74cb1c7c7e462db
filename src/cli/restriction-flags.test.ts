import { describe, expect, it } from 'vitest'
import { UsageError } from './errors.js'
import { androidAppFrom, clientRestrictionsFrom } from './restriction-flags.js'

const FINGERPRINT = 'AB:'.repeat(31).concat('CD')

describe('--allow-android-app', () => {
  it('splits <package>:<fingerprint> at the first colon, so the fingerprint keeps its own', () => {
    expect(androidAppFrom(`com.example.shop:${FINGERPRINT}`)).toEqual({
      packageName: 'com.example.shop',
      sha256CertFingerprint: FINGERPRINT,
    })
    expect(androidAppFrom('com.example.shop:abcdef')).toEqual({
      packageName: 'com.example.shop',
      sha256CertFingerprint: 'abcdef',
    })
  })

  it.each(['com.example.shop', `:${FINGERPRINT}`, 'com.example.shop:', ''])(
    'refuses %j with a usage error',
    (flag) => {
      expect(() => androidAppFrom(flag)).toThrow(UsageError)
      expect(() => androidAppFrom(flag)).toThrow('<package>:<sha256 fingerprint>')
    },
  )
})

describe('the client restriction flags', () => {
  it('give one kind, nothing, or an empty list that lifts any kind', () => {
    expect(clientRestrictionsFrom({ 'allow-origin': ['https://a.example.com'] })).toEqual({
      allowedOrigins: ['https://a.example.com'],
    })
    expect(clientRestrictionsFrom({ 'allow-ios-bundle': ['com.example.shop'] })).toEqual({
      allowedIosBundleIds: ['com.example.shop'],
    })
    expect(clientRestrictionsFrom({ 'allow-android-app': [`a.b:${FINGERPRINT}`] })).toEqual({
      allowedAndroidApps: [{ packageName: 'a.b', sha256CertFingerprint: FINGERPRINT }],
    })
    expect(clientRestrictionsFrom({})).toEqual({})
    expect(clientRestrictionsFrom({}, true)).toEqual({ allowedOrigins: [] })
  })

  it('refuse two kinds, or a kind with --clear-restrictions', () => {
    expect(() =>
      clientRestrictionsFrom({ 'allow-origin': ['x'], 'allow-android-app': ['a.b:c'] }),
    ).toThrow('give --allow-origin or --allow-android-app, not both')
    expect(() => clientRestrictionsFrom({ 'allow-ios-bundle': ['x'] }, true)).toThrow(
      'give --allow-ios-bundle or --clear-restrictions, not both',
    )
  })
})
