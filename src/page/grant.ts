import { describeValue, FUNCTION_OPTION, type OptionRules } from '../core/binding.js'
import { isMode, MODES, type Mode } from '../core/types.js'
import { PROJECT_ID } from '../core/validate.js'
import type { OperatorEvent } from '../operator/route.js'

/**
 * What the signed-in user may do on the keys page besides listing keys. Each is allowed unless
 * set to `false`. A name that is not one of these is refused (a misspelt `reveel: false` must
 * not leave reveal on).
 */
export interface ApiKeysPageCan {
  /** Create keys (each shown once). */
  readonly create?: boolean
  /** Show a test key again (needs the gate's `revealKey`; live keys never). */
  readonly reveal?: boolean
  /** Roll a key, with a grace period. */
  readonly roll?: boolean
  /** Delete a key. */
  readonly delete?: boolean
  /** Change a secret or restricted key's IP allowlist, or a publishable key's client restriction. */
  readonly allowlist?: boolean
  /** Find a client's sessions and revoke them. */
  readonly sessions?: boolean
}

/** One thing a user may be allowed to do on the page. */
export type ApiKeysPageCapability = keyof ApiKeysPageCan

/**
 * What `authorize(request)` returns for a user who may use the page: the one project whose keys
 * they manage, the modes they see (default both), and what they may do (default everything).
 */
export interface ApiKeysPageGrant {
  readonly projectId: string
  readonly modes?: readonly Mode[]
  readonly can?: ApiKeysPageCan
}

/** A grant once checked: every field present, frozen. */
export interface ResolvedGrant {
  readonly projectId: string
  readonly modes: readonly Mode[]
  readonly can: Readonly<Record<ApiKeysPageCapability, boolean>>
}

/** The options shared by the Express and Koa mounts. `Native` is `req` or `ctx`. */
export interface ApiKeysPageOptions<Native> {
  /**
   * Required. Who is asking, and which project may they manage? Return the grant, or `false`
   * for a 403. Called on every request of the page (the HTML and each JSON call), after your own
   * login middleware; the browser never names the project.
   */
  authorize: (request: Native) => ApiKeysPageGrant | false | Promise<ApiKeysPageGrant | false>
  /** Hears every change the page made (for audit logs). Must not throw; errors are ignored. */
  onEvent?: (event: OperatorEvent, request: Native) => void
  /** The page's `<title>` and heading. Default `API keys`. */
  title?: string
}

export const CAPABILITIES: readonly ApiKeysPageCapability[] = [
  'create',
  'reveal',
  'roll',
  'delete',
  'allowlist',
  'sessions',
]

export const PAGE_OPTION_RULES: OptionRules<ApiKeysPageOptions<unknown>> = {
  authorize: {
    ...FUNCTION_OPTION,
    expected: 'must be a function (request) => { projectId } | false',
  },
  onEvent: { ...FUNCTION_OPTION, expected: 'must be a function (event, request) => void' },
  title: {
    accepts: (value) => typeof value === 'string' && value.length > 0 && value.length <= 100,
    expected: 'must be a string of 1 to 100 characters',
  },
}

/** The TypeError for a grant authorize should never have returned: your code, a 500. */
function badGrant(why: string, value: unknown): TypeError {
  return new TypeError(
    `apiKeysPage: authorize(request) must return { projectId, modes?, can? } or false; ${why} (got ${describeValue(value)})`,
  )
}

/**
 * Checks what `authorize` returned. `false` is a refusal (null here); anything else that is not
 * a well-formed grant throws a TypeError (500): fail closed, never guess what was meant. `true`
 * is refused too: it names no project.
 */
export function resolveGrant(value: unknown): ResolvedGrant | null {
  if (value === false) return null
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badGrant('it returned neither', value)
  }
  const grant = value as Record<string, unknown>
  for (const name of Object.keys(grant)) {
    if (name !== 'projectId' && name !== 'modes' && name !== 'can') {
      throw badGrant(`unknown field ${JSON.stringify(name)}`, grant[name])
    }
  }
  const { projectId, modes = MODES, can = {} } = grant
  if (typeof projectId !== 'string' || !PROJECT_ID.test(projectId)) {
    throw badGrant('projectId must be a project id', projectId)
  }
  if (!Array.isArray(modes) || modes.length === 0 || !modes.every(isMode)) {
    throw badGrant('modes must be a non-empty list of "test" and "live"', modes)
  }
  if (typeof can !== 'object' || can === null || Array.isArray(can)) {
    throw badGrant('can must be an object', can)
  }
  const allowed = {} as Record<ApiKeysPageCapability, boolean>
  for (const name of CAPABILITIES) allowed[name] = true
  for (const [name, flag] of Object.entries(can)) {
    if (!(CAPABILITIES as readonly string[]).includes(name)) {
      throw badGrant(`can.${name} is unknown (known: ${CAPABILITIES.join(', ')})`, flag)
    }
    if (typeof flag !== 'boolean') throw badGrant(`can.${name} must be true or false`, flag)
    allowed[name as ApiKeysPageCapability] = flag
  }
  return Object.freeze({
    projectId,
    // In the order MODES lists them, each once.
    modes: Object.freeze(MODES.filter((mode) => modes.includes(mode))),
    can: Object.freeze(allowed),
  })
}
