export type { AuthContext } from '../core/auth-context.js'
export type { GuardOptions, SecretKeyGuardOptions } from '../core/binding.js'
export {
  ipAllowlist,
  type KoaAllowlistOptions,
  type KoaContext,
  type KoaGuardOptions,
  type KoaMiddleware,
  type KoaNext,
  type KoaSecretKeyOptions,
  type PortcullisState,
  requirePublishableKey,
  requireSecretKey,
  requireSession,
} from './middleware.js'
export {
  clientSessionRoutes,
  type KoaRouteContext,
  type KoaRouter,
  type KoaRoutesOptions,
  keyManagementRoutes,
} from './routers.js'
