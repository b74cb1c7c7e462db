/**
 * Every error portcullis produces carries a stable `code`. The HTTP status, the envelope `type`
 * and the default message of each code are fixed in one table, {@link ERROR_TABLE}, so the
 * bindings never decide a status on their own.
 */

/** Codes returned by `gate.authenticate()` (SPEC's error table). */
export type AuthErrorCode =
  | 'api_key_missing'
  | 'session_missing'
  | 'api_key_invalid'
  | 'session_invalid'
  | 'wrong_key_type'
  | 'api_key_expired'
  | 'session_expired'
  | 'session_revoked'
  | 'mode_mismatch'
  | 'ip_not_allowed'
  | 'permission_denied'
  | 'origin_not_allowed'
  | 'app_not_allowed'
  | 'secret_key_from_browser'
  | 'store_unavailable'

/** Codes raised by management operations (`gate.keys.*`, `gate.sessions.*`, stores). */
export type ManagementErrorCode =
  | 'invalid_request'
  | 'resource_missing'
  | 'key_already_rolled'
  | 'key_not_revealable'
  | 'project_exists'
  | 'conflict'
  | 'store_full'
  | 'forbidden'

export type ErrorCode = AuthErrorCode | ManagementErrorCode

/** The `type` field of the error envelope. */
export type ErrorType = 'authentication_error' | 'invalid_request_error' | 'api_error'

interface ErrorTableRow {
  readonly status: number
  readonly type: ErrorType
  readonly message: string
}

/** Status, envelope type and default message for every code. The single HTTP mapping. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorTableRow>> = Object.freeze({
  api_key_missing: {
    status: 401,
    type: 'authentication_error',
    message: 'No API key provided. Send it as "Authorization: Bearer <key>".',
  },
  session_missing: {
    status: 401,
    type: 'authentication_error',
    message: 'No client session token provided. Send it as "Authorization: Bearer <token>".',
  },
  api_key_invalid: {
    status: 401,
    type: 'authentication_error',
    message: 'Invalid API key provided.',
  },
  session_invalid: {
    status: 401,
    type: 'authentication_error',
    message: 'Invalid client session token provided.',
  },
  wrong_key_type: {
    status: 401,
    type: 'authentication_error',
    message: 'This credential is of the wrong type for this request.',
  },
  api_key_expired: {
    status: 401,
    type: 'authentication_error',
    message: 'This API key has expired or was rolled.',
  },
  session_expired: {
    status: 401,
    type: 'authentication_error',
    message: 'The client session token has expired. Ask your backend for a new one.',
  },
  session_revoked: {
    status: 401,
    type: 'authentication_error',
    message: 'The client session token has been revoked.',
  },
  mode_mismatch: {
    status: 403,
    type: 'invalid_request_error',
    message: 'This request mixes test mode and live mode.',
  },
  ip_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    message: 'Access is limited for this address',
  },
  permission_denied: {
    status: 403,
    type: 'invalid_request_error',
    message: 'The provided key does not have the required permissions for this endpoint.',
  },
  origin_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    message: 'This publishable key cannot be used from this origin.',
  },
  app_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    message: 'This publishable key cannot be used from this app.',
  },
  secret_key_from_browser: {
    status: 401,
    type: 'authentication_error',
    message:
      'A secret key was sent from a web browser. Secret and restricted keys must stay on your server: roll this key now, it may have been exposed.',
  },
  store_unavailable: {
    status: 503,
    type: 'api_error',
    message: 'The credential store is unavailable. Try again shortly.',
  },
  invalid_request: { status: 400, type: 'invalid_request_error', message: 'Invalid request.' },
  resource_missing: { status: 404, type: 'invalid_request_error', message: 'No such resource.' },
  key_already_rolled: {
    status: 409,
    type: 'invalid_request_error',
    message: 'This key has already been rolled.',
  },
  key_not_revealable: {
    status: 409,
    type: 'invalid_request_error',
    message: 'This key cannot be revealed.',
  },
  project_exists: {
    status: 409,
    type: 'invalid_request_error',
    message: 'This project already has keys.',
  },
  conflict: { status: 409, type: 'invalid_request_error', message: 'The resource already exists.' },
  forbidden: {
    status: 403,
    type: 'invalid_request_error',
    message: 'You are not allowed to perform this operation.',
  },
  store_full: {
    status: 507,
    type: 'api_error',
    message: 'The credential store has reached its configured capacity.',
  },
})

/** The JSON body every error renders to: `{"error":{"type","code","message"}}`. */
export interface ErrorEnvelope {
  error: { type: ErrorType; code: ErrorCode; message: string; param?: string }
}

