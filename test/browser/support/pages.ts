/**
 * Loopback HTTP servers for the browser suites: the API under test (wrapped so the test sees
 * every request it got, and so it can also serve pages from its own origin), and page servers
 * whose pages `fetch()` the API the way a customer's web app does.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One call a page makes: `url` absolute, or relative to the page (same-origin). */
export interface PageCall {
  readonly label: string
  readonly url: string
  readonly key: string
}

/** What the page read back from one call. */
export interface PageResult {
  readonly label: string
  readonly status?: number
  readonly body?: { error?: { type?: string; code?: string; message?: string } } & Record<
    string,
    unknown
  >
  readonly wwwAuthenticate?: string | null
  /** Set when fetch itself failed (network or CORS error): the page could read nothing. */
  readonly failure?: string
}

/** A request the API server received, as the test later checks it. */
export interface SeenRequest {
  readonly method: string
  readonly path: string
  readonly origin: string | undefined
  readonly referer: string | undefined
  readonly secFetchSite: string | undefined
  status?: number
}

/** Pages by id, shared by every server that serves pages (`/page/<id>`). */
export type PageRegistry = Map<string, readonly PageCall[]>

const PAGE_PATH = /^\/page\/([A-Za-z0-9-]{1,40})$/

/**
 * The page: its calls travel as JSON inside the HTML (never in a URL), its script runs them one
 * after the other, draws a row per answer and leaves the answers as JSON in `#results`.
 */
function renderPage(calls: readonly PageCall[]): string {
  const json = JSON.stringify(calls).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>portcullis browser check</title>
<style>
  body { font: 15px/1.4 sans-serif; margin: 24px; }
  table { border-collapse: collapse; margin-top: 12px; }
  td, th { border: 1px solid #999; padding: 4px 10px; text-align: left; }
  .ok { background: #d9f2d9; } .refused { background: #f9dcdc; }
  pre { display: none; }
</style>
</head>
<body>
<h1>portcullis browser check</h1>
<p>Page origin: <code id="origin"></code></p>
<table><thead><tr><th>call</th><th>status</th><th>code / body</th></tr></thead><tbody id="rows"></tbody></table>
<pre id="results"></pre>
<script type="application/json" id="calls">${json}</script>
<script type="module">
  const calls = JSON.parse(document.getElementById('calls').textContent)
  document.getElementById('origin').textContent = location.origin
  const results = []
  for (const call of calls) {
    let result
    try {
      const response = await fetch(call.url, {
        headers: { Authorization: 'Bearer ' + call.key },
        signal: AbortSignal.timeout(5000),
      })
      result = {
        label: call.label,
        status: response.status,
        body: await response.json(),
        wwwAuthenticate: response.headers.get('WWW-Authenticate'),
      }
    } catch (error) {
      result = { label: call.label, failure: String(error) }
    }
    results.push(result)
    const row = document.createElement('tr')
    row.className = result.status === 200 ? 'ok' : 'refused'
    const shown = result.failure ?? (result.body?.error?.code ?? JSON.stringify(result.body))
    for (const text of [result.label, String(result.status ?? '-'), shown]) {
      const cell = document.createElement('td')
      cell.textContent = text
      row.append(cell)
    }
    document.getElementById('rows').append(row)
  }
  document.getElementById('results').textContent = JSON.stringify(results)
  document.body.dataset.done = 'true'
</script>
</body>
</html>
`
}

/** Answers `GET /page/<id>` from the registry; false when the request is not for a page. */
export function servePage(
  pages: PageRegistry,
  req: IncomingMessage,
  res: Parameters<RequestListener>[1],
): boolean {
  const match = req.method === 'GET' ? PAGE_PATH.exec(req.url ?? '') : null
  if (match === null) return false
  const calls = pages.get(match[1] as string)
  if (calls === undefined) {
    res.writeHead(404).end()
    return true
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  res.end(renderPage(calls))
  return true
}

export interface Listening {
  readonly server: Server
  readonly port: number
  close(): Promise<void>
}

/** Starts `handler` on 127.0.0.1 on a free port. */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    server,
    port,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A server that only serves pages. */
export function listenPages(pages: PageRegistry): Promise<Listening> {
  return listen((req, res) => {
    if (!servePage(pages, req, res)) res.writeHead(404).end()
  })
}

const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * Starts the API app, wrapped: every request is recorded (with the status it got) before the
 * app sees it, and `/page/<id>` serves pages from the API's own origin.
 */
export async function listenApi(
  app: RequestListener,
  pages: PageRegistry,
): Promise<Listening & { seen: SeenRequest[] }> {
  const seen: SeenRequest[] = []
  const listening = await listen((req, res) => {
    if (servePage(pages, req, res)) return
    const entry: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      origin: header(req, 'origin'),
      referer: header(req, 'referer'),
      secFetchSite: header(req, 'sec-fetch-site'),
    }
    seen.push(entry)
    res.on('finish', () => {
      entry.status = res.statusCode
    })
    app(req, res)
  })
  return { ...listening, seen }
}
