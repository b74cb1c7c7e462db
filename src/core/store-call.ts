import { isPortcullisError, StoreUnavailableError } from './errors.js'

/** A store failure as the caller sees it: portcullis errors pass, anything else is unavailability. */
function asStoreFailure(error: unknown): unknown {
  return isPortcullisError(error) ? error : new StoreUnavailableError(undefined, { cause: error })
}

/**
 * Runs one store operation with a deadline. A store that throws anything but a portcullis
 * error (a driver error, a bug), or that does not answer within `timeoutMs`, yields
 * `StoreUnavailableError`: the caller fails closed with 503, never with 401 or a pass.
 */
export function callStore<T>(timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new StoreUnavailableError(`The credential store did not answer within ${timeoutMs} ms.`),
        ),
      timeoutMs,
    )
    let answer: Promise<T>
    try {
      answer = Promise.resolve(operation())
    } catch (error) {
      clearTimeout(timer)
      reject(asStoreFailure(error))
      return
    }
    answer.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(asStoreFailure(error))
      },
    )
  })
}
