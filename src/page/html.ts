import { SCRIPT_NAME, STYLE_NAME } from './assets.js'

/**
 * The page's Content Security Policy: everything from this origin only, nothing inline (the
 * HTML holds no script and no style attribute), no plugins, no `<base>` rewriting, forms post
 * only here, and framing only by the application's own pages.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ')

/** Sent with every HTML response of the page. */
export const HTML_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // For browsers that predate frame-ancestors.
  'x-frame-options': 'SAMEORIGIN',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
})

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string)

function documentOf(title: string, version: string, main: string): string {
  const assets = `assets/${version}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${assets}/${STYLE_NAME}">
<script type="module" src="${assets}/${SCRIPT_NAME}"></script>
</head>
<body class="pc-page">
<main class="pc-page-main">
${main}
</main>
</body>
</html>
`
}

/**
 * The page: a heading and the element, which fetches everything else from `api/` beside it.
 * All URLs are relative, so the page works under any mount path and behind a proxy that
 * strips a prefix; the document is always served at a URL ending in `/` (see page.ts).
 */
export function renderPage(title: string, version: string): string {
  return documentOf(
    title,
    version,
    `<h1 class="pc-page-title">${escapeHtml(title)}</h1>
<portcullis-api-keys api="."></portcullis-api-keys>`,
  )
}

/** What a signed-in user whom `authorize` refused sees. */
export function renderForbidden(title: string, version: string): string {
  return documentOf(
    title,
    version,
    `<h1 class="pc-page-title">${escapeHtml(title)}</h1>
<p>You do not have access to these API keys. Ask an administrator of your account for access.</p>`,
  )
}
