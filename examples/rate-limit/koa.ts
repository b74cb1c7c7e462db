import Router from '@koa/router'
import Koa from 'koa'
import ratelimit from 'koa-ratelimit'
import type { Portcullis } from 'portcullis'
import { type PortcullisState, requireSecretKey } from 'portcullis/koa'

// One budget per API key, counted after the key was verified, and lower in test mode than
// in live mode (as Stripe's are). Test and live keys never share a counter.
export function createApp(gate: Portcullis) {
  const limiter = (max: number) =>
    ratelimit({
      driver: 'memory', // or 'redis' with an ioredis client, shared by every instance
      db: new Map(),
      duration: 60_000,
      max,
      id: (ctx) => `${ctx.state.auth.mode}:${ctx.state.auth.keyId}`,
    })
  const live = limiter(100)
  const test = limiter(25)
  const router = new Router<PortcullisState>()
  router.use(requireSecretKey(gate), (ctx, next) =>
    ctx.state.auth.livemode ? live(ctx, next) : test(ctx, next),
  )
  router.get('/v1/charges', (ctx) => {
    ctx.body = { livemode: ctx.state.auth.livemode }
  })
  return new Koa<PortcullisState>().use(router.routes())
}
