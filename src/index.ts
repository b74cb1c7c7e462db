export type { AddressCheck } from './core/address-guard.js'
export type { AuthContext } from './core/auth-context.js'
export type {
  AuthenticateOptions,
  AuthenticateRequest,
  AuthResult,
} from './core/authenticate.js'
export { NO_CHANGE_FEED } from './core/cache-subscription.js'
export { resolveClientAddress } from './core/client-address.js'
export type {
  AndroidApp,
  ClientRestrictions,
  ClientRestrictionsInput,
} from './core/client-restrictions.js'
export {
  type AuthErrorCode,
  AuthenticationError,
  ConflictError,
  ERROR_TABLE,
  type ErrorCode,
  type ErrorEnvelope,
  type ErrorType,
  ForbiddenError,
  InvalidRequestError,
  isPortcullisError,
  isStoreUnavailableError,
  type ManagementErrorCode,
  NotFoundError,
  PortcullisError,
  StoreCapacityError,
  StoreUnavailableError,
} from './core/errors.js'
export { type HttpErrorResponse, toHttpError } from './core/http.js'
export { normalizeAllowlist } from './core/ip.js'
export type {
  CreatedKey,
  CreateKeyInput,
  ListKeysFilter,
  ProvisionedProject,
  RolledKey,
  RollKeyOptions,
  UpdateKeyInput,
} from './core/keys.js'
export { type JsonValue, type KeyMetadata, MAX_METADATA_BYTES } from './core/metadata.js'
export type { PortcullisOptions } from './core/options.js'
export {
  CLIENT_SESSIONS,
  type PermissionLevel,
  type Permissions,
  type PermissionsInput,
} from './core/permissions.js'
export { createPortcullis } from './core/portcullis.js'
export type {
  GateLimits,
  KeyOperations,
  Portcullis,
  ProjectOperations,
  SessionOperations,
} from './core/portcullis-interface.js'
export { type CredentialRead, type RequestHeaders, readCredential } from './core/read-credential.js'
export type { KeyRecord, SessionRecord } from './core/records.js'
export type {
  AsymmetricSessionAlgorithm,
  SessionKey,
  SessionKeyMaterial,
  SymmetricSessionAlgorithm,
} from './core/session-token.js'
export type { ClientInput, CreatedSession } from './core/sessions.js'
export {
  type ClientScope,
  INHERITED_KEY_FIELDS,
  type KeyChanges,
  type KeyRoll,
  type KeyRollResult,
  type KeyUsage,
  type PortcullisStore,
  type PruneCutoff,
  type StoreChange,
  type StoredKey,
  type StoredSession,
  type Unwatch,
} from './core/store.js'
export { ChangeListeners, parseStoreChange } from './core/store-change.js'
export { createTokenCheck } from './core/token-check.js'
export type { CredentialKind, KeyType, Mode } from './core/types.js'
export { clientSessionOperations } from './operator/client-session-routes.js'
export type { OperatorOptions } from './operator/dispatch.js'
export { keyManagementOperations } from './operator/key-routes.js'
export {
  createOpenApiDocument,
  type OpenApiDocument,
  type OpenApiOptions,
} from './operator/openapi.js'
export type { OperatorEvent, OperatorRoute, OperatorTarget } from './operator/route.js'
