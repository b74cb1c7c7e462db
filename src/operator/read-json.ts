import { InvalidRequestError } from '../core/errors.js'

/** Largest request body the operator routes read. */
export const MAX_BODY_BYTES = 64 * 1024

/**
 * Reads a JSON request body from a Node stream: empty means `undefined`; anything but JSON
 * (by content type or syntax), or more than 64 KiB, is an `InvalidRequestError`.
 */
export async function readJson(
  stream: AsyncIterable<Uint8Array | string>,
  contentType: string | undefined,
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
  if (contentType !== undefined && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new InvalidRequestError('Send the request body as JSON (Content-Type: application/json)')
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new InvalidRequestError('The request body is not valid JSON')
  }
}
