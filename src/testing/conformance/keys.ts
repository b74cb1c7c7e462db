import assert from 'node:assert/strict'
import type { PortcullisStore, StoredKey } from '../../core/store.js'
import { makeKey, randomProjectId } from '../fixtures.js'
import { assertConflict } from './assertions.js'
import { createConformanceHarness, DAY_MS, flipCase, HOUR_MS } from './harness.js'
import type { ConformanceGroupOptions } from './options.js'

/**
 * Registers the `keys` group of the storage conformance suite: storing and finding keys by
 * exact hash, duplicates, listing, snapshots, allowlists, atomic rolls, deletion and usage.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest'
 * import { describeKeyConformance } from 'portcullis/testing'
 *
 * // The key methods are all MyStore has so far: check them alone.
 * describe('MyStore', () => {
 *   describeKeyConformance({
 *     describe,
 *     it,
 *     createStore: ({ clock }) => new MyStore({ clock: clock.now }),
 *   })
 * })
 * ```
 */
export function describeKeyConformance<S extends PortcullisStore>(
  options: ConformanceGroupOptions<S>,
): void {
  const { describe, it } = options
  const { withStore } = createConformanceHarness(options)
  describe('keys', () => {
    it(
      'stores a key and finds it by id and by exact hash',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now(), {
          allowedIps: ['203.0.113.0/24'],
          expiresAt: clock.now() + DAY_MS,
        })
        await store.insertKey(key)
        assert.deepEqual(await store.getKey(key.id), key)
        assert.deepEqual(await store.findKeyByHash(key.hash), key)
      }),
    )

    it(
      'looks keys up by the whole hash, case-sensitively, and by nothing else',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now())
        await store.insertKey(key)
        assert.equal(await store.findKeyByHash(flipCase(key.hash)), null, 'case-insensitive match')
        assert.equal(await store.findKeyByHash(key.hash.slice(0, -1)), null, 'prefix match')
        assert.equal(await store.findKeyByHash(`${key.hash}A`), null, 'extension match')
        assert.equal(await store.findKeyByHash(key.id), null, 'id used as hash')
        // Two hashes that differ only in case are two keys (case-insensitive SQL collations).
        const twin = makeKey(clock.now(), { hash: flipCase(key.hash) })
        await store.insertKey(twin)
        assert.equal((await store.findKeyByHash(twin.hash))?.id, twin.id)
        assert.equal((await store.findKeyByHash(key.hash))?.id, key.id)
      }),
    )

    it(
      'refuses a duplicate id or hash with ConflictError and keeps the original',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now())
        await store.insertKey(key)
        await assert.rejects(store.insertKey(makeKey(clock.now(), { id: key.id })), assertConflict)
        await assert.rejects(
          store.insertKey(makeKey(clock.now(), { hash: key.hash })),
          assertConflict,
        )
        assert.deepEqual(await store.getKey(key.id), key)
        assert.deepEqual(await store.findKeyByHash(key.hash), key)
      }),
    )

    it(
      'lists the keys of one project, both modes, in creation order',
      withStore(async (store, clock) => {
        const projectId = randomProjectId()
        const first = makeKey(clock.now(), { projectId, mode: 'test' })
        clock.advance(1)
        const second = makeKey(clock.now(), {
          projectId,
          mode: 'live',
          type: 'publishable',
          prefix: 'pk_live',
        })
        clock.advance(1)
        const third = makeKey(clock.now(), { projectId, mode: 'live' })
        await store.insertKey(first)
        await store.insertKey(second)
        await store.insertKey(third)
        await store.insertKey(makeKey(clock.now()))
        const listed = await store.listKeys(projectId)
        assert.deepEqual(
          listed.map((key) => key.id),
          [first.id, second.id, third.id],
        )
        assert.deepEqual(await store.listKeys(randomProjectId()), [])
      }),
    )

    it(
      'returns snapshots: changing a returned record does not change the store',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now())
        await store.insertKey(key)
        const copy = (await store.getKey(key.id)) as StoredKey
        try {
          ;(copy as { name: string }).name = 'changed'
          ;(copy.allowedIps as string[]).push('10.0.0.0/8')
        } catch {
          // Frozen records refuse the change, which is just as good.
        }
        assert.deepEqual(await store.getKey(key.id), key)
      }),
    )

    it(
      'updates only the fields given, in one write, and round-trips permissions, metadata and client restrictions',
      withStore(async (store, clock) => {
        const metadata = { owner: 'ci', nested: { list: [1, 'two', null, true] }, emoji: 'é😀' }
        const key = makeKey(clock.now(), {
          type: 'restricted',
          prefix: 'rk_live',
          mode: 'live',
          name: 'Contractor',
          allowedIps: ['203.0.113.0/24'],
          permissions: { charges: 'read', customers: 'write' },
          metadata,
        })
        await store.insertKey(key)
        assert.deepEqual(await store.getKey(key.id), key)
        assert.deepEqual(await store.findKeyByHash(key.hash), key)
        const renamed = await store.updateKey(key.id, { name: 'Contractor (2027)' })
        assert.deepEqual(renamed, { ...key, name: 'Contractor (2027)' })
        const regranted = await store.updateKey(key.id, {
          permissions: { refunds: 'write' },
          metadata: null,
        })
        const expected = {
          ...key,
          name: 'Contractor (2027)',
          permissions: { refunds: 'write' },
          metadata: null,
        }
        assert.deepEqual(regranted, expected)
        assert.deepEqual(await store.getKey(key.id), expected)
        assert.deepEqual(await store.listKeys(key.projectId), [expected])
        assert.equal(await store.updateKey('key_missing', { name: 'x' }), null)

        // A publishable key's client restrictions: set, replaced by another kind, then cleared.
        const publishable = makeKey(clock.now(), {
          type: 'publishable',
          prefix: 'pk_live',
          mode: 'live',
          name: 'Storefront',
          metadata: { app: 'shop' },
          clientRestrictions: {
            kind: 'origins',
            origins: ['https://app.example.com', 'https://*.example.com'],
          },
        })
        await store.insertKey(publishable)
        assert.deepEqual(await store.getKey(publishable.id), publishable)
        assert.deepEqual(await store.findKeyByHash(publishable.hash), publishable)
        const toIos = await store.updateKey(publishable.id, {
          clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
        })
        const ios = {
          ...publishable,
          clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
        }
        assert.deepEqual(toIos, ios)
        assert.deepEqual(await store.findKeyByHash(publishable.hash), ios)
        const renamedOnly = await store.updateKey(publishable.id, { name: 'Storefront (iOS)' })
        assert.deepEqual(renamedOnly, { ...ios, name: 'Storefront (iOS)' }, 'restriction kept')
        const cleared = await store.updateKey(publishable.id, { clientRestrictions: null })
        const unrestricted = { ...ios, name: 'Storefront (iOS)', clientRestrictions: null }
        assert.deepEqual(cleared, unrestricted)
        assert.deepEqual(await store.getKey(publishable.id), unrestricted)
        const android = {
          kind: 'android',
          apps: [
            {
              packageName: 'com.example.shop',
              sha256CertFingerprint: Array.from({ length: 32 }, () => 'AB').join(':'),
            },
          ],
        } as const
        const toAndroid = await store.updateKey(publishable.id, { clientRestrictions: android })
        assert.deepEqual(toAndroid, { ...unrestricted, clientRestrictions: android })
        assert.deepEqual(await store.listKeys(publishable.projectId), [
          { ...unrestricted, clientRestrictions: android },
        ])
      }),
    )

    it(
      'replaces an allowlist, and answers null for a missing key',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now(), { allowedIps: ['203.0.113.0/24'] })
        await store.insertKey(key)
        const updated = await store.updateKey(key.id, {
          allowedIps: ['2001:db8::/32', '198.51.100.7'],
        })
        assert.deepEqual(updated?.allowedIps, ['2001:db8::/32', '198.51.100.7'])
        assert.deepEqual((await store.findKeyByHash(key.hash))?.allowedIps, [
          '2001:db8::/32',
          '198.51.100.7',
        ])
        assert.deepEqual((await store.updateKey(key.id, { allowedIps: [] }))?.allowedIps, [])
        assert.equal(await store.updateKey('key_missing', { allowedIps: ['10.0.0.1'] }), null)
      }),
    )

    it(
      'rolls a key atomically: the replacement exists and the old key is retired together',
      withStore(async (store, clock) => {
        const old = makeKey(clock.now())
        await store.insertKey(old)
        const replacement = makeKey(clock.now(), {
          projectId: old.projectId,
          rolledFromId: old.id,
        })
        const result = await store.rollKey({
          id: old.id,
          replacement,
          oldExpiresAt: clock.now() + HOUR_MS,
        })
        assert.equal(result.outcome, 'rolled')
        assert.ok(result.outcome === 'rolled')
        assert.equal(result.previous.rolledToId, replacement.id)
        assert.equal(result.previous.expiresAt, clock.now() + HOUR_MS)
        assert.deepEqual(result.replacement, replacement)
        assert.deepEqual(await store.findKeyByHash(replacement.hash), replacement)
        assert.deepEqual(await store.getKey(old.id), result.previous)
        assert.deepEqual(
          (await store.listKeys(old.projectId)).map((key) => key.id),
          [old.id, replacement.id],
        )
      }),
    )

    it(
      'a replacement inherits name, allowlist, permissions, metadata and client restrictions from the row the roll finds, not from the caller’s copy',
      withStore(async (store, clock) => {
        const old = makeKey(clock.now(), {
          type: 'restricted',
          prefix: 'rk_test',
          name: 'Billing',
          allowedIps: ['192.0.2.1/32'],
          permissions: { charges: 'read' },
          metadata: { team: 'billing' },
        })
        await store.insertKey(old)
        // Changed after the caller read the key, before the roll.
        await store.updateKey(old.id, {
          allowedIps: ['10.0.0.0/8'],
          permissions: { charges: 'write', refunds: 'read' },
          metadata: { team: 'payments', tier: 2 },
        })
        const stale = makeKey(clock.now(), {
          type: 'restricted',
          prefix: 'rk_test',
          projectId: old.projectId,
          rolledFromId: old.id,
          name: 'Stale name',
          allowedIps: [],
          permissions: { charges: 'read' },
          metadata: null,
        })
        const result = await store.rollKey({
          id: old.id,
          replacement: stale,
          oldExpiresAt: clock.now(),
        })
        assert.ok(result.outcome === 'rolled')
        const inherited = {
          ...stale,
          name: 'Billing',
          allowedIps: ['10.0.0.0/8'],
          permissions: { charges: 'write', refunds: 'read' },
          metadata: { team: 'payments', tier: 2 },
        }
        assert.deepEqual(result.replacement, inherited)
        assert.deepEqual(await store.findKeyByHash(stale.hash), inherited)
        assert.deepEqual(await store.getKey(stale.id), inherited)

        // A publishable key's client restrictions, changed (or cleared) after the caller's read.
        const storefront = makeKey(clock.now(), {
          type: 'publishable',
          prefix: 'pk_test',
          name: 'Storefront',
          clientRestrictions: { kind: 'origins', origins: ['https://app.example.com'] },
        })
        await store.insertKey(storefront)
        await store.updateKey(storefront.id, {
          clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
        })
        const staleStorefront = makeKey(clock.now(), {
          type: 'publishable',
          prefix: 'pk_test',
          projectId: storefront.projectId,
          rolledFromId: storefront.id,
          clientRestrictions: { kind: 'origins', origins: ['https://app.example.com'] },
        })
        const rolled = await store.rollKey({
          id: storefront.id,
          replacement: staleStorefront,
          oldExpiresAt: clock.now(),
        })
        assert.ok(rolled.outcome === 'rolled')
        const restricted = {
          ...staleStorefront,
          name: 'Storefront',
          clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
        }
        assert.deepEqual(rolled.replacement, restricted)
        assert.deepEqual(await store.findKeyByHash(staleStorefront.hash), restricted)

        // Cleared meanwhile: the replacement is unrestricted too, whatever the caller's copy says.
        await store.updateKey(staleStorefront.id, { clientRestrictions: null })
        const next = makeKey(clock.now(), {
          type: 'publishable',
          prefix: 'pk_test',
          projectId: storefront.projectId,
          rolledFromId: staleStorefront.id,
          clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
        })
        const rolledAgain = await store.rollKey({
          id: staleStorefront.id,
          replacement: next,
          oldExpiresAt: clock.now(),
        })
        assert.ok(rolledAgain.outcome === 'rolled')
        const cleared = { ...next, name: 'Storefront', clientRestrictions: null }
        assert.deepEqual(rolledAgain.replacement, cleared)
        assert.deepEqual(await store.getKey(next.id), cleared)
      }),
    )

    it(
      'never extends a rolled key past its own expiry',
      withStore(async (store, clock) => {
        const old = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
        await store.insertKey(old)
        const replacement = makeKey(clock.now(), { projectId: old.projectId })
        const result = await store.rollKey({
          id: old.id,
          replacement,
          oldExpiresAt: clock.now() + DAY_MS,
        })
        assert.ok(result.outcome === 'rolled')
        assert.equal(result.previous.expiresAt, clock.now() + HOUR_MS)
      }),
    )

    it(
      'rolls a key at most once: a second or concurrent roll writes nothing',
      withStore(async (store, clock) => {
        const old = makeKey(clock.now())
        await store.insertKey(old)
        const replacements = Array.from({ length: 10 }, () =>
          makeKey(clock.now(), { projectId: old.projectId }),
        )
        const results = await Promise.all(
          replacements.map((replacement) =>
            store.rollKey({ id: old.id, replacement, oldExpiresAt: clock.now() }),
          ),
        )
        const winners = results.filter((result) => result.outcome === 'rolled')
        assert.equal(winners.length, 1, 'exactly one concurrent roll wins')
        assert.ok(results.every((result) => result.outcome !== 'not_found'))
        const found = await Promise.all(
          replacements.map((replacement) => store.findKeyByHash(replacement.hash)),
        )
        assert.equal(
          found.filter((key) => key !== null).length,
          1,
          'exactly one replacement exists',
        )
        const current = await store.getKey(old.id)
        assert.equal(current?.rolledToId, found.find((key) => key !== null)?.id)
        assert.equal((await store.listKeys(old.projectId)).length, 2)
        const missing = await store.rollKey({
          id: 'key_missing',
          replacement: makeKey(clock.now()),
          oldExpiresAt: clock.now(),
        })
        assert.equal(missing.outcome, 'not_found')
      }),
    )

    it(
      'deletes a key from every lookup',
      withStore(async (store, clock) => {
        const key = makeKey(clock.now())
        await store.insertKey(key)
        assert.equal(await store.deleteKey(key.id), true)
        assert.equal(await store.getKey(key.id), null)
        assert.equal(await store.findKeyByHash(key.hash), null)
        assert.deepEqual(await store.listKeys(key.projectId), [])
        assert.equal(await store.deleteKey(key.id), false)
      }),
    )

    it(
      'records usage in batches, only ever raising lastUsedAt',
      withStore(async (store, clock) => {
        const a = makeKey(clock.now())
        const b = makeKey(clock.now(), { lastUsedAt: clock.now() + 5000 })
        await store.insertKey(a)
        await store.insertKey(b)
        await store.recordKeyUsage([
          { id: a.id, lastUsedAt: clock.now() + 1000 },
          { id: b.id, lastUsedAt: clock.now() + 1000 },
          { id: 'key_missing', lastUsedAt: clock.now() },
        ])
        assert.equal((await store.getKey(a.id))?.lastUsedAt, clock.now() + 1000)
        assert.equal((await store.getKey(b.id))?.lastUsedAt, clock.now() + 5000)
        assert.equal(await store.getKey('key_missing'), null, 'usage never creates a key')
        await store.recordKeyUsage([])
      }),
    )
  })
}
