// The examples' dashboard: the API keys page (apiKeysPage) at /dashboard, managing the demo
// project, behind the same operator token as the /v1/admin routes. A browser cannot add an
// X-Admin-Token header to a page load, so the token is asked once, in a sign-in form (POSTed,
// never in a URL), and exchanged for a random session id in a cookie that scripts cannot read
// (HttpOnly), that no other site's request carries (SameSite=Strict) and that goes to
// /dashboard only. The page's authorize then accepts that session and nothing else.
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { ApiKeysPageGrant } from 'portcullis/express'

export const DASHBOARD_PATH = '/dashboard'
export const SIGN_IN_PATH = `${DASHBOARD_PATH}/sign-in`
const COOKIE = 'portcullis_dashboard'
const SESSION_MS = 8 * 60 * 60 * 1000
const MAX_SESSIONS = 100
const MAX_FORM_BYTES = 2048

/** An answer to write as it is: the sign-in form, or where to go next. */
export interface DashboardAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const SIGN_IN_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // As strict as the page's own policy: nothing inline, the form posts here only.
  'content-security-policy':
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** The sign-in page, styled by the keys page's own stylesheet (served beside it). */
function signInPage(problem?: string): string {
  const alert = problem === undefined ? '' : `\n<p class="pc-alert" role="alert">${problem}</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · portcullis example dashboard</title>
<link rel="stylesheet" href="assets/portcullis-api-keys.css">
</head>
<body class="pc-page">
<main class="pc-page-main">
<h1 class="pc-page-title">Sign in to the example dashboard</h1>${alert}
<form method="post" action="sign-in">
<p class="pc-field"><label class="pc-label" for="token">Admin token (printed by npm start, or your ADMIN_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="off" required></p>
<p><button class="pc-button pc-primary" type="submit">Sign in</button></p>
</form>
</main>
</body>
</html>
`
}

const digest = (sessionId: string) => createHash('sha256').update(sessionId).digest('base64url')

/** The value of one cookie in a Cookie header. */
function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

/** Reads a small urlencoded form body; anything larger is cut off and refused. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') return null
  let text = ''
  for await (const chunk of req) {
    text += String(chunk)
    if (text.length > MAX_FORM_BYTES) return null
  }
  return new URLSearchParams(text)
}

export interface DashboardOptions {
  /** The project the dashboard manages. */
  readonly projectId: string
  /** The operator token check (createTokenCheck: fail-closed, constant time). */
  readonly isOperatorToken: (sent: unknown) => boolean
  readonly now?: () => number
}

/**
 * The dashboard's sign-in and the keys page's `authorize`. Sessions live in memory (a real
 * platform has its own login): they end after 8 hours or when the example stops. Only a hash
 * of each session id is kept.
 */
export function createDashboard({ projectId, isOperatorToken, now = Date.now }: DashboardOptions) {
  const sessions = new Map<string, number>()
  /** The Cookie header, as Node gives it (never an array; typed as one by some bindings). */
  const grantOf = (cookieHeader: string | string[] | undefined): ApiKeysPageGrant | false => {
    if (typeof cookieHeader !== 'string') return false
    const id = cookieValue(cookieHeader, COOKIE)
    if (id === undefined || id === '') return false
    const expiresAt = sessions.get(digest(id))
    if (expiresAt === undefined || expiresAt <= now()) return false
    return { projectId }
  }
  return {
    /** For apiKeysPage's authorize: the signed-in operator manages the demo project. */
    grantOf,

    /** GET /dashboard/sign-in. */
    signInForm(): DashboardAnswer {
      return { status: 200, headers: SIGN_IN_HEADERS, body: signInPage() }
    },

    /** POST /dashboard/sign-in, with the form read by readForm. */
    signIn(
      headers: IncomingHttpHeaders,
      form: URLSearchParams | null,
      secure: boolean,
    ): DashboardAnswer {
      // Another site's form cannot sign anyone in (login CSRF); browsers say where it came from.
      const site = headers['sec-fetch-site']
      if (site !== undefined && site !== 'same-origin' && site !== 'none') {
        return {
          status: 403,
          headers: SIGN_IN_HEADERS,
          body: signInPage('Sign in from this page.'),
        }
      }
      if (form === null || !isOperatorToken(form.get('token'))) {
        return {
          status: 401,
          headers: SIGN_IN_HEADERS,
          body: signInPage('That is not the admin token.'),
        }
      }
      const at = now()
      for (const [hash, expiresAt] of sessions) if (expiresAt <= at) sessions.delete(hash)
      // Bounded: the oldest session goes first.
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string)
      const id = randomBytes(32).toString('base64url')
      sessions.set(digest(id), at + SESSION_MS)
      const cookie = [
        `${COOKIE}=${id}`,
        `Path=${DASHBOARD_PATH}`,
        `Max-Age=${SESSION_MS / 1000}`,
        'HttpOnly',
        'SameSite=Strict',
        // Over HTTPS only, once served over HTTPS (the example itself listens on plain HTTP).
        ...(secure ? ['Secure'] : []),
      ].join('; ')
      return {
        status: 303,
        headers: {
          location: `${DASHBOARD_PATH}/`,
          'set-cookie': cookie,
          'cache-control': 'no-store',
        },
        body: '',
      }
    },

    /** GET /dashboard while signed out: to the sign-in form (null: signed in, go on). */
    signedOut(cookieHeader: string | undefined): DashboardAnswer | null {
      if (grantOf(cookieHeader) !== false) return null
      return {
        status: 303,
        headers: { location: SIGN_IN_PATH, 'cache-control': 'no-store' },
        body: '',
      }
    },
  }
}
