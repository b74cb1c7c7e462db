import { checkFactoryCall, type OptionRules } from '../core/binding.js'
import type { Portcullis } from '../core/portcullis.js'
import { type ApiKeysPageOptions, PAGE_OPTION_RULES } from '../page/grant.js'
import { createApiKeysPage } from '../page/page.js'
import { failBareMount, type KoaNext } from './middleware.js'
import { type KoaRouteContext, serveUnder } from './routers.js'

/** What the page reads from a Koa context: what the routers read (`originalUrl` included). */
export type KoaPageContext = KoaRouteContext

export interface KoaApiKeysPageOptions<Ctx> extends ApiKeysPageOptions<Ctx> {
  /**
   * Path the page lives under with `app.use(apiKeysPage(gate, { prefix, authorize }))`, e.g.
   * `/settings/api-keys`. Not needed under @koa/router's `router.use(path, …)`. Default: the root.
   */
  prefix?: string
}

export type KoaApiKeysPage<Ctx extends KoaPageContext = KoaPageContext> = (
  ctx: Ctx,
  next: KoaNext,
) => Promise<void>

const PAGE_OPTIONS: OptionRules<KoaApiKeysPageOptions<unknown>> = {
  ...PAGE_OPTION_RULES,
  prefix: {
    accepts: (value) => typeof value === 'string' && (value === '' || value.startsWith('/')),
    expected: 'must be a path starting with "/", e.g. "/settings/api-keys"',
  },
}

const METHODS = ['HEAD', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE']
const LITERAL_PATH = /^\/[^:*?(){}\\]*$/

/**
 * How @koa/router's `router.use('/settings/api-keys', page)` reaches the page. A plain
 * middleware given to `router.use(path, …)` runs only when one of that router's routes matches
 * the path, so the page presents itself as a nested router (what `router.use(path,
 * other.routes())` mounts): one layer, which @koa/router copies, prefixes with the mount path
 * (and the router's own prefix) and asks whether a path is its. Prefixing builds the
 * middleware for that path. Literal paths only: a mount path with parameters is refused.
 */
function nestedRouter(serveAt: (prefix: string) => KoaApiKeysPage<KoaPageContext>) {
  const layer = {
    path: '',
    methods: [...METHODS],
    paramNames: [],
    opts: {},
    stack: [serveAt('')],
    setPrefix(this: { path: string; stack: unknown[] }, prefix: string) {
      if (prefix === '' || prefix === '/') return this
      if (!LITERAL_PATH.test(prefix)) {
        throw new TypeError(
          `apiKeysPage: cannot be mounted at the pattern ${JSON.stringify(prefix)}; use a literal path, or app.use(apiKeysPage(gate, { prefix, authorize }))`,
        )
      }
      this.path = `${prefix.replace(/\/$/, '')}${this.path}`
      this.stack = [serveAt(this.path)]
      return this
    },
    match(this: { path: string }, path: string) {
      return this.path === '' || path === this.path || path.startsWith(`${this.path}/`)
    },
    captures: () => [],
    params: (_path: string, _captures: unknown, existing: object = {}) => ({ ...existing }),
    param() {
      return this
    },
  }
  return {
    stack: [layer],
    opts: {},
    params: {},
    methods: [...METHODS],
    param() {
      return this
    },
  }
}

/**
 * The API keys page your customers use to manage their own keys (see the Express binding of
 * the same name for what it does). `authorize(ctx)` is required and returns the signed-in
 * user's grant, `{ projectId, modes?, can? }`, or `false` (403). Mount it behind your login:
 * with `app.use(apiKeysPage(gate, { prefix: '/settings/api-keys', authorize }))`, or with
 * @koa/router as `router.use('/settings/api-keys', apiKeysPage(gate, { authorize }))`.
 *
 * @example
 * ```ts
 * import { apiKeysPage } from 'portcullis/koa'
 *
 * app.use(requireLogin)
 * app.use(apiKeysPage(gate, {
 *   prefix: '/settings/api-keys',
 *   authorize: (ctx) => ({ projectId: ctx.state.user.projectId, can: { reveal: false } }),
 * }))
 * // or, with @koa/router:
 * router.use('/settings/api-keys', apiKeysPage(gate, {
 *   authorize: (ctx) => ctx.state.user ? { projectId: ctx.state.user.projectId } : false,
 * }))
 * ```
 */
export function apiKeysPage<Ctx extends KoaPageContext = KoaPageContext>(
  gate: Portcullis,
  options: KoaApiKeysPageOptions<Ctx>,
): KoaApiKeysPage<Ctx>
// Mounted bare, Koa passes (ctx, next) as (gate, options).
export function apiKeysPage(gate: unknown, options?: unknown): KoaApiKeysPage {
  const name = 'apiKeysPage'
  const usage = `${name}(gate, { authorize })`
  const valid = checkFactoryCall<KoaApiKeysPageOptions<KoaPageContext>>(
    name,
    usage,
    { gate, options },
    PAGE_OPTIONS,
    () => failBareMount(name, usage, gate, options),
  )
  const servePage = createApiKeysPage(valid.gate, valid.options, name)
  const serveAt = (prefix: string): KoaApiKeysPage => serveUnder(prefix, servePage)
  const page = serveAt(valid.options.prefix ?? '')
  Object.defineProperty(page, 'router', { value: nestedRouter(serveAt) })
  return page
}
