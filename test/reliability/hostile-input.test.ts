/**
 * Hostile input, end to end: generated Authorization headers, keys and Client Session Tokens
 * sent through `gate.authenticate` and through the Express and Koa middleware. While the store
 * is up no input is answered with a 5xx; nothing whose key format or checksum is wrong (and no
 * token whose signature fails) reaches the store; forged and misused tokens get SPEC's codes.
 *
 * `PORTCULLIS_RELIABILITY=full` runs the full case counts (over 100,000 in all); otherwise a
 * tenth of each, so the default test run stays fast. The file prints its case count.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type RequestListener, type Server } from 'node:http'
import Router from '@koa/router'
import express from 'express'
import fc from 'fast-check'
import {
  type CryptoKey,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
} from 'jose'
import Koa from 'koa'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../../adapters/memory/index.js'
import { encodeBase62Fixed } from '../../src/core/base62.js'
import { crc32 } from '../../src/core/crc32.js'
import { createKeyFormat, type KeyFormat } from '../../src/core/key-format.js'
import * as forExpress from '../../src/express/index.js'
import {
  type AuthResult,
  type CredentialKind,
  createPortcullis,
  ERROR_TABLE,
  type ErrorCode,
  type Mode,
  type Portcullis,
  type PortcullisOptions,
  type PortcullisStore,
  readCredential,
  type StoreChange,
  toHttpError,
} from '../../src/index.js'
import * as forKoa from '../../src/koa/index.js'
import { createManualClock, type ManualClock } from '../../src/testing/index.js'
import { faultyStore, refused, spyOn } from '../helpers.js'
import { rawRequest, statusOf } from '../support/raw-http.js'
import { caseBudget, PROPERTY_TIMEOUT_MS } from './support/case-budget.js'

// ---------------------------------------------------------------------------------------------
// Case budget
// ---------------------------------------------------------------------------------------------

/** numRuns of every property in full mode; the default run uses a tenth of each. */
const FULL_RUNS = {
  arbitraryHeaders: 25_000,
  mutatedKeys: 32_000,
  storeDown: 6_000,
  httpExpress: 1_500,
  httpKoa: 1_500,
  jwsShaped: 15_000,
  resignedTokens: 10_000,
  forgedTokens: 5_000,
  oversizedAndNonAscii: 6_000,
} as const
/** Cases each property actually ran are counted inside the predicates. */
const budget = caseBudget(FULL_RUNS)
const { runsOf, counted } = budget

// ---------------------------------------------------------------------------------------------
// A store that records every call and lets the test drop every gate's cache between cases
// ---------------------------------------------------------------------------------------------

interface SpiedStore {
  readonly store: PortcullisStore
  readonly calls: string[]
  /** Drops everything the gates over this store cached (a `reset` change), so no case can hide behind an earlier one. */
  forget(): void
}

