export type { AuthContext } from '../core/auth-context.js'
export type { GuardOptions, SecretKeyGuardOptions } from '../core/binding.js'
export type {
  ApiKeysPageCan,
  ApiKeysPageCapability,
  ApiKeysPageGrant,
  ApiKeysPageOptions,
} from '../page/grant.js'
export {
  apiKeysPage,
  type ExpressApiKeysPage,
  type ExpressPageRequest,
  type ExpressPageResponse,
} from './api-keys-page.js'
export {
  type ExpressAllowlistOptions,
  type ExpressGuardOptions,
  type ExpressMiddleware,
  type ExpressNext,
  type ExpressRequest,
  type ExpressResponse,
  type ExpressSecretKeyOptions,
  getAuth,
  ipAllowlist,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from './middleware.js'
export {
  clientSessionRoutes,
  type ExpressRouteRequest,
  type ExpressRouter,
  keyManagementRoutes,
} from './routers.js'
