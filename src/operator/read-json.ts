import { InvalidRequestError } from '../core/errors.js'

/** Largest request body the operator routes read. */
export const MAX_BODY_BYTES = 64 * 1024

/**
 * True for `application/json`, with or without parameters (`; charset=utf-8`), in any case.
 * Nothing else: a browser can send `text/plain`, forms and multipart cross-site without a CORS
 * preflight, but not this type.
 */
export function isJsonContentType(contentType: unknown): boolean {
  return typeof contentType === 'string' && /^\s*application\/json\s*(;|$)/i.test(contentType)
}

/**
 * Reads a JSON request body from a Node stream: empty means `undefined`; a body sent without
 * `Content-Type: application/json`, one that is not JSON, or more than 64 KiB, is an
 * `InvalidRequestError`.
 */
export async function readJson(
  stream: AsyncIterable<Uint8Array | string>,
  contentType: string | readonly string[] | undefined,
): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk)
    size += buffer.length
    if (size > MAX_BODY_BYTES)
      throw new InvalidRequestError(`The request body is larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(buffer)
  }
  if (size === 0) return undefined
  if (!isJsonContentType(contentType)) {
    throw new InvalidRequestError(
      'Send the request body as JSON (Content-Type: application/json)',
      'Content-Type',
    )
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new InvalidRequestError('The request body is not valid JSON')
  }
}
