// Opt-in: `import 'portcullis/express/global'` types `req.auth` on every Express request.
// Not applied by default, so it cannot collide with another library's `req.auth`.
import type { AuthContext } from '../core/auth-context.js'

declare global {
  namespace Express {
    interface Request {
      /** Set by portcullis's requireSecretKey, requirePublishableKey and requireSession. */
      auth?: AuthContext
    }
  }
}
