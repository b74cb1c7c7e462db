export type { AuthContext } from '../core/auth-context.js'
export type { GuardOptions, SecretKeyGuardOptions } from '../core/binding.js'
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
