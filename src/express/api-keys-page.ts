import { checkFactoryCall } from '../core/binding.js'
import type { Portcullis } from '../core/portcullis.js'
import { readJson } from '../operator/read-json.js'
import { type ApiKeysPageOptions, PAGE_OPTION_RULES } from '../page/grant.js'
import { createApiKeysPage, type PageResponse } from '../page/page.js'
import { type ExpressNext, failedBareMount, readRequest } from './middleware.js'
import type { ExpressRouteRequest } from './routers.js'

/** What the page reads from an Express request. */
export interface ExpressPageRequest extends ExpressRouteRequest {
  /** The URL as requested, before the mount path was taken off (Express sets it). */
  originalUrl?: string
}

/** What the page writes on an Express (or plain Node) response. */
export interface ExpressPageResponse {
  statusCode: number
  setHeader(name: string, value: string): unknown
  end(body?: string | Uint8Array): unknown
}

/** The page's middleware: `app.use(path, apiKeysPage(gate, options))`. */
export type ExpressApiKeysPage<Req extends ExpressPageRequest = ExpressPageRequest> = (
  req: Req,
  res: ExpressPageResponse,
  next: ExpressNext,
) => Promise<void>

function write(res: ExpressPageResponse, response: PageResponse): void {
  res.statusCode = response.status
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
  res.end(response.body)
}

/**
 * The API keys page your customers use to manage their own keys: the secret, restricted and
 * publishable keys of one project in test and live mode (create, reveal, roll with a grace
 * period, delete, IP allowlists, websites and apps), and their end users' Client Session
 * Tokens (find, revoke). Mount it behind your own login; `authorize(req)` is required and says
 * which project the signed-in user manages (`{ projectId, modes?, can? }`), or `false` (403).
 * Every call re-checks that grant against the key it acts on: a key of another project is 404.
 *
 * Serves, under its mount path: the page (HTML, with a strict Content Security Policy), its
 * script and stylesheet under `assets/` (also usable as `<portcullis-api-keys api="…">` in your
 * own pages), and its JSON API under `api/` (each call needs `X-Portcullis-Page: 1`; writes
 * need `Content-Type: application/json`). Anything else goes on to `next()`.
 *
 * @example
 * ```ts
 * import { apiKeysPage } from 'portcullis/express'
 *
 * app.use('/settings/api-keys', requireLogin, apiKeysPage(gate, {
 *   authorize: (req) => ({
 *     projectId: req.user.projectId,
 *     can: { reveal: req.user.isAdmin, delete: req.user.isAdmin },
 *   }),
 *   onEvent: (event, req) => audit.write({ ...event, by: req.user.id }),
 * }))
 * ```
 */
export function apiKeysPage<Req extends ExpressPageRequest = ExpressPageRequest>(
  gate: Portcullis,
  options: ApiKeysPageOptions<Req>,
): ExpressApiKeysPage<Req>
// Three parameters: the third is Express's `next` when the factory itself was mounted.
export function apiKeysPage(
  gate: unknown,
  options?: unknown,
  next?: unknown,
): ExpressApiKeysPage | undefined {
  const name = 'apiKeysPage'
  const usage = `${name}(gate, { authorize })`
  const valid = checkFactoryCall<ApiKeysPageOptions<ExpressPageRequest>>(
    name,
    usage,
    { gate, options },
    PAGE_OPTION_RULES,
    () => failedBareMount(name, usage, gate, options, next),
  )
  if (valid === undefined) return undefined
  const servePage = createApiKeysPage(valid.gate, valid.options, name)
  return async function portcullisApiKeysPage(req, res, next) {
    try {
      const response = await servePage({
        method: req.method,
        url: req.url,
        originalPath: (req.originalUrl ?? req.url).split('?')[0] as string,
        ...readRequest(req),
        readBody: () =>
          req.body === undefined
            ? readJson(req, req.headers['content-type'])
            : Promise.resolve(req.body),
        native: req,
      })
      if (response === null) return next()
      write(res, response)
    } catch (error) {
      next(error)
    }
  }
}
