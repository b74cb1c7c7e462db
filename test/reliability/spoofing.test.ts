/**
 * Spoofing the client address. Without `trustedProxies`, `X-Forwarded-For` never changes the
 * address an allowlist sees (whatever Express's `trust proxy` or Koa's `app.proxy` say); with
 * it, the chain is walked right to left past trusted hops only, checked against a reference
 * written here. IPv4-mapped IPv6 and IPv6 ranges match what they name and nothing more, and a
 * mapped CIDR shorter than /96 is refused wherever an address list is configured.
 *
 * `PORTCULLIS_RELIABILITY=full` runs the full case counts; otherwise a tenth. The file prints
 * its case count.
 */
import type { RequestListener, Server } from 'node:http'
import { createServer } from 'node:http'
import Router from '@koa/router'
import express5 from 'express'
import express4 from 'express4'
import fc from 'fast-check'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../../adapters/memory/index.js'
import * as forExpress from '../../src/express/index.js'
import {
  createPortcullis,
  InvalidRequestError,
  type Portcullis,
  type PortcullisOptions,
} from '../../src/index.js'
import * as forKoa from '../../src/koa/index.js'
import { createManualClock } from '../../src/testing/index.js'
import { spyOn } from '../helpers.js'
import { caseBudget, PROPERTY_TIMEOUT_MS } from './support/case-budget.js'

// ---------------------------------------------------------------------------------------------
// Case budget
// ---------------------------------------------------------------------------------------------

const FULL_RUNS = {
  untrustedGate: 20_000,
  untrustedHttp: 1_200,
  trustedGate: 20_000,
  trustedHttp: 1_000,
  mappedAndIpv6: 10_000,
  mappedCidrConfig: 5_000,
} as const
const budget = caseBudget(FULL_RUNS)
const { runsOf, counted } = budget
let httpRequests = 0

/** An assertion whose context is rendered only when it fails. */
function holds(condition: boolean, why: string, context: () => object): asserts condition {
  if (!condition) expect.fail(`${why}: ${JSON.stringify(context())}`)
}

// ---------------------------------------------------------------------------------------------
// Addresses, ranges and a reference client-address resolver
// ---------------------------------------------------------------------------------------------

type Addr =
  | { readonly family: 4; readonly value: number }
  | { readonly family: 6; readonly value: bigint }
type Range =
  | { readonly family: 4; readonly net: number; readonly bits: number }
  | { readonly family: 6; readonly net: bigint; readonly bits: number }

const V6_MAX = (1n << 128n) - 1n

const v4 = (value: number): Addr => ({ family: 4, value: value >>> 0 })
/** An IPv6 value; one in ::ffff:0:0/96 is the IPv4 address it maps, as the library reads it. */
const v6 = (value: bigint): Addr =>
  value >> 32n === 0xffffn ? v4(Number(value & 0xffffffffn)) : { family: 6, value }

const v4Text = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.')

function v6Groups(value: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))
}

type V6Style = 'full' | 'short' | 'compressed' | 'upper'

/** IPv6 text in one of the spellings a proxy or a person might use. */
function v6Text(value: bigint, style: V6Style): string {
  const groups = v6Groups(value)
  if (style === 'full') return groups.map((g) => g.toString(16).padStart(4, '0')).join(':')
  if (style === 'short') return groups.map((g) => g.toString(16)).join(':')
  // The longest run of two or more zero groups becomes "::".
  let bestAt = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestAt = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  const text =
    bestAt === -1
      ? hex.join(':')
      : `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`
  return style === 'upper' ? text.toUpperCase() : text
}

/** A text for an allowlist entry naming exactly this address. */
const entryOf = (addr: Addr) =>
  addr.family === 4 ? v4Text(addr.value) : v6Text(addr.value, 'compressed')
const sameAddr = (a: Addr, b: Addr) => a.family === b.family && a.value === b.value

function inRange(addr: Addr, range: Range): boolean {
  if (addr.family === 4 && range.family === 4) {
    return range.bits === 0 || (addr.value ^ range.net) >>> (32 - range.bits) === 0
  }
  if (addr.family === 6 && range.family === 6) {
    const shift = BigInt(128 - range.bits)
    return addr.value >> shift === range.net >> shift
  }
  return false
}
const inAny = (addr: Addr, ranges: readonly Range[]) => ranges.some((r) => inRange(addr, r))

const TEN: Range = { family: 4, net: 0x0a000000, bits: 8 }
const DOC6: Range = { family: 6, net: 0x20010db8n << 96n, bits: 32 }
const LOOPBACK: readonly Range[] = [
  { family: 4, net: 0x7f000000, bits: 8 },
  { family: 6, net: 1n, bits: 128 },
]