function spied(base: PortcullisStore): SpiedStore {
  const listeners = new Set<(change: StoreChange) => void>()
  const resettable = new Proxy(base, {
    get(target, property) {
      if (property === 'watch') {
        return async (listener: (change: StoreChange) => void) => {
          listeners.add(listener)
          return async () => {
            listeners.delete(listener)
          }
        }
      }
      const value = Reflect.get(target, property)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const { store, calls } = spyOn(resettable)
  return {
    store,
    calls,
    forget() {
      for (const listener of listeners) listener({ type: 'reset' })
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Gates under test and the credentials they issued
// ---------------------------------------------------------------------------------------------

/** What a correct gate must answer for one request: allowed codes ('ok' for acceptance) and the store calls. */
interface Verdict {
  readonly codes: readonly (ErrorCode | 'ok')[]
  readonly lookups: readonly string[]
}

interface Subject {
  readonly name: string
  readonly gate: Portcullis
  readonly spy: SpiedStore
  readonly format: KeyFormat
  /** Every credential this gate must accept: kind it serves and mode. */
  readonly valid: Map<string, { kind: CredentialKind; mode: Mode }>
  /** Tokens built to attack this gate, with the verdict each must get for a required mode. */
  readonly forged: Map<string, (mode: Mode | undefined) => Verdict>
}

interface Issued {
  keys: string[]
  tokens: { test: string; live: string }
  sessionIds: { test: string; live: string }
}

const REMOTE = '203.0.113.7'
const TOKEN_CLOCK_START = Date.UTC(2030, 0, 1)

function gateOptions(clock: ManualClock, extra: Partial<PortcullisOptions>) {
  return {
    clock: clock.now,
    usageFlushIntervalMs: 3_600_000,
    ...extra,
  }
}

/** Provisions a project, a development client key and one session per mode; records them as valid. */
async function issue(subject: Subject, projectId: string, clientId: string): Promise<Issued> {
  const { gate, valid } = subject
  const provisioned = await gate.projects.provision(projectId)
  const keys: string[] = []
  for (const mode of ['test', 'live'] as const) {
    for (const [kind, created] of [
      ['secret', provisioned[mode].secretKey],
      ['publishable', provisioned[mode].publishableKey],
    ] as const) {
      valid.set(created.key, { kind, mode })
      keys.push(created.key)
    }
  }
  const client = await gate.keys.create({
    projectId,
    type: 'client',
    mode: 'test',
    clientId: `dev_${clientId}`,
  })
  valid.set(client.key, { kind: 'session', mode: 'test' })
  keys.push(client.key)
  const sessions = { test: '', live: '' }
  const sessionIds = { test: '', live: '' }
  for (const mode of ['test', 'live'] as const) {
    const auth = await gate.authenticate(
      { headers: { authorization: `Bearer ${provisioned[mode].secretKey.key}` } },
      { credential: 'secret' },
    )
    if (!auth.ok) throw auth.error
    const created = await gate.sessions.create(auth.auth, { clientId })
    valid.set(created.token, { kind: 'session', mode })
    sessions[mode] = created.token
    sessionIds[mode] = created.session.id
  }
  return { keys, tokens: sessions, sessionIds }
}

function subjectOver(
  name: string,
  spy: SpiedStore,
  clock: ManualClock,
  options: Partial<PortcullisOptions>,
  shared?: Pick<Subject, 'valid' | 'forged'>,
): Subject {
  const gate = createPortcullis({
    sessionSecret: randomBytes(32),
    ...gateOptions(clock, options),
    store: spy.store,
  })
  return {
    name,
    gate,
    spy,
    format: createKeyFormat(options.keyPrefix),
    valid: shared?.valid ?? new Map(),
    forged: shared?.forged ?? new Map(),
  }
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

type HeaderValue = string | string[]

const nowSeconds = (clock: ManualClock) => Math.floor(clock.now() / 1000)

/**
 * The verdict a correct gate gives, decided from the header alone with the library's own
 * parsers (`readCredential`, the gate's key format) and the credentials the test issued.
 */
function judge(
  subject: Subject,
  value: HeaderValue,
  kind: CredentialKind,
  mode: Mode | undefined,
): Verdict {
  const read = readCredential({ authorization: value }, 'authorization')
  const missing = kind === 'session' ? 'session_missing' : 'api_key_missing'
  const invalid = kind === 'session' ? 'session_invalid' : 'api_key_invalid'
  if (read.status === 'missing') return { codes: [missing], lookups: [] }
  if (read.status === 'malformed') return { codes: [invalid], lookups: [] }
  const token = read.token
  const parsed = subject.format.parse(token)
  const known = subject.valid.get(token)
  const modeOk = known !== undefined && (mode === undefined || known.mode === mode)
  if (kind !== 'session') {
    // A JWS sent as a key is named as such (wrong_key_type); anything else is api_key_invalid.
    if (!parsed.ok) return { codes: [invalid, 'wrong_key_type'], lookups: [] }
    // A restricted key is a server key: it is looked up where a secret key is wanted, and
    // refused there (permission_denied) on a route that names no permission.
    const serves = parsed.type === kind || (kind === 'secret' && parsed.type === 'restricted')
    if (!serves) return { codes: ['wrong_key_type'], lookups: [] }
    const admitted = parsed.type === 'restricted' ? 'permission_denied' : 'ok'
    const code = known === undefined ? invalid : modeOk ? admitted : 'mode_mismatch'
    return { codes: [code], lookups: ['findKeyByHash'] }
  }
  if (parsed.ok) {
    if (parsed.type !== 'client') return { codes: ['wrong_key_type'], lookups: [] }
    if (parsed.mode !== 'test') return { codes: [invalid], lookups: [] }
    if (mode === 'live') return { codes: ['mode_mismatch'], lookups: [] }
    return { codes: [known === undefined ? invalid : 'ok'], lookups: ['findKeyByHash'] }
  }
  const forged = subject.forged.get(token)
  if (forged !== undefined) return forged(mode)
  if (known === undefined) return { codes: [invalid], lookups: [] }
  if (!modeOk) return { codes: ['mode_mismatch'], lookups: [] }
  return { codes: ['ok'], lookups: ['touchSession'] }
}

const codeOf = (result: AuthResult) => (result.ok ? 'ok' : result.error.code)

/** One request through `gate.authenticate` on a cleared cache, checked against the oracle. */
async function authenticateAndCheck(
  subject: Subject,
  value: HeaderValue,
  kind: CredentialKind,
  mode: Mode | undefined,
  storeDown = false,
): Promise<void> {
  subject.spy.forget()
  const before = subject.spy.calls.length
  const result = await subject.gate.authenticate(
    { headers: { authorization: value }, remoteAddress: REMOTE },
    mode === undefined ? { credential: kind } : { credential: kind, mode },
  )
  const calls = subject.spy.calls.slice(before)
  const verdict = judge(subject, value, kind, mode)
  const got = codeOf(result)
  const status = result.ok ? 200 : toHttpError(result.error).status
  const context = () => ({ value, kind, mode, got, status, calls, verdict })
  if (storeDown && verdict.lookups.length > 0) {
    holds(got === 'store_unavailable' && status === 503, 'expected store_unavailable', context)
  } else {
    holds(verdict.codes.includes(got), 'unexpected outcome', context)
    holds(status === 200 || status === 401 || status === 403, 'unexpected status', context)
  }
  holds(sameCalls(calls, verdict.lookups), 'unexpected store calls', context)
}

const sameCalls = (calls: readonly string[], expected: readonly string[]) =>
  calls.length === expected.length && calls.every((call, i) => call === expected[i])

/** An assertion whose (possibly large) context is rendered only when it fails. */
function holds(condition: boolean, why: string, context: () => object): asserts condition {
  if (!condition) {
    const text = JSON.stringify(context(), (_key, v) =>
      typeof v === 'string' && v.length > 300 ? `${v.slice(0, 300)}… (${v.length} chars)` : v,
    )
    expect.fail(`${why}: ${text}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const kindArb = fc.constantFrom<CredentialKind>('secret', 'publishable', 'session')
const modeArb = fc.constantFrom<Mode | undefined>(undefined, 'test', 'live')

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const B64URL = `${BASE62}-_`
const TOKEN68 = `${BASE62}-._~+/`

/** Characters a hostile header may carry: printable ASCII, controls, Latin-1, BMP, astral, lone surrogates. */
const hostileChar = fc.oneof(
  { arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), weight: 6 },
  { arbitrary: fc.constantFrom(...'\u0000\t\n\r\u000b\u000c\u001b\u007f'.split('')), weight: 2 },
  { arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), weight: 2 },
  {
    arbitrary: fc.integer({ min: 0x100, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
    weight: 1,
  },
  {
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    weight: 1,
  },
  {
    arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
    weight: 1,
  },
  {
    arbitrary: fc.constantFrom(
      '\u00a0', // no-break space
      '\u200b', // zero-width space
      '\u200e', // left-to-right mark
      '\u202e', // right-to-left override
      '\u2028', // line separator
      '\u3000', // ideographic space
      '\ufeff', // byte order mark
      '\u212a', // Kelvin sign (folds to K)
      '\u017f', // long s (folds to s)
      '\u0455', // Cyrillic dze, looks like s
      '\uff53', // fullwidth s
    ),
    weight: 2,
  },
)

const tokenChar = fc.constantFrom(...TOKEN68.split(''))

/** How a credential may be framed in the header (RFC 6750 and common mistakes). */
const FRAMINGS: readonly ((token: string) => HeaderValue)[] = [
  (t) => `Bearer ${t}`,
  (t) => `bearer ${t}`,
  (t) => `BEARER   ${t}`,
  (t) => `Bearer ${t}   `,
  (t) => `  Bearer ${t}`,
  (t) => `\tBearer ${t}\t`,
  (t) => t,
  (t) => `Basic ${t}`,
  (t) => `Token ${t}`,
  (t) => `Bearer\t${t}`,
  (t) => `Bearer:${t}`,
  (t) => `Bearer ${t} ${t}`,
  (t) => `Bearer ${t},Bearer ${t}`,
  (t) => `Bearer ${t}=`,
  (t) => `Bearer "${t}"`,
  (t) => `Bearer ${t}\n`,
  (t) => `Bearer ${t}\u0000`,
  (t) => `Bearer\u00a0${t}`,
  (t) => `Bearer ${t}\u3000`,
  (t) => [`Bearer ${t}`],
  (t) => [`Bearer ${t}`, `Bearer ${t}`],
  (t) => [`Bearer ${t}`, 'Bearer x'],
  (_t) => [],
]
const framingArb = fc.constantFrom(...FRAMINGS)

/** Framings that leave the token readable: the verdict is then the token's own. */
const CLEAN_FRAMINGS: readonly ((token: string) => string)[] = [
  (t) => `Bearer ${t}`,
  (t) => `bearer ${t}`,
  (t) => `BEARER  ${t}  `,
  (t) => `\tBearer ${t}`,
]

type KeyMutation = 'substitute' | 'delete' | 'insert' | 'flipCase' | 'retag' | 'remode' | 'prefix'

interface MutatedKey {
  readonly token: string
  /** Known from the construction alone: a single-character edit of a checksummed key fails its format. */
  readonly knownBad: boolean
}

const mutationCharArb = fc.oneof(
  { arbitrary: fc.constantFrom(...BASE62.split('')), weight: 6 },
  { arbitrary: fc.constantFrom(...'_-.~+/='.split('')), weight: 2 },
  { arbitrary: hostileChar, weight: 2 },
)

/** `key` with one edit; with `recompute`, the edit goes in the checked part and a fresh checksum follows. */
function mutateKey(
  key: string,
  op: KeyMutation,
  at: number,
  char: string,
  recompute: boolean,
  tag: string,
  mode: string,
  prefix: string,
): MutatedKey {
  const target = recompute ? key.slice(0, -6) : key
  const i = at % target.length
  let edited: string
  let singleEdit = true
  switch (op) {
    case 'substitute':
      edited = target.slice(0, i) + char + target.slice(i + 1)
      break
    case 'delete':
      edited = target.slice(0, i) + target.slice(i + 1)
      break
    case 'insert':
      edited = target.slice(0, i) + char + target.slice(i)
      break
    case 'flipCase': {
      const c = target[i] as string
      const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()
      edited = target.slice(0, i) + flipped + target.slice(i + 1)
      break
    }
    case 'retag':
      edited = target.replace(/(^|_)(sk|pk|ck|rk)_/, `$1${tag}_`)
      singleEdit = tag.length === 2
      break
    case 'remode':
      edited = target.replace(/_(test|live)_/, `_${mode}_`)
      singleEdit = mode.length === 4
      break
    case 'prefix':
      edited = prefix === '' ? target.replace(/^[a-z0-9]+_(?=(sk|pk|ck|rk)_)/, '') : prefix + target
      singleEdit = false
      break
  }
  if (recompute) {
    const token = edited + encodeBase62Fixed(crc32(edited), 6)
    return { token, knownBad: false }
  }
  // CRC-32 catches every change confined to 32 consecutive bits, and a length change breaks the
  // shape, so a single edit (at most four characters in a row) that changed anything is bad.
  return { token: edited, knownBad: singleEdit && edited !== key }
}

function mutatedKeyArb(keys: readonly string[]) {
  return fc
    .record({
      key: fc.constantFrom(...keys),
      op: fc.constantFrom<KeyMutation>(
        'substitute',
        'delete',
        'insert',
        'flipCase',
        'retag',
        'remode',
        'prefix',
      ),
      at: fc.nat(),
      char: mutationCharArb,
      recompute: fc.boolean(),
      tag: fc.constantFrom('sk', 'pk', 'ck', 'rk', 'xk', 'SK', 'sk_sk', ''),
      mode: fc.constantFrom('test', 'live', 'prod', 'TEST', 'tset', ''),
      prefix: fc.constantFrom('', 'acme_', 'other_', 'ghp_', 'sk_', 'Acme_'),
    })
    .map(({ key, op, at, char, recompute, tag, mode, prefix }) =>
      mutateKey(key, op, at, char, recompute, tag, mode, prefix),
    )
}

/** Three base64url segments, random or built from JSON that looks like a real header and payload. */
function jwsShapedArb(kids: readonly string[]) {
  const segment = fc.string({
    unit: fc.constantFrom(...B64URL.split('')),
    minLength: 1,
    maxLength: 80,
  })
  const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const header = fc
    .record({
      alg: fc.constantFrom('HS256', 'HS384', 'none', 'EdDSA', 'ES256', 'RS256', 'PS256', 'HS512'),
      kid: fc.option(fc.constantFrom(...kids, '', 'x', '../../etc/passwd'), { nil: undefined }),
      typ: fc.option(fc.constantFrom('pcst+jwt', 'JWT', 'at+jwt'), { nil: undefined }),
      crit: fc.option(fc.constant(['exp']), { nil: undefined }),
      jwk: fc.option(fc.constant({ kty: 'oct', k: 'AAAA' }), { nil: undefined }),
    })
    .map(json)
  const payload = fc
    .record({
      sid: fc.oneof(fc.string(), fc.integer()),
      pid: fc.constantFrom('proj_a', 'proj_b', ''),
      mode: fc.constantFrom('test', 'live', 'prod'),
      sub: fc.string(),
      exp: fc.integer(),
      iat: fc.integer(),
    })
    .map(json)
  return fc.oneof(
    fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
    fc.tuple(header, payload, segment).map((parts) => parts.join('.')),
    fc
      .tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.constantFrom('.', '..', ''))
      .map(([parts, glue]) => parts.join(glue)),
  )
}

// ---------------------------------------------------------------------------------------------
// Building and comparing session tokens
// ---------------------------------------------------------------------------------------------

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<
    string,
    unknown
  >
const json64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Same signing input, same signature bytes: base64url leaves a few spare bits in the last character. */
function equivalentToken(candidate: string, original: string): boolean {
  const a = candidate.split('.')
  const b = original.split('.')
  if (a.length !== 3 || a[0] !== b[0] || a[1] !== b[1]) return false
  const signature = a[2] as string
  if (!/^[A-Za-z0-9_-]+$/.test(signature) || signature.length % 4 === 1) return false
  return Buffer.from(signature, 'base64url').equals(Buffer.from(b[2] as string, 'base64url'))
}

interface SignSpec {
  header: Record<string, unknown>
  claims: Record<string, unknown>
  key: Uint8Array | CryptoKey
}

async function sign({ header, claims, key }: SignSpec): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key)
}

const INVALID: Verdict = { codes: ['session_invalid'], lookups: [] }
const always = (verdict: Verdict) => () => verdict

/** The verdict of a genuine token of `mode` under a required mode. */
const genuine = (mode: Mode) => (required: Mode | undefined) =>
  required !== undefined && required !== mode
    ? ({ codes: ['mode_mismatch'], lookups: [] } as Verdict)
    : ({ codes: ['ok'], lookups: ['touchSession'] } as Verdict)

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

interface AsymmetricGate {
  readonly alg: 'EdDSA' | 'ES256' | 'RS256'
  readonly subject: Subject
  readonly issued: Issued
  readonly publicKey: CryptoKey
  readonly privateKey: CryptoKey
  readonly kid: string
}

const clock = createManualClock(TOKEN_CLOCK_START)
const hsSecret = randomBytes(32)
const otherSecret = randomBytes(32)

let cached: Subject
let uncached: Subject
let acme: Subject
let other: Subject
let down: Subject
let storeIsDown = false
let plainIssued: Issued
let projectB: Issued
let acmeIssued: Issued
let otherIssued: Issued
let hsKid: string
let asymmetric: AsymmetricGate[]
let forgedFamilies: Record<string, { subject: Subject; token: string }[]>
const servers: Server[] = []

async function asymmetricGate(alg: AsymmetricGate['alg']): Promise<AsymmetricGate> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const kid = `${alg.toLowerCase()}-1`
  const subject = subjectOver(
    `${alg} gate`,
    spied(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })),
    clock,
    {
      sessionSecret: { alg, kid, publicKey, privateKey },
    },
  )
  const issued = await issue(subject, 'proj_a', 'user_1')
  return { alg, subject, issued, publicKey, privateKey, kid }
}

/**
 * Tokens built to attack a gate: alg none, algorithm confusion, another instance's key, wrong
 * typ or kid, expired, other project or mode. Each is recorded with the verdict it must get.
 */
async function forgeTokens(): Promise<Record<string, { subject: Subject; token: string }[]>> {
  const families: Record<string, { subject: Subject; token: string }[]> = {}
  const add = (
    family: string,
    subject: Subject,
    token: string,
    verdict: (m: Mode | undefined) => Verdict,
  ) => {
    subject.forged.set(token, verdict)
    const list = families[family] ?? []
    list.push({ subject, token })
    families[family] = list
  }
  const now = nowSeconds(clock)
  const realTest = plainIssued.tokens.test
  const claims = claimsOf(realTest)
  const [realHeader, realPayload, realSignature] = realTest.split('.') as [string, string, string]

  // alg: none, with and without a signature segment, in several spellings.
  for (const target of [cached, ...asymmetric.map((a) => a.subject)]) {
    const kid =
      target === cached
        ? hsKid
        : (asymmetric.find((a) => a.subject === target) as AsymmetricGate).kid
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      for (const header of [{ alg }, { alg, typ: 'pcst+jwt', kid }]) {
        const head = json64(header)
        add('alg none', target, `${head}.${json64(claims)}.`, always(INVALID))
        add('alg none', target, `${head}.${realPayload}.${realSignature}`, always(INVALID))
        add('alg none', target, `${head}.${json64(claims)}.${json64('')}`, always(INVALID))
      }
    }
  }

  // Algorithm confusion: HS256 signed with the public key of an asymmetric gate, in every
  // encoding an implementation might feed to HMAC; and other asymmetric algorithms.
  for (const { subject, publicKey, kid, issued, alg } of asymmetric) {
    const theirClaims = claimsOf(issued.tokens.test)
    const spki = await exportSPKI(publicKey)
    const jwk = await exportJWK(publicKey)
    const der = Buffer.from(spki.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
    const materials: Uint8Array[] = [
      new TextEncoder().encode(spki),
      new Uint8Array(der),
      new TextEncoder().encode(JSON.stringify(jwk)),
      ...(jwk.x === undefined ? [] : [new Uint8Array(Buffer.from(jwk.x, 'base64url'))]),
      ...(jwk.n === undefined ? [] : [new Uint8Array(Buffer.from(jwk.n, 'base64url'))]),
    ]
    for (const key of materials) {
      for (const hs of ['HS256', 'HS384', 'HS512']) {
        const token = await sign({
          header: { alg: hs, kid, typ: 'pcst+jwt' },
          claims: theirClaims,
          key,
        })
        add('algorithm confusion', subject, token, always(INVALID))
      }
    }
    // Another asymmetric algorithm under this gate's kid, and the right algorithm with a stranger's key.
    for (const foreign of ['EdDSA', 'ES256', 'RS256'] as const) {
      const pair = await generateKeyPair(foreign)
      const token = await sign({
        header: { alg: foreign, kid, typ: 'pcst+jwt' },
        claims: theirClaims,
        key: pair.privateKey,
      })
      add(
        foreign === alg ? 'another instance' : 'algorithm confusion',
        subject,
        token,
        always(INVALID),
      )
    }
    // The gate's genuine tokens presented to the HS256 gate, and the reverse.
    add('algorithm confusion', cached, issued.tokens.test, always(INVALID))
    add('algorithm confusion', subject, realTest, always(INVALID))
    // Its genuine tokens: accepted by itself (a control for the refusals above).
    subject.forged.set(issued.tokens.test, genuine('test'))
    subject.forged.set(issued.tokens.live, genuine('live'))
  }
  // Asymmetric tokens under the HS256 gate's own kid.
  for (const foreign of ['EdDSA', 'ES256', 'RS256'] as const) {
    const pair = await generateKeyPair(foreign)
    const token = await sign({
      header: { alg: foreign, kid: hsKid, typ: 'pcst+jwt' },
      claims,
      key: pair.privateKey,
    })
    add('algorithm confusion', cached, token, always(INVALID))
  }

  // Another instance: its genuine tokens (same project id and client, its own secret), and its
  // secret signing under our kid, or configured with our kid outright.
  for (const token of [otherIssued.tokens.test, otherIssued.tokens.live]) {
    add('another instance', cached, token, always(INVALID))
  }
  add(
    'another instance',
    cached,
    await sign({ header: { alg: 'HS256', kid: hsKid, typ: 'pcst+jwt' }, claims, key: otherSecret }),
    always(INVALID),
  )
  const impostor = createPortcullis({
    store: new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }),
    sessionSecret: { secret: otherSecret, kid: hsKid },
    clock: clock.now,
  })
  const impostorKeys = await impostor.projects.provision('proj_a')
  const impostorAuth = await impostor.authenticate(
    { headers: { authorization: `Bearer ${impostorKeys.test.secretKey.key}` } },
    { credential: 'secret' },
  )
  if (!impostorAuth.ok) throw impostorAuth.error
  const impostorToken = (await impostor.sessions.create(impostorAuth.auth, { clientId: 'user_1' }))
    .token
  expect(decodeProtectedHeader(impostorToken).kid).toBe(hsKid)
  add('another instance', cached, impostorToken, always(INVALID))
  await impostor.close()

  // Wrong typ, missing or unknown kid: signed with the real secret.
  for (const typ of ['JWT', 'at+jwt', 'pcst+jws', undefined]) {
    const header =
      typ === undefined ? { alg: 'HS256', kid: hsKid } : { alg: 'HS256', kid: hsKid, typ }
    add('wrong typ', cached, await sign({ header, claims, key: hsSecret }), always(INVALID))
  }
  for (const kid of [undefined, '', 'unknown', `${hsKid}x`, hsKid.toUpperCase()]) {
    const header =
      kid === undefined ? { alg: 'HS256', typ: 'pcst+jwt' } : { alg: 'HS256', kid, typ: 'pcst+jwt' }
    add(
      'missing or unknown kid',
      cached,
      await sign({ header, claims, key: hsSecret }),
      always(INVALID),
    )
  }
  // The real secret under another HMAC algorithm: the algorithm is pinned per key.
  for (const alg of ['HS384', 'HS512']) {
    add(
      'algorithm confusion',
      cached,
      await sign({ header: { alg, kid: hsKid, typ: 'pcst+jwt' }, claims, key: hsSecret }),
      always(INVALID),
    )
  }

  // Expired exp (signed correctly): session_expired before any store read.
  for (const exp of [now - 1, now, now - 86_400 * 30]) {
    add(
      'expired',
      cached,
      await sign({
        header: { alg: 'HS256', kid: hsKid, typ: 'pcst+jwt' },
        claims: { ...claims, exp },
        key: hsSecret,
      }),
      always({ codes: ['session_expired'], lookups: [] }),
    )
  }

  // Another project or mode: the payload swapped without re-signing is refused unread; re-signed
  // (only a holder of the secret can) it reaches the store, whose record does not match.
  for (const change of [
    { pid: 'proj_b' },
    { mode: 'live' },
    { sub: 'user_2' },
    { sid: projectB.sessionIds.test },
  ]) {
    add(
      'another project or mode',
      cached,
      `${realHeader}.${json64({ ...claims, ...change })}.${realSignature}`,
      always(INVALID),
    )
  }
  add(
    'another project or mode',
    cached,
    await sign({
      header: { alg: 'HS256', kid: hsKid, typ: 'pcst+jwt' },
      claims: { ...claims, pid: 'proj_b' },
      key: hsSecret,
    }),
    (required) =>
      required === 'live'
        ? { codes: ['mode_mismatch'], lookups: [] }
        : { codes: ['session_invalid'], lookups: ['touchSession'] },
  )
  add(
    'another project or mode',
    cached,
    await sign({
      header: { alg: 'HS256', kid: hsKid, typ: 'pcst+jwt' },
      claims: { ...claims, mode: 'live' },
      key: hsSecret,
    }),
    (required) =>
      required === 'test'
        ? { codes: ['mode_mismatch'], lookups: [] }
        : { codes: ['session_invalid'], lookups: ['touchSession'] },
  )
  // Genuine tokens of either mode where the other mode is required.
  add('another project or mode', cached, plainIssued.tokens.test, genuine('test'))
  add('another project or mode', cached, plainIssued.tokens.live, genuine('live'))
  return families
}

beforeAll(async () => {
  const shared = spied(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 }))
  cached = subjectOver('HS256 gate, cached', shared, clock, { sessionSecret: hsSecret })
  uncached = subjectOver(
    'HS256 gate, cache off',
    shared,
    clock,
    { sessionSecret: hsSecret, cache: false },
    cached,
  )
  plainIssued = await issue(cached, 'proj_a', 'user_1')
  projectB = await issue(cached, 'proj_b', 'user_2')
  hsKid = decodeProtectedHeader(plainIssued.tokens.test).kid as string

  acme = subjectOver(
    'acme-prefixed gate',
    spied(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })),
    clock,
    {
      keyPrefix: 'acme',
    },
  )
  acmeIssued = await issue(acme, 'proj_a', 'user_1')
  other = subjectOver(
    'another instance',
    spied(new MemoryStore({ clock: clock.now, sweepIntervalMs: 0 })),
    clock,
    {
      sessionSecret: otherSecret,
    },
  )
  otherIssued = await issue(other, 'proj_a', 'user_1')

  const faulty = spied(faultyStore(refused, () => storeIsDown))
  down = subjectOver('store down', faulty, clock, { sessionSecret: hsSecret })
  storeIsDown = true

  asymmetric = [
    await asymmetricGate('EdDSA'),
    await asymmetricGate('ES256'),
    await asymmetricGate('RS256'),
  ]
  forgedFamilies = await forgeTokens()
}, 60_000)

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve))
  for (const subject of [
    cached,
    uncached,
    acme,
    other,
    down,
    ...(asymmetric ?? []).map((a) => a.subject),
  ]) {
    await subject?.gate.close()
  }
  console.log(budget.summary('hostile-input'))
})

// ---------------------------------------------------------------------------------------------
// 1. Authorization headers through gate.authenticate
// ---------------------------------------------------------------------------------------------

describe('hostile Authorization headers through gate.authenticate', () => {
  it('plans at least 100,000 generated cases in full mode', () => {
    expect(budget.fullTotal).toBeGreaterThanOrEqual(100_000)
  })

  it(
    'never accepts, never answers 5xx and never reads the store for arbitrary header values',
    async () => {
      const pool = () => [...cached.valid.keys(), ...acme.valid.keys(), ...other.valid.keys()]
      const framed = fc
        .tuple(fc.constantFrom(...pool()), framingArb)
        .map(([token, frame]) => frame(token))
      const value: fc.Arbitrary<HeaderValue> = fc.oneof(
        { arbitrary: fc.string({ unit: hostileChar, maxLength: 300 }), weight: 4 },
        {
          arbitrary: fc.string({ unit: hostileChar, maxLength: 120 }).map((s) => `Bearer ${s}`),
          weight: 4,
        },
        {
          arbitrary: fc.string({ unit: tokenChar, maxLength: 120 }).map((s) => `Bearer ${s}`),
          weight: 4,
        },
        {
          arbitrary: fc
            .tuple(
              fc.string({ unit: hostileChar, minLength: 1, maxLength: 12 }),
              fc.integer({ min: 200, max: 3000 }),
            )
            .map(([s, n]) => `Bearer ${s.repeat(n)}`),
          weight: 1,
        },
        { arbitrary: framed, weight: 3 },
        {
          arbitrary: fc.array(fc.string({ unit: hostileChar, maxLength: 40 }), { maxLength: 3 }),
          weight: 1,
        },
      )
      await fc.assert(
        fc.asyncProperty(
          value,
          kindArb,
          modeArb,
          fc.constantFrom(cached, uncached, acme),
          async (v, kind, mode, subject) => {
            counted('arbitraryHeaders')
            await authenticateAndCheck(subject, v, kind, mode)
          },
        ),
        { numRuns: runsOf('arbitraryHeaders') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'refuses mutated real keys, reading the store only for well-formed keys of the wanted type',
    async () => {
      const keys = [...plainIssued.keys, ...projectB.keys, ...acmeIssued.keys, ...otherIssued.keys]
      const formats = [cached.format, acme.format]
      await fc.assert(
        fc.asyncProperty(
          mutatedKeyArb(keys),
          fc.constantFrom(...CLEAN_FRAMINGS, ...FRAMINGS),
          kindArb,
          modeArb,
          fc.constantFrom(cached, uncached, acme),
          async (mutated, frame, kind, mode, subject) => {
            counted('mutatedKeys')
            // The construction and the library's parser agree that a single edit breaks a key.
            if (mutated.knownBad)
              for (const format of formats) expect(format.parse(mutated.token).ok).toBe(false)
            await authenticateAndCheck(subject, frame(mutated.token), kind, mode)
          },
        ),
        { numRuns: runsOf('mutatedKeys') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'answers 503 only when a well-formed credential needs the store, and 4xx unread otherwise, while the store is down',
    async () => {
      const pool = [...plainIssued.keys, ...Object.values(plainIssued.tokens)]
      const value: fc.Arbitrary<HeaderValue> = fc.oneof(
        fc.tuple(mutatedKeyArb(plainIssued.keys), framingArb).map(([m, frame]) => frame(m.token)),
        fc.tuple(fc.constantFrom(...pool), framingArb).map(([token, frame]) => frame(token)),
        fc.string({ unit: hostileChar, maxLength: 200 }).map((s) => `Bearer ${s}`),
      )
      // The store-down gate shares the HS256 secret, so the plain gate's tokens verify on it.
      const subject: Subject = { ...down, valid: cached.valid, forged: new Map() }
      await fc.assert(
        fc.asyncProperty(value, kindArb, modeArb, async (v, kind, mode) => {
          counted('storeDown')
          await authenticateAndCheck(subject, v, kind, mode, true)
        }),
        { numRuns: runsOf('storeDown') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

// ---------------------------------------------------------------------------------------------
// 2. The same through the Express and Koa middleware, over HTTP
// ---------------------------------------------------------------------------------------------

/** What Node's HTTP client sends as a header value: tab, printable ASCII and Latin-1 (obs-text). */
const SENDABLE = /^[\t\x20-\x7e\x80-\xff]*$/

function expressApp(gate: Portcullis): RequestListener {
  const { requireSecretKey, requirePublishableKey, requireSession } = forExpress
  const app = express()
  const ok = (_req: unknown, res: express.Response) => {
    res.json({ ok: true })
  }
  app.get('/secret', requireSecretKey(gate), ok)
  app.get('/publishable', requirePublishableKey(gate), ok)
  app.get('/session', requireSession(gate), ok)
  return app
}

function koaApp(gate: Portcullis): RequestListener {
  const { requireSecretKey, requirePublishableKey, requireSession } = forKoa
  const app = new Koa()
  const router = new Router()
  const ok = (ctx: { body: unknown }) => {
    ctx.body = { ok: true }
  }
  router.get('/secret', requireSecretKey(gate), ok)
  router.get('/publishable', requirePublishableKey(gate), ok)
  router.get('/session', requireSession(gate), ok)
  app.use(router.routes())
  return app.callback()
}

async function listen(listener: RequestListener): Promise<Server> {
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return server
}

const ROUTES: Readonly<Record<CredentialKind, string>> = {
  secret: '/secret',
  publishable: '/publishable',
  session: '/session',
}

/** Node's own limit on the request head (16 KiB): above it Node answers 431 itself. */
const NODE_HEADER_LIMIT = 16 * 1024

async function httpCheck(
  server: Server,
  value: HeaderValue,
  kind: CredentialKind,
): Promise<number> {
  const subject = cached
  subject.spy.forget()
  const before = subject.spy.calls.length
  // superagent's types take one string, but an array sends the header once per value.
  const response = await request(server)
    .get(ROUTES[kind])
    .set('Authorization', value as string)
  const calls = subject.spy.calls.slice(before)
  const values = Array.isArray(value) ? value : [value]
  const verdicts = values.map((v) => judge(subject, v, kind, undefined))
  const size = values.reduce((sum, v) => sum + v.length, 0)
  const status = response.status
  const context = () => ({ value: values, kind, status, body: response.body, calls, verdicts })
  holds(status < 500, 'a 5xx', context)
  if (size > NODE_HEADER_LIMIT) {
    holds(status === 431, 'expected Node to refuse the oversized head', context)
  } else if (status === 431) {
    // The rest of the request head counts towards Node's limit too.
    holds(size > NODE_HEADER_LIMIT - 1024, 'a 431 well under the limit', context)
  } else if (values.length === 1) {
    const verdict = verdicts[0] as Verdict
    const got = status === 200 ? 'ok' : response.body?.error?.code
    holds(verdict.codes.includes(got), 'unexpected outcome', context)
    holds(got === 'ok' || status === ERROR_TABLE[got as ErrorCode].status, 'status', context)
    holds(sameCalls(calls, verdict.lookups), 'unexpected store calls', context)
  } else if (status === 200) {
    // A repeated header: whatever Node makes of it, only a valid credential gets in.
    holds(
      verdicts.some((v) => v.codes.includes('ok')),
      'a repeated header got in without a valid credential',
      context,
    )
  } else {
    holds(status === 401 || status === 403, 'unexpected status', context)
  }
  // Nothing malformed reaches the store, whatever the framing.
  if (verdicts.every((v) => v.lookups.length === 0)) {
    holds(calls.length === 0, 'a malformed credential reached the store', context)
  }
  return status
}

describe.each([
  ['Express', expressApp, 'httpExpress'],
  ['Koa', koaApp, 'httpKoa'],
] as const)(
  'hostile Authorization headers through the %s middleware',
  (_name, makeApp, property) => {
    it(
      'never answers 5xx and never reads the store for malformed credentials',
      async () => {
        const server = await listen(makeApp(cached.gate))
        const credentials = [...cached.valid.keys(), ...acme.valid.keys(), ...other.valid.keys()]
        const forged = [...cached.forged.keys()]
        const sendableChar = fc.oneof(
          {
            arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
            weight: 6,
          },
          {
            arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
            weight: 2,
          },
          { arbitrary: fc.constant('\t'), weight: 1 },
        )
        // UTF-8 bytes of any text, sent raw (Node's client writes a string's Latin-1 bytes).
        const utf8Bytes = fc.string({ unit: hostileChar, maxLength: 60 }).map((s) =>
          Buffer.from(s, 'utf8')
            .toString('latin1')
            .replace(/[^\t\x20-\x7e\x80-\xff]/g, ''),
        )
        const single: fc.Arbitrary<string> = fc.oneof(
          { arbitrary: fc.string({ unit: sendableChar, maxLength: 200 }), weight: 2 },
          { arbitrary: utf8Bytes.map((s) => `Bearer ${s}`), weight: 2 },
          {
            arbitrary: fc
              .tuple(
                mutatedKeyArb([...plainIssued.keys, ...acmeIssued.keys]),
                fc.constantFrom(...CLEAN_FRAMINGS),
              )
              .map(([m, frame]) => frame(m.token)),
            weight: 4,
          },
          {
            arbitrary: fc
              .tuple(fc.constantFrom(...credentials, ...forged), fc.constantFrom(...CLEAN_FRAMINGS))
              .map(([t, f]) => f(t)),
            weight: 3,
          },
          {
            arbitrary: fc
              .tuple(
                fc.constantFrom(8185, 8186, 8187, 8200, 12_000, 16_000, 16_500, 20_000),
                fc.constantFrom('A', 'é', ' '),
              )
              .map(([n, c]) => `Bearer ${c === ' ' ? `${c.repeat(n)}x` : c.repeat(n)}`),
            weight: 1,
          },
        )
        const value: fc.Arbitrary<HeaderValue> = fc.oneof(
          { arbitrary: single.filter((s) => SENDABLE.test(s)), weight: 8 },
          {
            arbitrary: fc.array(
              single.filter((s) => SENDABLE.test(s)),
              { minLength: 2, maxLength: 3 },
            ),
            weight: 1,
          },
        )
        // The control: every credential the gate issued gets in on its route, in every framing.
        for (const [credential, { kind }] of cached.valid) {
          for (const frame of CLEAN_FRAMINGS) {
            expect(await httpCheck(server, frame(credential), kind)).toBe(200)
          }
        }
        const statuses = new Map<number, number>()
        await fc.assert(
          fc.asyncProperty(value, kindArb, async (v, kind) => {
            counted(property)
            const status = await httpCheck(server, v, kind)
            statuses.set(status, (statuses.get(status) ?? 0) + 1)
          }),
          { numRuns: runsOf(property) },
        )
        expect(statuses.get(401) ?? 0).toBeGreaterThan(0)
      },
      PROPERTY_TIMEOUT_MS,
    )
  },
)

// ---------------------------------------------------------------------------------------------
// 3. Client Session Tokens
// ---------------------------------------------------------------------------------------------

describe('hostile Client Session Tokens', () => {
  const families = () => forgedFamilies

  for (const family of [
    'alg none',
    'algorithm confusion',
    'another instance',
    'wrong typ',
    'missing or unknown kid',
    'expired',
    'another project or mode',
  ]) {
    it(`answers each "${family}" token with its code, never touching a session it cannot verify`, async () => {
      const entries = families()[family] ?? []
      expect(entries.length).toBeGreaterThan(0)
      for (const { subject, token } of entries) {
        for (const mode of [undefined, 'test', 'live'] as const) {
          await authenticateAndCheck(subject, `Bearer ${token}`, 'session', mode)
        }
      }
    })
  }

  it('accepts a changed last signature character only when it encodes the same signature bytes', async () => {
    // base64url leaves spare bits in the last character of a signature: those variants are the
    // same signed token (no claim changes), every other character is a forgery.
    for (const { subject, issued } of [{ subject: cached, issued: plainIssued }, ...asymmetric]) {
      const original = issued.tokens.test
      let same = 0
      for (const char of B64URL) {
        const token = original.slice(0, -1) + char
        const equivalent = equivalentToken(token, original)
        if (equivalent) same++
        const verdict = equivalent ? genuine('test')(undefined) : INVALID
        const local: Subject = { ...subject, forged: new Map([[token, () => verdict]]) }
        await authenticateAndCheck(local, `Bearer ${token}`, 'session', undefined)
      }
      // HS256 leaves 2 spare bits (4 variants); 64- and 256-byte signatures leave 4 (16 variants).
      expect(same).toBe(subject === cached ? 4 : 16)
    }
  })

  it(
    'refuses random JWS-shaped strings and mutated real tokens unless the signing input and signature bytes are unchanged',
    async () => {
      const gates = [{ subject: cached, issued: plainIssued }, ...asymmetric]
      const kids = [hsKid, ...asymmetric.map((a) => a.kid)]
      const mutatedArb = fc
        .record({
          gate: fc.constantFrom(...gates),
          mode: fc.constantFrom<Mode>('test', 'live'),
          segment: fc.constantFrom(0, 1, 2, 2, 2),
          op: fc.constantFrom('substitute', 'delete', 'insert', 'truncate', 'swap', 'claims'),
          at: fc.nat(),
          char: fc.constantFrom(...B64URL.split(''), '.', '=', '+', '/'),
          change: fc.constantFrom<Record<string, unknown>>(
            { pid: 'proj_b' },
            { mode: 'live' },
            { mode: 'test' },
            { sub: 'user_2' },
            { exp: 4_102_444_800 },
            { sid: 'ses_unknown' },
          ),
        })
        .map(({ gate, mode, segment, op, at, char, change }) => {
          const original = gate.issued.tokens[mode]
          const parts = original.split('.')
          const part = parts[segment] as string
          const i = at % part.length
          if (op === 'substitute') parts[segment] = part.slice(0, i) + char + part.slice(i + 1)
          if (op === 'delete') parts[segment] = part.slice(0, i) + part.slice(i + 1)
          if (op === 'insert') parts[segment] = part.slice(0, i) + char + part.slice(i)
          if (op === 'truncate') parts[segment] = part.slice(0, i)
          if (op === 'swap')
            parts[segment] = gate.issued.tokens[mode === 'test' ? 'live' : 'test'].split('.')[
              segment
            ] as string
          if (op === 'claims') parts[1] = json64({ ...claimsOf(original), ...change })
          return { token: parts.join('.'), original, subject: gate.subject, mode }
        })
      const shaped = fc
        .tuple(jwsShapedArb(kids), fc.constantFrom(cached, ...asymmetric.map((a) => a.subject)))
        .map(([token, subject]) => ({ token, original: undefined, subject, mode: undefined }))
      await fc.assert(
        fc.asyncProperty(fc.oneof(mutatedArb, shaped), modeArb, async (candidate, required) => {
          counted('jwsShaped')
          const { token, original, subject } = candidate
          const same = original !== undefined && equivalentToken(token, original)
          const verdict = same ? genuine(candidate.mode as Mode)(required) : INVALID
          const local: Subject = { ...subject, forged: new Map([[token, () => verdict]]) }
          await authenticateAndCheck(local, `Bearer ${token}`, 'session', required)
        }),
        { numRuns: runsOf('jwsShaped') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'judges re-signed tokens claim by claim: only a fully valid token of a live session gets in',
    async () => {
      const sessions = {
        'proj_a test': {
          sid: plainIssued.sessionIds.test,
          pid: 'proj_a',
          mode: 'test',
          sub: 'user_1',
        },
        'proj_a live': {
          sid: plainIssued.sessionIds.live,
          pid: 'proj_a',
          mode: 'live',
          sub: 'user_1',
        },
        'proj_b test': {
          sid: projectB.sessionIds.test,
          pid: 'proj_b',
          mode: 'test',
          sub: 'user_2',
        },
      } as const
      const spec = fc.record({
        signer: fc.constantFrom('own', 'own', 'own', 'other instance'),
        alg: fc.constantFrom('HS256', 'HS256', 'HS256', 'HS384', 'HS512'),
        kid: fc.constantFrom('own', 'own', 'own', 'other', 'missing', 'unknown'),
        typ: fc.constantFrom('pcst+jwt', 'pcst+jwt', 'pcst+jwt', 'JWT', 'at+jwt', 'missing'),
        session: fc.constantFrom<keyof typeof sessions | 'unknown'>(
          'proj_a test',
          'proj_a live',
          'proj_b test',
          'unknown',
        ),
        sid: fc.constantFrom('session', 'session', 'session', 'number', 'missing'),
        pid: fc.constantFrom('session', 'session', 'proj_b', 'proj_a', 'missing'),
        sub: fc.constantFrom('session', 'session', 'user_2', 'missing'),
        mode: fc.constantFrom('session', 'session', 'test', 'live', 'prod', 'missing'),
        exp: fc.constantFrom('future', 'future', 'future', 'past', 'now', 'missing'),
        iat: fc.constantFrom('now', 'now', 'missing'),
        nbf: fc.constantFrom('absent', 'absent', 'absent', 'future'),
      })
      const otherKid = decodeProtectedHeader(otherIssued.tokens.test).kid as string
      await fc.assert(
        fc.asyncProperty(
          spec,
          modeArb,
          fc.constantFrom(cached, uncached),
          async (s, required, subject) => {
            counted('resignedTokens')
            const now = nowSeconds(clock)
            const base =
              s.session === 'unknown'
                ? { sid: 'ses_unknownUnknownUnknown', pid: 'proj_a', mode: 'test', sub: 'user_1' }
                : sessions[s.session]
            const claims: Record<string, unknown> = {}
            const put = (name: string, choice: string, own: unknown) => {
              if (choice === 'missing') return
              claims[name] = choice === 'session' ? own : choice === 'number' ? 42 : choice
            }
            put('sid', s.sid, base.sid)
            put('pid', s.pid, base.pid)
            put('sub', s.sub, base.sub)
            put('mode', s.mode, base.mode)
            if (s.exp !== 'missing')
              claims.exp = s.exp === 'future' ? now + 3600 : s.exp === 'now' ? now : now - 10
            if (s.iat !== 'missing') claims.iat = now
            if (s.nbf === 'future') claims.nbf = now + 600
            const header: Record<string, unknown> = { alg: s.alg }
            if (s.kid !== 'missing')
              header.kid = s.kid === 'own' ? hsKid : s.kid === 'other' ? otherKid : 'k-unknown'
            if (s.typ !== 'missing') header.typ = s.typ
            const token = await sign({
              header,
              claims,
              key: s.signer === 'own' ? hsSecret : otherSecret,
            })

            // The decision SPEC and the token format imply, step by step.
            const verdict = ((): Verdict => {
              const verifies = s.signer === 'own' && s.kid === 'own' && s.alg === 'HS256'
              if (!verifies || s.typ !== 'pcst+jwt') return INVALID
              if (s.exp === 'missing' || s.iat === 'missing' || claims.sub === undefined)
                return INVALID
              if (s.nbf === 'future') return INVALID
              if (s.exp !== 'future') return { codes: ['session_expired'], lookups: [] }
              const { sid, pid, sub, mode } = claims
              if (typeof sid !== 'string' || typeof pid !== 'string' || typeof sub !== 'string')
                return INVALID
              if (mode !== 'test' && mode !== 'live') return INVALID
              if (required !== undefined && mode !== required)
                return { codes: ['mode_mismatch'], lookups: [] }
              if (s.session === 'unknown')
                return { codes: ['session_expired'], lookups: ['touchSession'] }
              const stored = sessions[s.session]
              const matches =
                stored.pid === pid &&
                stored.mode === mode &&
                stored.sub === sub &&
                stored.sid === sid
              return { codes: [matches ? 'ok' : 'session_invalid'], lookups: ['touchSession'] }
            })()
            const local: Subject = { ...subject, forged: new Map([[token, () => verdict]]) }
            await authenticateAndCheck(local, `Bearer ${token}`, 'session', required)
          },
        ),
        { numRuns: runsOf('resignedTokens') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'refuses every forged token however it is framed and whatever mode the route requires',
    async () => {
      const entries = Object.values(forgedFamilies).flat()
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...entries),
          fc.constantFrom(...CLEAN_FRAMINGS),
          modeArb,
          async (entry, frame, mode) => {
            counted('forgedTokens')
            await authenticateAndCheck(entry.subject, frame(entry.token), 'session', mode)
          },
        ),
        { numRuns: runsOf('forgedTokens') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

// ---------------------------------------------------------------------------------------------
// 4. Oversized and non-ASCII headers
// ---------------------------------------------------------------------------------------------

describe('oversized and non-ASCII headers', () => {
  it('refuses headers past the 8 KiB limit unread, and reads one at the limit', async () => {
    const key = plainIssued.keys[0] as string
    const atLimit = `Bearer ${'A'.repeat(8192 - 7)}`
    expect(atLimit.length).toBe(8192)
    for (const [value, code] of [
      [atLimit, 'api_key_invalid'],
      [`${atLimit}A`, 'api_key_invalid'],
      [`Bearer ${'A'.repeat(1_000_000)}`, 'api_key_invalid'],
      [`Bearer${' '.repeat(9000)}${key}`, 'api_key_invalid'],
      [`Bearer ${key}${' '.repeat(9000)}`, 'ok'],
      [`${' '.repeat(9000)}Bearer ${key}`, 'ok'],
    ] as const) {
      await authenticateAndCheck(cached, value, 'secret', undefined)
      const result = await cached.gate.authenticate(
        { headers: { authorization: value } },
        { credential: 'secret' },
      )
      expect(codeOf(result)).toBe(code)
    }
    const token = plainIssued.tokens.test
    for (const value of [
      `Bearer ${token}${'A'.repeat(4096)}`,
      `Bearer ${token}.${'A'.repeat(8000)}`,
    ]) {
      await authenticateAndCheck(cached, value, 'session', undefined)
    }
  })

  it('refuses keys and tokens carrying non-ASCII look-alikes, invisible characters or control bytes', async () => {
    const key = plainIssued.keys[0] as string
    const token = plainIssued.tokens.test
    const lookalikes = [
      key.replace('sk_', '\uff53k_'), // fullwidth s
      key.replace('sk_', '\u0455k_'), // Cyrillic dze
      key.replace('sk_', '\u017fk_'), // long s, which upper-cases to S
      key.replace('sk_', 's\u212a_'), // Kelvin sign, which lower-cases to k
      `${key.slice(0, 10)}\u200b${key.slice(10)}`,
      `${key.slice(0, 10)}\u0000${key.slice(10)}`,
      `\u202e${key}`, // right-to-left override
      `${key.slice(0, -1)}\ud800`,
      `${key}\u0301`, // combining accent
      key.normalize('NFKD').replace(/_/g, '\uff3f'), // fullwidth low line
      `${token.slice(0, 20)}\u00e9${token.slice(21)}`,
      `${token}\u0000`,
    ]
    for (const candidate of lookalikes) expect(candidate === key || candidate === token).toBe(false)
    for (const candidate of lookalikes) {
      for (const kind of ['secret', 'session'] as const) {
        const value = `Bearer ${candidate}`
        await authenticateAndCheck(cached, value, kind, undefined)
        const result = await cached.gate.authenticate(
          { headers: { authorization: value } },
          { credential: kind },
        )
        expect(result.ok).toBe(false)
      }
    }
  })

  it(
    'keeps to these rules for credentials with non-ASCII characters inserted anywhere, and for lengths around the limit',
    async () => {
      const credentials = [...plainIssued.keys, plainIssued.tokens.test, plainIssued.tokens.live]
      const inserted = fc
        .record({
          token: fc.constantFrom(...credentials),
          frame: fc.constantFrom(...CLEAN_FRAMINGS),
          edits: fc.array(
            fc.tuple(fc.nat(), fc.string({ unit: hostileChar, minLength: 1, maxLength: 3 })),
            {
              minLength: 1,
              maxLength: 3,
            },
          ),
        })
        .map(({ token, frame, edits }) => {
          let value = frame(token)
          for (const [at, text] of edits) {
            const i = at % (value.length + 1)
            value = value.slice(0, i) + text + value.slice(i)
          }
          return value
        })
      const sized = fc
        .record({
          token: fc.constantFrom(...credentials),
          before: fc.integer({ min: 0, max: 9000 }),
          inside: fc.integer({ min: 1, max: 9000 }),
          after: fc.integer({ min: 0, max: 9000 }),
          filler: fc.constantFrom(' ', '\t', '\u00a0', '\u3000'),
        })
        .map(
          ({ token, before, inside, after, filler }) =>
            `${filler.repeat(before)}Bearer${' '.repeat(inside)}${token}${filler.repeat(after)}`,
        )
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(inserted, sized),
          kindArb,
          modeArb,
          fc.constantFrom(cached, uncached),
          async (value, kind, mode, subject) => {
            counted('oversizedAndNonAscii')
            await authenticateAndCheck(subject, value, kind, mode)
          },
        ),
        { numRuns: runsOf('oversizedAndNonAscii') },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it.each([
    ['Express', expressApp],
    ['Koa', koaApp],
  ] as const)(
    '%s: raw bytes, oversized heads and repeated headers never get a 5xx or a store read',
    async (_name, makeApp) => {
      const server = await listen(makeApp(cached.gate))
      const { port } = server.address() as { port: number }
      const key = plainIssued.keys[0] as string
      /** One request written byte for byte, as no HTTP client would send it. */
      const raw = async (head: Buffer) => statusOf(await rawRequest(port, head))
      const bytes = (...parts: (string | number[])[]) =>
        Buffer.concat(
          parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))),
        )
      /** Each head with the statuses allowed and the store reads allowed (Node answers 400 or 431 itself). */
      const heads: [Buffer, readonly number[], readonly string[]][] = [
        [bytes(`Authorization: Bearer ${key.slice(0, 9)}\u00e9${key.slice(10)}\r\n`), [401], []],
        [bytes(`Authorization: Bearer ${key}\u2028\r\n`), [401], []],
        [bytes('Authorization: Bearer ', [0xff, 0xfe, 0x80], `${key}\r\n`), [401], []],
        [bytes('Authorization: Bearer ', [0xc0, 0xaf], `${key}\r\n`), [401], []],
        [bytes('Authorization: Bearer sk_', [0x00], `${key}\r\n`), [400], []],
        [bytes('Authorization: Bearer ', [0x7f], `${key}\r\n`), [400, 401], []],
        [bytes('Authorization: Bearer ', [0x1b], `${key}\r\n`), [400], []],
        [bytes(`Authorization: Bearer ${key}x\r\nAuthorization: Bearer ${key}\r\n`), [401], []],
        [bytes(`Authorization: Bearer ${'A'.repeat(8200)}\r\n`), [401], []],
        [bytes(`Authorization: Bearer ${'A'.repeat(20_000)}\r\n`), [431], []],
        [bytes(`Authorization: Bearer ${key}\r\nX-Pad: ${'a'.repeat(17_000)}\r\n`), [431], []],
        [bytes(`Authorization: Bearer\r\n ${key}\r\n`), [400, 401], []],
        [bytes(`Authorization : Bearer ${key}\r\n`), [400], []],
      ]
      for (const [head, statuses, reads] of heads) {
        cached.spy.forget()
        const before = cached.spy.calls.length
        const status = await raw(head)
        const label = head.toString('latin1').slice(0, 100)
        expect(statuses, label).toContain(status)
        expect(cached.spy.calls.slice(before), label).toEqual(reads)
      }
      // The control: the same path with a clean header gets in.
      expect(await raw(Buffer.from(`Authorization: Bearer ${key}\r\n`))).toBe(200)
    },
  )
})
