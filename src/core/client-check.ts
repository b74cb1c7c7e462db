import type { AuthenticateRequest } from './authenticate.js'
import { type ClientRestrictions, canonicalFingerprint } from './client-restrictions.js'
import type { ClientMemo } from './key-table.js'
import type { GateCore } from './options.js'
import { compileOriginMatcher, requestOrigin } from './origins.js'
import { readHeader } from './read-credential.js'
import { type Failure, fail } from './refusal.js'

const NO_ORIGIN =
  'This publishable key can be used only from certain web origins, and the request named none (no Origin or Referer, or "null").'

/**
 * Whether the client a request comes from is one the publishable key is limited to: null when
 * it is, else the refusal. Abuse and billing controls, not authentication (outside a browser
 * the headers can be forged). The answer for an origin is kept with the cached key, by the
 * header's text, so a page's repeated calls parse nothing.
 */
export function checkClient(
  core: GateCore,
  entry: ClientMemo,
  restrictions: ClientRestrictions,
  request: AuthenticateRequest,
): Failure | null {
  switch (restrictions.kind) {
    case 'origins': {
      const origin = readHeader(request.headers, 'origin')
      const raw = origin === undefined ? readHeader(request.headers, 'referer') : origin
      if (typeof raw === 'string' && raw === entry.lastOriginHeader) return entry.lastOriginRefusal
      const seen = requestOrigin(request.headers)
      let refusal: Failure | null
      if (seen === null) {
        refusal = fail('origin_not_allowed', NO_ORIGIN)
      } else {
        entry.originMatcher ??= compileOriginMatcher(restrictions.origins)
        refusal = entry.originMatcher(seen.origin)
          ? null
          : fail('origin_not_allowed', `This publishable key cannot be used from ${seen.text}.`)
      }
      if (typeof raw === 'string') {
        entry.lastOriginHeader = raw
        entry.lastOriginRefusal = refusal
      }
      return refusal
    }
    case 'android': {
      const packageName = readHeader(request.headers, core.appHeaders.androidPackage)
      const cert = readHeader(request.headers, core.appHeaders.androidCert)
      if (typeof packageName === 'string' && typeof cert === 'string') {
        const fingerprint = canonicalFingerprint(cert.trim())
        for (const app of restrictions.apps) {
          if (app.packageName === packageName.trim() && app.sha256CertFingerprint === fingerprint) {
            return null
          }
        }
      }
      return fail(
        'app_not_allowed',
        'This publishable key can be used only from certain Android apps (by package name and signing certificate).',
      )
    }
    case 'ios': {
      const bundleId = readHeader(request.headers, core.appHeaders.iosBundleId)
      if (typeof bundleId === 'string') {
        const wanted = bundleId.trim().toLowerCase()
        for (const allowed of restrictions.bundleIds)
          if (allowed.toLowerCase() === wanted) return null
      }
      return fail('app_not_allowed', 'This publishable key can be used only from certain iOS apps.')
    }
  }
}