/** One hop of an `X-Forwarded-For` chain: its text and the address it names (null: unparseable). */
interface Hop {
  readonly text: string
  readonly addr: Addr | null
}

const MAX_HOPS = 64

/**
 * The reference: without a header, or from an untrusted peer, the client is the peer. Otherwise
 * walk the hops right to left, stepping past each trusted address; the first untrusted one is
 * the client, an unparseable hop (or an over-long chain) means no address at all.
 */
function referenceClient(
  peer: Addr | null,
  hops: readonly Hop[] | undefined,
  trusted: readonly Range[],
): Addr | null {
  if (peer === null || hops === undefined || trusted.length === 0) return peer
  if (!inAny(peer, trusted)) return peer
  if (hops.length === 1 && (hops[0] as Hop).text.trim() === '') return peer
  if (hops.length > MAX_HOPS) return null
  let current: Addr = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const next = (hops[i] as Hop).addr
    if (next === null) return null
    current = next
    if (!inAny(current, trusted)) return current
  }
  return current
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffffffff })
const v4Any = u32.map(v4)
const v4Ten = fc.integer({ min: 0, max: 0xffffff }).map((n) => v4(0x0a000000 + n))
const v4Loopback = fc.integer({ min: 0, max: 0xffffff }).map((n) => v4(0x7f000000 + n))
const v6Any = fc.bigInt({ min: 0n, max: V6_MAX }).map(v6)
const v6Doc = fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }).map((n) => v6((0x20010db8n << 96n) | n))
/** Just outside 2001:db8::/32, on either side, and IPv4-compatible (not mapped) addresses. */
const v6NearMiss = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }).map((n) => v6((0x20010db7n << 96n) | n)),
  fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }).map((n) => v6((0x20010db9n << 96n) | n)),
  fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }).map((n) => v6((0x30010db8n << 96n) | n)),
  u32.map((n) => v6(BigInt(n))),
)
const v6Special = fc.constantFrom(v6(0n), v6(1n), v6(0xfe80n << 112n), v6((0xffffn << 32n) - 1n))

const addrArb: fc.Arbitrary<Addr> = fc.oneof(
  { arbitrary: v4Any, weight: 3 },
  { arbitrary: v4Ten, weight: 3 },
  { arbitrary: v4Loopback, weight: 2 },
  { arbitrary: v6Any, weight: 2 },
  { arbitrary: v6Doc, weight: 2 },
  { arbitrary: v6NearMiss, weight: 1 },
  { arbitrary: v6Special, weight: 1 },
)

/** Any spelling of an address: IPv4, IPv4-mapped IPv6 (dotted or hex), IPv6 in every style. */
function spell(addr: Addr, style: number): string {
  if (addr.family === 4) {
    const dotted = v4Text(addr.value)
    const hex = `${(addr.value >>> 16).toString(16)}:${(addr.value & 0xffff).toString(16)}`
    return [
      dotted,
      dotted,
      `::ffff:${dotted}`,
      `::FFFF:${dotted}`,
      `0:0:0:0:0:ffff:${dotted}`,
      `::ffff:${hex}`,
    ][style % 6] as string
  }
  return v6Text(
    addr.value,
    (['compressed', 'full', 'short', 'upper'] as const)[style % 4] as V6Style,
  )
}

const GARBAGE = [
  'unknown',
  'localhost',
  '_hidden',
  '10.0.0',
  '10.0.0.256',
  '010.0.0.1',
  '0x0a.0.0.1',
  '10.0.0.1:8080',
  '[::1]',
  '[2001:db8::1]:443',
  '10.0.0.0/8',
  'for=10.0.0.1',
  '10.1.2.3 10.4.5.6',
  '2001:db8::1::2',
  '::ffff:10.1.2',
  '1e1.0.0.1',
  '١٠.0.0.1', // Arabic-Indic digits
  '10.0.0.1\u0000',
  'ᅟ',
]

const padArb = fc.constantFrom('', '', '', ' ', '  ', '\t')

const hopArb: fc.Arbitrary<Hop> = fc.oneof(
  {
    arbitrary: fc.tuple(addrArb, fc.nat(), padArb, padArb).map(([addr, style, left, right]) => ({
      text: `${left}${spell(addr, style)}${right}`,
      addr,
    })),
    weight: 12,
  },
  {
    arbitrary: fc.constantFrom(...GARBAGE).map((text) => ({ text, addr: null })),
    weight: 1,
  },
  // A zone id names the address it qualifies.
  { arbitrary: fc.constant({ text: 'fe80::1%eth0', addr: v6((0xfe80n << 112n) | 1n) }), weight: 1 },
  { arbitrary: fc.constantFrom('', ' ').map((text) => ({ text, addr: null })), weight: 1 },
)