/** Base class of every error portcullis throws or returns. */
export class PortcullisError extends Error {
  /** Stable machine-readable code; safe to branch on. */
  readonly code: ErrorCode
  /** HTTP status the code maps to. */
  readonly status: number
  /** Envelope `type`. */
  readonly type: ErrorType

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    const row = ERROR_TABLE[code]
    super(message ?? row.message, options)
    this.name = 'PortcullisError'
    this.code = code
    this.status = row.status
    this.type = row.type
  }

  /** The envelope; never contains a credential. */
  toJSON(): ErrorEnvelope {
    return { error: { type: this.type, code: this.code, message: this.message } }
  }
}

/** A request could not be authenticated (401 and 403 codes of SPEC's table). */
export class AuthenticationError extends PortcullisError {
  declare readonly code: Exclude<AuthErrorCode, 'store_unavailable'>
  constructor(code: Exclude<AuthErrorCode, 'store_unavailable'>, message?: string) {
    super(code, message)
    this.name = 'AuthenticationError'
  }
}

/**
 * The store could not answer: unreachable, timing out or failing. Stores throw this instead
 * of answering "not found"; the core also wraps any other store failure in it. Maps to 503.
 */
export class StoreUnavailableError extends PortcullisError {
  declare readonly code: 'store_unavailable'
  constructor(message?: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options)
    this.name = 'StoreUnavailableError'
  }

  /**
   * The envelope with the generic message only: which store, which operation, driver codes and
   * migration hints stay on `message` and `cause`, for your logs and error hooks, never in a
   * response to a caller who may not even be authenticated.
   */
  override toJSON(): ErrorEnvelope {
    return {
      error: { type: this.type, code: this.code, message: ERROR_TABLE.store_unavailable.message },
    }
  }
}

/** An argument of a management call was refused; nothing was written. */
export class InvalidRequestError extends PortcullisError {
  declare readonly code: 'invalid_request'
  /** The offending parameter, when there is one. */
  readonly param: string | undefined
  constructor(message: string, param?: string) {
    super('invalid_request', message)
    this.name = 'InvalidRequestError'
    this.param = param
  }

  /** The envelope, naming the offending parameter as Stripe's does. */
  override toJSON(): ErrorEnvelope {
    const envelope = super.toJSON()
    if (this.param !== undefined) envelope.error.param = this.param
    return envelope
  }
}

/** The key, session or client named does not exist (in this project and mode). */
export class NotFoundError extends PortcullisError {
  declare readonly code: 'resource_missing'
  constructor(message: string) {
    super('resource_missing', message)
    this.name = 'NotFoundError'
  }
}

type ConflictCode = 'key_already_rolled' | 'key_not_revealable' | 'project_exists' | 'conflict'

/** The operation conflicts with the current state (already rolled, already provisioned...). */
export class ConflictError extends PortcullisError {
  declare readonly code: ConflictCode
  constructor(code: ConflictCode, message?: string) {
    super(code, message)
    this.name = 'ConflictError'
  }
}

/** The application's `authorize` hook refused an operator request. */
export class ForbiddenError extends PortcullisError {
  declare readonly code: 'forbidden'
  constructor(message?: string) {
    super('forbidden', message)
    this.name = 'ForbiddenError'
  }
}

/** A bounded store (such as `MemoryStore`) is full of live records and refuses the insert. */
export class StoreCapacityError extends PortcullisError {
  declare readonly code: 'store_full'
  constructor(message?: string) {
    super('store_full', message)
    this.name = 'StoreCapacityError'
  }
}

/** True when `value` is a portcullis error (works across copies of the package). */
export function isPortcullisError(value: unknown): value is PortcullisError {
  if (value instanceof PortcullisError) return true
  if (!(value instanceof Error)) return false
  const { code, status } = value as Error & { code?: unknown; status?: unknown }
  return typeof code === 'string' && code in ERROR_TABLE && typeof status === 'number'
}

/** True when `value` is the typed store-unavailable error, from this copy or another. */
export function isStoreUnavailableError(value: unknown): value is StoreUnavailableError {
  return isPortcullisError(value) && value.code === 'store_unavailable'
}
