// The page's calls to its JSON API: same origin, with the session cookie, the CSRF header on
// every call and JSON bodies. Keys travel in response bodies only, never in a URL.

/** A refusal from the API, with the field it names (`param`) when there is one. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly param: string | undefined
  constructor(status: number, code: string, message: string, param?: string) {
    super(message)
    this.status = status
    this.code = code
    this.param = param
  }
}

export interface Api {
  get<T>(path: string, query?: Readonly<Record<string, string>>): Promise<T>
  send<T>(method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>
}

interface Envelope {
  error?: { code?: unknown; message?: unknown; param?: unknown }
}

async function refusal(response: Response): Promise<ApiError> {
  if (response.status === 401 || response.type === 'opaqueredirect') {
    return new ApiError(401, 'signed_out', 'You are signed out. Sign in again, then reload.')
  }
  let envelope: Envelope = {}
  try {
    envelope = (await response.json()) as Envelope
  } catch {
    // Not the page's answer (a proxy's error page, say): the status says enough.
  }
  const error = envelope.error ?? {}
  return new ApiError(
    response.status,
    typeof error.code === 'string' ? error.code : 'http_error',
    typeof error.message === 'string'
      ? error.message
      : `The server answered ${response.status}. Try again.`,
    typeof error.param === 'string' ? error.param : undefined,
  )
}

/** `base` is the URL the page is mounted at, ending in `/`. */
export function createApi(base: URL): Api {
  const call = async <T>(method: string, path: string, init: RequestInit): Promise<T> => {
    let response: Response
    try {
      response = await fetch(new URL(`api/${path}`, base), {
        ...init,
        method,
        credentials: 'same-origin',
        cache: 'no-store',
        // A login wall that redirects is a signed-out answer, not something to follow.
        redirect: 'manual',
      })
    } catch {
      throw new ApiError(0, 'network_error', 'The server could not be reached. Try again.')
    }
    if (!response.ok) throw await refusal(response)
    return (await response.json()) as T
  }
  return {
    get(path, query = {}) {
      const search = new URLSearchParams(query).toString()
      return call('GET', search === '' ? path : `${path}?${search}`, {
        headers: { 'X-Portcullis-Page': '1' },
      })
    },
    send(method, path, body = {}) {
      return call(method, path, {
        headers: { 'X-Portcullis-Page': '1', 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
    },
  }
}