/** A chain, and how it is sent: one header, or split over several (which Node joins with ", "). */
interface Chain {
  readonly hops: Hop[]
  readonly headers: string[]
}

const chainArb: fc.Arbitrary<Chain> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.array(hopArb, { minLength: 1, maxLength: 8 }), weight: 20 },
      { arbitrary: fc.array(hopArb, { minLength: 60, maxLength: 70 }), weight: 1 },
    ),
    fc.constantFrom(',', ', ', ' ,', ' , '),
    fc.nat(),
  )
  .map(([hops, glue, split]) => {
    // Split into 1-3 headers at hop boundaries.
    const parts = Math.min(hops.length, 1 + (split % 3))
    const size = Math.ceil(hops.length / parts)
    const headers: string[] = []
    for (let i = 0; i < hops.length; i += size) {
      headers.push(
        hops
          .slice(i, i + size)
          .map((h) => h.text)
          .join(glue),
      )
    }
    return { hops, headers }
  })

/** What Node's HTTP client can send: no control characters but tab. */
const sendable = (chain: Chain) => chain.headers.every((h) => /^[\t\x20-\x7e\x80-\xff]*$/.test(h))

// ---------------------------------------------------------------------------------------------
// Gates and apps
// ---------------------------------------------------------------------------------------------

const IP_REFUSAL = {
  error: {
    type: 'invalid_request_error',
    code: 'ip_not_allowed',
    message: 'Access is limited for this address',
  },
}

const FENCE = ['10.0.0.0/8', '2001:db8::/32']
const FENCE_RANGES: readonly Range[] = [TEN, DOC6]

interface Fenced {
  gate: Portcullis
  /** A secret key limited to FENCE. */
  key: string
  /** A secret key limited to 127.0.0.1. */
  local: string
}

async function fencedGate(options: Partial<PortcullisOptions> = {}): Promise<Fenced> {
  const clock = createManualClock()
  const gate = createPortcullis({
    store: new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }),
    sessionSecret: 'a session secret of at least thirty-two bytes',
    clock: clock.now,
    usageFlushIntervalMs: 3_600_000,
    ...options,
  })
  const created = await gate.keys.create({
    projectId: 'proj_a',
    type: 'secret',
    mode: 'test',
    allowedIps: FENCE,
  })
  const local = await gate.keys.create({
    projectId: 'proj_a',
    type: 'secret',
    mode: 'test',
    allowedIps: ['127.0.0.1'],
  })
  return { gate, key: created.key, local: local.key }
}

type Trusting = 'plain' | 'trusting'

interface App {
  readonly name: string
  readonly listener: RequestListener
}

function expressApp(
  name: string,
  express: typeof express5,
  gate: Portcullis,
  trusting: Trusting,
): App {
  const app = express()
  if (trusting === 'trusting') app.set('trust proxy', true)
  app.get('/secret', forExpress.requireSecretKey(gate), (_req, res) => {
    res.json({ ok: true })
  })
  app.get('/internal', forExpress.ipAllowlist(gate, FENCE), (_req, res) => {
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => {
    res.json({ ip: req.ip })
  })
  return { name: `${name}${trusting === 'trusting' ? ' (trust proxy)' : ''}`, listener: app }
}

function koaApp(name: string, Koa: typeof Koa3, gate: Portcullis, trusting: Trusting): App {
  const app = new Koa()
  if (trusting === 'trusting') app.proxy = true
  const router = new Router()
  router.get('/secret', forKoa.requireSecretKey(gate), (ctx) => {
    ctx.body = { ok: true }
  })
  router.get('/internal', forKoa.ipAllowlist(gate, FENCE), (ctx) => {
    ctx.body = { ok: true }
  })
  router.get('/whoami', (ctx) => {
    ctx.body = { ip: ctx.ip }
  })
  app.use(router.routes())
  return {
    name: `${name}${trusting === 'trusting' ? ' (app.proxy)' : ''}`,
    listener: app.callback(),
  }
}

function appsFor(gate: Portcullis): App[] {
  return (['plain', 'trusting'] as const).flatMap((trusting) => [
    expressApp('Express 5', express5, gate, trusting),
    expressApp('Express 4', express4 as unknown as typeof express5, gate, trusting),
    koaApp('Koa 3', Koa3, gate, trusting),
    koaApp('Koa 2', Koa2 as unknown as typeof Koa3, gate, trusting),
  ])
}

const servers: Server[] = []
const gates: Portcullis[] = []

async function listen(app: App, host = '127.0.0.1'): Promise<{ app: App; server: Server }> {
  const server = createServer(app.listener)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  servers.push(server)
  return { app, server }
}

async function get(server: Server, path: string, key: string | undefined, chain?: Chain) {
  httpRequests++
  let call = request(server).get(path)
  if (key !== undefined) call = call.set('Authorization', `Bearer ${key}`)
  // superagent's types take one string, but an array sends the header once per value.
  if (chain !== undefined) call = call.set('X-Forwarded-For', chain.headers as unknown as string)
  return call
}

let untrusted: Fenced
let trustedLoopback: Fenced
let trustedExact: Fenced

beforeAll(async () => {
  untrusted = await fencedGate()
  trustedLoopback = await fencedGate({ trustedProxies: ['loopback'] })
  trustedExact = await fencedGate({ trustedProxies: ['127.0.0.1'] })
  gates.push(untrusted.gate, trustedLoopback.gate, trustedExact.gate)
})

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve))
  for (const gate of gates) await gate.close()
  console.log(budget.summary('spoofing', `, ${httpRequests} HTTP requests`))
})

