import type { AuthenticateRequest } from '../core/authenticate.js'
import {
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  type PortcullisError,
} from '../core/errors.js'
import { toHttpError } from '../core/http.js'
import type { Portcullis } from '../core/portcullis.js'
import { readHeader } from '../core/read-credential.js'
import { acceptsGzip, type PageAsset, pageAssets } from './assets.js'
import { type ApiKeysPageOptions, resolveGrant } from './grant.js'
import { HTML_HEADERS, renderForbidden, renderPage } from './html.js'
import { createPageApi } from './page-api.js'

/** One request as a mount hands it over, body not yet read. `Native` is `req` or `ctx`. */
export interface PageRequest<Native> extends AuthenticateRequest {
  readonly method: string
  /** Path relative to where the page is mounted (starting with `/`), with the query string. */
  readonly url: string
  /** The path the browser asked for, before any mount rewrote it: to redirect `/x` to `/x/`. */
  readonly originalPath: string
  /** Reads and parses the JSON body; called only for an API call that takes one. */
  readonly readBody: () => Promise<unknown>
  readonly native: Native
}

/** The answer to write, whole. */
export interface PageResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Buffer
}

/** The header every call of the page's API must carry (see {@link createApiKeysPage}). */
export const PAGE_HEADER = 'x-portcullis-page'

const IMMUTABLE = 'public, max-age=31536000, immutable'
const ASSET_PATH = /^\/assets\/(?:([0-9a-f]{16})\/)?([a-z-]+\.(?:js|css))$/

const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}) => ({
  status,
  headers: {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  },
  body: JSON.stringify(body),
})

/** One header's value; a repeated one (an array) counts as absent. */
function header(request: AuthenticateRequest, name: string): string | undefined {
  const value = readHeader(request.headers, name)
  return typeof value === 'string' ? value : undefined
}

const failure = (error: PortcullisError): PageResponse => {
  const rendered = toHttpError(error)
  return json(rendered.status, rendered.body, rendered.headers)
}

/**
 * Splits path and query by hand, as the operator dispatcher does: `//` and backslashes are
 * never read as an authority, and match nothing here (the application answers them).
 */
function splitUrl(url: string): { path: string; query: string } | null {
  const mark = url.indexOf('?')
  const path = mark === -1 ? url : url.slice(0, mark)
  if (!path.startsWith('/') || path.includes('//') || /\\|%5c/i.test(path)) return null
  return { path, query: mark === -1 ? '' : url.slice(mark) }
}

/**
 * CSRF, twice over: the custom header (and, on writes, the JSON Content-Type the dispatcher
 * requires) cannot be sent cross-origin without a CORS preflight the application never grants;
 * and a browser that says the call is cross-site is refused outright.
 */
function checkPageCall(request: AuthenticateRequest): PortcullisError | null {
  if (header(request, 'sec-fetch-site') === 'cross-site') return new ForbiddenError()
  if (header(request, PAGE_HEADER) !== '1') {
    return new InvalidRequestError(
      'Send X-Portcullis-Page: 1 (every call of the API keys page needs it, so that other sites cannot make these calls)',
      'X-Portcullis-Page',
    )
  }
  return null
}

function serveAsset(
  request: AuthenticateRequest,
  file: PageAsset,
  immutable: boolean,
): PageResponse {
  const headers: Record<string, string> = {
    'content-type': file.contentType,
    'cache-control': immutable ? IMMUTABLE : 'no-cache',
    etag: file.etag,
    vary: 'Accept-Encoding',
    'x-content-type-options': 'nosniff',
  }
  if (header(request, 'if-none-match') === file.etag) {
    return { status: 304, headers, body: '' }
  }
  if (acceptsGzip(header(request, 'accept-encoding'))) {
    return { status: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: file.gzipped }
  }
  return { status: 200, headers, body: file.body }
}

/**
 * The API keys page, framework-free: the HTML document at the mount point, its two static
 * files under `assets/`, and its JSON API under `api/`. The bindings turn their request into a
 * {@link PageRequest} and write the {@link PageResponse}; null means "not the page's: pass it
 * on". `authorize` runs for the document and for every API call, never for the static files.
 */
export function createApiKeysPage<Native>(
  gate: Portcullis,
  options: ApiKeysPageOptions<Native>,
  name = 'apiKeysPage',
) {
  // Plain JavaScript callers may leave it out; the types already require it.
  const authorize: unknown = (options as Partial<ApiKeysPageOptions<Native>> | undefined)?.authorize
  if (typeof authorize !== 'function') {
    throw new TypeError(
      `${name}(gate, options): options with an authorize(request) function are required, e.g. ${name}(gate, { authorize: (request) => ({ projectId: request.user.projectId }) }): who may manage which project's keys is yours to decide`,
    )
  }
  const title = options.title ?? 'API keys'
  const api = createPageApi<Native>(gate, options.onEvent)
  const grantOf = async (native: Native) => resolveGrant(await options.authorize(native))

  return async function servePage(request: PageRequest<Native>): Promise<PageResponse | null> {
    const split = splitUrl(request.url)
    if (split === null) return null
    const { path, query } = split
    const method = request.method.toUpperCase()
    const read = method === 'GET' || method === 'HEAD'

    if (path === '/api' || path.startsWith('/api/')) {
      const refused = checkPageCall(request)
      if (refused !== null) return failure(refused)
      const grant = await grantOf(request.native)
      if (grant === null) return failure(new ForbiddenError())
      const answer = await api(request, grant, `${path.slice('/api'.length)}${query}`)
      if (answer === null) return failure(new NotFoundError('No such call of the API keys page'))
      return json(answer.status, answer.body, answer.headers)
    }
    if (!read) return null
    if (path === '/') {
      // Relative URLs in the document need it at a path ending in "/": redirect `/keys` there.
      if (!request.originalPath.endsWith('/')) {
        const last = request.originalPath.slice(request.originalPath.lastIndexOf('/') + 1)
        return { status: 302, headers: { location: `./${last}/${query}` }, body: '' }
      }
      const { version } = pageAssets()
      const grant = await grantOf(request.native)
      return grant === null
        ? { status: 403, headers: HTML_HEADERS, body: renderForbidden(title, version) }
        : { status: 200, headers: HTML_HEADERS, body: renderPage(title, version) }
    }
    const asset = ASSET_PATH.exec(path)
    if (asset === null) return null
    const assets = pageAssets()
    const file = assets.files.get(asset[2] as string)
    if (file === undefined) return null
    // An older version (a page cached across a deploy) gets today's file, revalidated.
    return serveAsset(request, file, asset[1] === assets.version)
  }
}
