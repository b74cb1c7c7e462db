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
  type KoaApiKeysPage,
  type KoaApiKeysPageOptions,
  type KoaPageContext,
} from './api-keys-page.js'
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