const headersOf = (chain: Chain | undefined): Record<string, string | string[]> =>
  chain === undefined
    ? {}
    : {
        'x-forwarded-for':
          chain.headers.length === 1 ? (chain.headers[0] as string) : chain.headers,
      }

// ---------------------------------------------------------------------------------------------
// Without trustedProxies
// ---------------------------------------------------------------------------------------------

describe('without trustedProxies, X-Forwarded-For never moves the address', () => {
  it(
    'decides on the socket address alone, whatever the chain says (gate.authenticate and a static allowlist)',
    async () => {
      const { gate, key } = untrusted
      const guard = gate.allowlist(FENCE)
      const peerArb = fc.tuple(addrArb, fc.nat()).map(([addr, style]) => ({
        addr,
        text: spell(addr, style),
      }))
      await fc.assert(
        fc.asyncProperty(peerArb, fc.option(chainArb, { nil: undefined }), async (peer, chain) => {
          counted('untrustedGate')
          const headers = { ...headersOf(chain), authorization: `Bearer ${key}` }
          const result = await gate.authenticate(
            { headers, remoteAddress: peer.text },
            { credential: 'secret' },
          )
          const admitted = inAny(peer.addr, FENCE_RANGES)
          const context = () => ({ peer, chain, result })
          holds(result.ok === admitted, 'key allowlist decided on something else', context)
          if (!result.ok) {
            holds(result.error.code === 'ip_not_allowed', 'wrong code', context)
            holds(result.error.status === 403, 'wrong status', context)
            holds(result.error.message === IP_REFUSAL.error.message, 'wrong message', context)
          }
          holds(
            guard({ headers, remoteAddress: peer.text }).ok === admitted,
            'static allowlist decided on something else',
            context,
          )
        }),
        { numRuns: runsOf('untrustedGate') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'refuses a loopback peer with 403 and the exact body through Express and Koa, trust proxy or app.proxy notwithstanding',
    async () => {
      const listening = await Promise.all(appsFor(untrusted.gate).map((app) => listen(app)))
      // Controls: the framework's own notion of the client is spoofed when it trusts proxies,
      // and the guarded routes do let an allowed address in.
      for (const { app, server } of listening) {
        const chain = { hops: [], headers: ['10.1.2.3'] }
        const whoami = await get(server, '/whoami', undefined, chain)
        const spoofable = app.name.includes('(')
        expect(whoami.body.ip, app.name).toBe(spoofable ? '10.1.2.3' : '127.0.0.1')
        expect((await get(server, '/secret', untrusted.local)).status, app.name).toBe(200)
      }
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...listening),
          chainArb.filter(sendable),
          async ({ app, server }, chain) => {
            counted('untrustedHttp')
            for (const [path, key] of [
              ['/secret', untrusted.key],
              ['/internal', undefined],
            ] as const) {
              const response = await get(server, path, key, chain)
              const context = () => ({
                app: app.name,
                path,
                chain: chain.headers,
                body: response.body,
              })
              holds(response.status === 403, `status ${response.status}`, context)
              holds(
                JSON.stringify(response.body) === JSON.stringify(IP_REFUSAL),
                'not the exact refusal body',
                context,
              )
            }
          },
        ),
        { numRuns: runsOf('untrustedHttp') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

// ---------------------------------------------------------------------------------------------
// With trustedProxies
// ---------------------------------------------------------------------------------------------

describe('with trustedProxies, only trusted hops are skipped, right to left', () => {
  const configurations = () =>
    [
      { name: "['loopback']", fenced: trustedLoopback, trusted: LOOPBACK },
      {
        name: "['127.0.0.1']",
        fenced: trustedExact,
        trusted: [{ family: 4, net: 0x7f000001, bits: 32 }] as Range[],
      },
    ] as const

  it(
    'resolves the client exactly as the reference does (gate.authenticate and static allowlists)',
    async () => {
      const extra: Record<string, { gate: Portcullis; trusted: readonly Range[] }> = {
        "['10.0.0.0/8', 'loopback']": {
          gate: (await fencedGate({ trustedProxies: ['10.0.0.0/8', 'loopback'] })).gate,
          trusted: [TEN, ...LOOPBACK],
        },
        "['2001:db8::/32', '127.0.0.1']": {
          gate: (await fencedGate({ trustedProxies: ['2001:db8::/32', '127.0.0.1'] })).gate,
          trusted: [DOC6, { family: 4, net: 0x7f000001, bits: 32 }],
        },
      }
      gates.push(...Object.values(extra).map((e) => e.gate))
      const subjects = [
        ...configurations().map((c) => ({ name: c.name, gate: c.fenced.gate, trusted: c.trusted })),
        ...Object.entries(extra).map(([name, e]) => ({ name, ...e })),
      ]
      const peerArb = fc.oneof(
        {
          arbitrary: fc.constantFrom('127.0.0.1', '::1', '::ffff:127.0.0.1', '127.9.9.9'),
          weight: 4,
        },
        {
          arbitrary: fc.tuple(addrArb, fc.nat()).map(([addr, style]) => spell(addr, style)),
          weight: 1,
        },
      )
      const everything = (subject: (typeof subjects)[number]) =>
        subject.gate.allowlist(['0.0.0.0/0', '::/0'])
      const anyAddress = new Map(subjects.map((s) => [s, everything(s)]))
      const keys = new Map<Portcullis, string>([
        [trustedLoopback.gate, trustedLoopback.key],
        [trustedExact.gate, trustedExact.key],
      ])
      for (const { gate } of subjects) {
        if (!keys.has(gate)) {
          const created = await gate.keys.create({
            projectId: 'proj_a',
            type: 'secret',
            mode: 'test',
            allowedIps: FENCE,
          })
          keys.set(gate, created.key)
        }
      }
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...subjects),
          peerArb,
          fc.option(chainArb, { nil: undefined, freq: 8 }),
          async (subject, peerText, chain) => {
            counted('trustedGate')
            const peer = parsePeerForReference(peerText)
            const expected = referenceClient(peer, chain?.hops, subject.trusted)
            const request = { headers: headersOf(chain), remoteAddress: peerText }
            const context = () => ({
              trusted: subject.name,
              peer: peerText,
              chain: chain?.headers,
              expected: expected === null ? null : entryOf(expected),
            })
            if (expected === null) {
              holds(
                !(anyAddress.get(subject)?.(request).ok ?? true),
                'an address was resolved',
                context,
              )
            } else {
              holds(
                subject.gate.allowlist([entryOf(expected)])(request).ok,
                'not the reference client',
                context,
              )
              // Nothing else in the chain is taken for the client.
              const others = [...(chain?.hops ?? []).map((h) => h.addr), peer]
                .filter((a): a is Addr => a !== null && !sameAddr(a, expected))
                .map(entryOf)
              if (others.length > 0) {
                holds(!subject.gate.allowlist(others)(request).ok, 'another hop was taken', context)
              }
            }
            const result = await subject.gate.authenticate(
              {
                ...request,
                headers: { ...request.headers, authorization: `Bearer ${keys.get(subject.gate)}` },
              },
              { credential: 'secret' },
            )
            const admitted = expected !== null && inAny(expected, FENCE_RANGES)
            holds(result.ok === admitted, 'key allowlist disagrees with the reference', context)
            if (!result.ok) holds(result.error.code === 'ip_not_allowed', 'wrong code', context)
          },
        ),
        { numRuns: runsOf('trustedGate') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'lets in exactly the requests whose reference client is allowed, through Express and Koa',
    async () => {
      const listening = (
        await Promise.all(
          configurations().map(async (config) =>
            (
              await Promise.all(appsFor(config.fenced.gate).map((app) => listen(app)))
            ).map((l) => ({
              ...l,
              config,
            })),
          ),
        )
      ).flat()
      const loopbackPeer = v4(0x7f000001)
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...listening),
          fc.option(chainArb.filter(sendable), { nil: undefined, freq: 10 }),
          async ({ app, server, config }, chain) => {
            counted('trustedHttp')
            const expected = referenceClient(loopbackPeer, chain?.hops, config.trusted)
            const allowed = expected !== null && inAny(expected, FENCE_RANGES)
            for (const [path, key] of [
              ['/secret', config.fenced.key],
              ['/internal', undefined],
            ] as const) {
              const response = await get(server, path, key, chain)
              const context = () => ({
                app: app.name,
                trusted: config.name,
                path,
                chain: chain?.headers,
                expected: expected === null ? null : entryOf(expected),
                status: response.status,
              })
              holds(
                response.status === (allowed ? 200 : 403),
                'disagrees with the reference',
                context,
              )
              if (!allowed) {
                holds(
                  JSON.stringify(response.body) === JSON.stringify(IP_REFUSAL),
                  'not the exact refusal body',
                  context,
                )
              }
            }
          },
        ),
        { numRuns: runsOf('trustedHttp') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it('believes X-Forwarded-For from a dual-stack socket whose IPv4 peer arrives IPv4-mapped', async () => {
    for (const fenced of [trustedExact, trustedLoopback]) {
      const { server } = await listen(appsFor(fenced.gate)[0] as App, '::')
      const chain = (text: string): Chain => ({ hops: [], headers: [text] })
      expect((await get(server, '/secret', fenced.key, chain('10.1.2.3'))).status).toBe(200)
      expect((await get(server, '/secret', fenced.key, chain('11.1.2.3'))).status).toBe(403)
      expect((await get(server, '/internal', undefined, chain('2001:db8::5'))).status).toBe(200)
      expect((await get(server, '/internal', undefined, chain('2001:db9::5'))).status).toBe(403)
    }
  })
})

/** The peer as the reference reads it: a spelling this file produced, or unknown. */
function parsePeerForReference(text: string): Addr | null {
  const fixed: Record<string, Addr> = {
    '127.0.0.1': v4(0x7f000001),
    '::1': v6(1n),
    '::ffff:127.0.0.1': v4(0x7f000001),
    '127.9.9.9': v4(0x7f090909),
  }
  if (fixed[text] !== undefined) return fixed[text] as Addr
  return readSpelling(text)
}

/** Inverse of {@link spell}: the generators only produce these forms. */
function readSpelling(text: string): Addr | null {
  const dotted = /^(?:(?:::ffff:|::FFFF:|0:0:0:0:0:ffff:))?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    return v4(((a << 24) | (b << 16) | (c << 8) | d) >>> 0)
  }
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text)
  if (mappedHex !== null) {
    return v4(
      ((Number.parseInt(mappedHex[1] as string, 16) << 16) |
        Number.parseInt(mappedHex[2] as string, 16)) >>>
        0,
    )
  }
  const lower = text.toLowerCase()
  const halves = lower.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':')
  const tail = halves.length === 1 || halves[1] === '' ? [] : (halves[1] as string).split(':')
  const groups =
    halves.length === 1
      ? head
      : [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail]
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null
  return v6(groups.reduce((value, g) => (value << 16n) | BigInt(Number.parseInt(g, 16)), 0n))
}

// ---------------------------------------------------------------------------------------------
// IPv4-mapped IPv6 and IPv6 ranges
// ---------------------------------------------------------------------------------------------

describe('IPv4-mapped IPv6 and IPv6 ranges', () => {
  it('normalises entries as the README documents', async () => {
    const { gate } = untrusted
    const cases: [string, string][] = [
      ['::ffff:0:0/96', '0.0.0.0/0'],
      ['::ffff:0.0.0.0/96', '0.0.0.0/0'],
      ['::ffff:203.0.113.0/120', '203.0.113.0/24'],
      ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['2001:DB8::/32', '2001:db8::/32'],
      ['2001:0db8:0000:0000:0000:0000:0000:0000/32', '2001:db8::/32'],
    ]
    for (const [entry, canonical] of cases) {
      const { record } = await gate.keys.create({
        projectId: 'proj_norm',
        type: 'secret',
        mode: 'test',
        allowedIps: [entry],
      })
      expect(record.allowedIps, entry).toEqual([canonical])
    }
  })

  it(
    'matches mapped peers as IPv4, IPv6 ranges exactly, and never one family with the other',
    async () => {
      const { gate } = untrusted
      const lists: { entries: string[]; ranges: Range[] }[] = [
        { entries: ['10.0.0.0/8'], ranges: [TEN] },
        { entries: ['::ffff:10.0.0.0/104'], ranges: [TEN] },
        { entries: ['2001:db8::/32'], ranges: [DOC6] },
        // All of IPv4 (the mapped block is IPv4), no native IPv6.
        { entries: ['::ffff:0:0/96'], ranges: [{ family: 4, net: 0, bits: 0 }] },
        // IPv6 ranges that contain ::ffff:0:0/96 as IPv6 text still match IPv6 peers only.
        { entries: ['::/0'], ranges: [{ family: 6, net: 0n, bits: 0 }] },
        { entries: ['::/80'], ranges: [{ family: 6, net: 0n, bits: 80 }] },
        { entries: ['::/8'], ranges: [{ family: 6, net: 0n, bits: 8 }] },
        {
          entries: ['10.1.2.3', '2001:db8::1'],
          ranges: [
            { family: 4, net: 0x0a010203, bits: 32 },
            { family: 6, net: (0x20010db8n << 96n) | 1n, bits: 128 },
          ],
        },
      ]
      const prepared = await Promise.all(
        lists.map(async (list) => {
          const { key } = await gate.keys.create({
            projectId: 'proj_ranges',
            type: 'secret',
            mode: 'test',
            allowedIps: list.entries,
          })
          return { ...list, key, guard: gate.allowlist(list.entries) }
        }),
      )
      const peerArb = fc.oneof(
        fc.tuple(addrArb, fc.nat()).map(([addr, style]) => ({ addr, text: spell(addr, style) })),
        fc.constantFrom(
          { addr: v4(0x0a010203), text: '::ffff:10.1.2.3' },
          { addr: v6(0x0a010203n), text: '::10.1.2.3' },
          { addr: v6(0x0a010203n), text: '::a01:203' },
          { addr: v6((0x20010db8n << 96n) | 1n), text: '2001:db8::1' },
          { addr: v6((0x20010db8n << 96n) - 1n), text: '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff' },
          { addr: v6(0x20010db9n << 96n), text: '2001:db9::' },
          { addr: v6((0xfe80n << 112n) | 1n), text: 'fe80::1%eth0' },
        ),
      )
      await fc.assert(
        fc.asyncProperty(peerArb, fc.constantFrom(...prepared), async (peer, list) => {
          counted('mappedAndIpv6')
          const expected = inAny(peer.addr, list.ranges)
          const request = {
            headers: { authorization: `Bearer ${list.key}` },
            remoteAddress: peer.text,
          }
          const context = () => ({ peer: peer.text, list: list.entries, expected })
          holds(list.guard(request).ok === expected, 'static allowlist', context)
          const result = await gate.authenticate(request, { credential: 'secret' })
          holds(result.ok === expected, 'key allowlist', context)
        }),
        { numRuns: runsOf('mappedAndIpv6') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'refuses a mapped CIDR shorter than /96 in keys, setAllowedIps, ipAllowlist and trustedProxies, and accepts /96 and longer as the IPv4 range',
    async () => {
      const base = new MemoryStore({ sweepIntervalMs: 0 })
      const { store, calls } = spyOn(base)
      const gate = createPortcullis({
        store,
        sessionSecret: 'a session secret of at least thirty-two bytes',
      })
      gates.push(gate)
      const existing = await gate.keys.create({
        projectId: 'proj_cfg',
        type: 'secret',
        mode: 'test',
        allowedIps: ['198.51.100.0/24'],
      })
      const spelling = fc.constantFrom(
        '::ffff:%d',
        '::FFFF:%d',
        '0:0:0:0:0:ffff:%d',
        '::ffff:%h',
        '0000:0000:0000:0000:0000:ffff:%h',
      )
      const entryArb = fc
        .record({
          value: u32,
          prefix: fc.integer({ min: 0, max: 128 }),
          spelling,
          at: fc.nat({ max: 2 }),
        })
        .map(({ value, prefix, spelling, at }) => {
          const v4Bits = Math.max(0, prefix - 96)
          const network = v4Bits === 0 ? 0 : (value & (0xffffffff << (32 - v4Bits))) >>> 0
          // Below /96 the address keeps its IPv4 bits: the pitfall is exactly "::ffff:10.0.0.0/8".
          const address = prefix < 96 ? value : network
          const hex = `${(address >>> 16).toString(16)}:${(address & 0xffff).toString(16)}`
          const text = spelling.replace('%d', v4Text(address)).replace('%h', hex)
          const entry = `${text}/${prefix}`
          const canonical = v4Bits === 32 ? v4Text(network) : `${v4Text(network)}/${v4Bits}`
          const list = ['192.0.2.0/24', '2001:db8::/32']
          list.splice(at, 0, entry)
          return { entry, prefix, canonical, list, at }
        })
      await fc.assert(
        fc.asyncProperty(entryArb, async ({ entry, prefix, canonical, list, at }) => {
          counted('mappedCidrConfig')
          const context = () => ({ entry, list })
          const pitfall = /IPv4-mapped range shorter than \/96/
          const before = calls.length
          if (prefix < 96) {
            const refusals: unknown[] = []
            const attempt = async (what: string, run: () => unknown) => {
              try {
                await run()
                refusals.push(`${what}: accepted`)
              } catch (error) {
                refusals.push(error)
              }
            }
            await attempt('keys.create', () =>
              gate.keys.create({
                projectId: 'proj_cfg',
                type: 'secret',
                mode: 'test',
                allowedIps: list,
              }),
            )
            await attempt('setAllowedIps', () => gate.keys.setAllowedIps(existing.record.id, list))
            await attempt('express ipAllowlist', () => forExpress.ipAllowlist(gate, list))
            await attempt('koa ipAllowlist', () => forKoa.ipAllowlist(gate, list))
            await attempt('trustedProxies', () =>
              createPortcullis({
                store: base,
                sessionSecret: 'a session secret of at least thirty-two bytes',
                trustedProxies: list,
              }),
            )
            for (const [i, error] of refusals.entries()) {
              const trusted = i === refusals.length - 1
              holds(
                trusted ? error instanceof TypeError : error instanceof InvalidRequestError,
                `not refused as expected (${i})`,
                () => ({ ...context(), error: String(error) }),
              )
              const message = (error as Error).message
              holds(
                pitfall.test(message) && message.includes(JSON.stringify(entry)),
                'unclear message',
                () => ({ ...context(), message }),
              )
              if (!trusted) {
                holds((error as InvalidRequestError).code === 'invalid_request', 'code', context)
                const param = i < 2 ? `allowedIps[${at}]` : `allowlist[${at}]`
                holds(
                  (error as InvalidRequestError).param === param,
                  `param ${(error as InvalidRequestError).param}`,
                  context,
                )
              } else {
                holds(message.startsWith('options.trustedProxies:'), 'names the option', context)
              }
            }
            // Refused before the store was asked anything.
            const made = calls.slice(before)
            holds(made.length === 0, 'the store was called', () => ({ ...context(), made }))
          } else {
            const updated = await gate.keys.setAllowedIps(existing.record.id, list)
            holds(updated.allowedIps[at] === canonical, 'not normalised to the IPv4 range', () => ({
              ...context(),
              got: updated.allowedIps,
              canonical,
            }))
            forExpress.ipAllowlist(gate, list)
            forKoa.ipAllowlist(gate, list)
            const trusting = createPortcullis({
              store: base,
              sessionSecret: 'a session secret of at least thirty-two bytes',
              trustedProxies: list,
            })
            await trusting.close()
          }
        }),
        { numRuns: runsOf('mappedCidrConfig') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it('refuses the named pitfalls with a clear error', async () => {
    const { gate } = untrusted
    for (const entry of [
      '::ffff:10.0.0.0/8',
      '::ffff:0.0.0.0/1',
      '::ffff:0:0/95',
      '::ffff:a00:0/8',
      '::FFFF:10.0.0.0/8',
    ]) {
      await expect(
        gate.keys.create({
          projectId: 'proj_pit',
          type: 'secret',
          mode: 'test',
          allowedIps: [entry],
        }),
      ).rejects.toThrow(/IPv4-mapped range shorter than \/96/)
      expect(() => forExpress.ipAllowlist(gate, [entry])).toThrow(
        /IPv4-mapped range shorter than \/96/,
      )
      expect(() => forKoa.ipAllowlist(gate, [entry])).toThrow(/IPv4-mapped range shorter than \/96/)
      expect(() =>
        createPortcullis({
          store: new MemoryStore({ sweepIntervalMs: 0 }),
          sessionSecret: 'a session secret of at least thirty-two bytes',
          trustedProxies: [entry],
        }),
      ).toThrow(/trustedProxies.*IPv4-mapped range shorter than \/96/)
    }
  })
})
