import { isPortcullisError, StoreUnavailableError } from './errors.js'

/**
 * Runs one store operation with a deadline. A store that throws anything but a portcullis
 * error (a driver error, a bug), or that does not answer within `timeoutMs`, yields
 * `StoreUnavailableError`: the caller fails closed with 503, never with 401 or a pass.
 */
export async function callStore<T>(timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreUnavailableError(`The credential store did not answer within ${timeoutMs} ms.`),
        ),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([Promise.resolve().then(operation), deadline])
  } catch (error) {
    if (isPortcullisError(error)) throw error
    throw new StoreUnavailableError(undefined, { cause: error })
  } finally {
    clearTimeout(timer)
  }
}
