import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { SCRIPT_BASE64, STYLE_BASE64 } from './generated-assets.js'

/*
 * The page's two static files, compiled from src/page/assets/ by scripts/build.mjs and kept in
 * this package's own JavaScript (generated-assets.ts), so serving them reads no file: it works
 * the same from ESM, CommonJS, and a server bundle. Each is served at two URLs:
 *   assets/<version>/portcullis-api-keys.js  cached for a year, immutable (the page uses these);
 *   assets/portcullis-api-keys.js            revalidated every time (ETag), for embedding.
 * The stylesheet sits beside the script, so the element finds it relative to its own URL.
 */

export const SCRIPT_NAME = 'portcullis-api-keys.js'
export const STYLE_NAME = 'portcullis-api-keys.css'

/** One file, ready to send. */
export interface PageAsset {
  readonly contentType: string
  readonly body: Buffer
  readonly gzipped: Buffer
  readonly etag: string
}

export interface PageAssets {
  /** Changes whenever either file does: the directory of the long-cached URLs. */
  readonly version: string
  readonly files: ReadonlyMap<string, PageAsset>
}

let loaded: PageAssets | undefined

function asset(base64: string, contentType: string): PageAsset {
  const body = Buffer.from(base64, 'base64')
  const digest = createHash('sha256').update(body).digest('base64url').slice(0, 22)
  return { contentType, body, gzipped: gzipSync(body, { level: 9 }), etag: `"${digest}"` }
}

/** Decoded and compressed on first use, once per process. */
export function pageAssets(): PageAssets {
  if (loaded !== undefined) return loaded
  const script = asset(SCRIPT_BASE64, 'text/javascript; charset=utf-8')
  const style = asset(STYLE_BASE64, 'text/css; charset=utf-8')
  const version = createHash('sha256')
    .update(script.body)
    .update('\0')
    .update(style.body)
    .digest('hex')
    .slice(0, 16)
  loaded = {
    version,
    files: new Map([
      [SCRIPT_NAME, script],
      [STYLE_NAME, style],
    ]),
  }
  return loaded
}

/** Whether the client takes gzip (`Accept-Encoding`, not refused with `q=0`). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false
  return acceptEncoding.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';')
    if (coding !== 'gzip' && coding !== '*') return false
    return !params.some((param) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(param))
  })
}
