import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import express5 from 'express'
import express4 from 'express4'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { getAuth, requireSecretKey } from '../src/express/index.js'
import { makeGate } from './helpers.js'

/**
 * `req.auth` on a request Express re-prototyped is an accessor on Express's shared request
 * prototype (src/express/request-auth.ts). These tests hold it to what an own property gave.
 */
describe.each([
  ['Express 5', express5],
  ['Express 4', express4 as unknown as typeof express5],
])('req.auth on %s', (_name, express) => {
  async function keyOf(gate: ReturnType<typeof makeGate>['gate'], projectId = 'proj_a') {
    const { key } = await gate.keys.create({ projectId, type: 'secret', mode: 'test' })
    return `Bearer ${key}`
  }
  const echo = (req: express5.Request, res: express5.Response) => {
    const auth = (req as unknown as { auth?: { projectId: string } }).auth
    res.json({
      projectId: auth?.projectId ?? null,
      viaGetAuth: auth === undefined ? null : getAuth(req).projectId,
      own: Object.hasOwn(req, 'auth'),
    })
  }

  it('reads back in the route, is not an own property, and belongs to its request alone', async () => {
    const { gate } = makeGate()
    const app = express()
    app.get('/secret', requireSecretKey(gate), echo)
    app.get('/open', echo)
    const first = await request(app)
      .get('/secret')
      .set('authorization', await keyOf(gate))
    expect(first.body).toEqual({ projectId: 'proj_a', viaGetAuth: 'proj_a', own: false })
    const other = await request(app)
      .get('/secret')
      .set('authorization', await keyOf(gate, 'proj_b'))
    expect(other.body).toMatchObject({ projectId: 'proj_b', viaGetAuth: 'proj_b' })
    // A request no guard saw has no auth, whatever requests came before it.
    const open = await request(app).get('/open')
    expect(open.body).toEqual({ projectId: null, viaGetAuth: null, own: false })
  })

  it('lets a later assignment win, for req.auth and getAuth alike', async () => {
    const { gate } = makeGate()
    const app = express()
    app.get(
      '/secret',
      requireSecretKey(gate),
      (req, _res, next) => {
        ;(req as unknown as { auth: unknown }).auth = { projectId: 'proj_override' }
        next()
      },
      echo,
    )
    const response = await request(app)
      .get('/secret')
      .set('authorization', await keyOf(gate))
    expect(response.body).toEqual({
      projectId: 'proj_override',
      viaGetAuth: 'proj_override',
      own: true,
    })
  })

  it("overwrites another library's own req.auth, as an assignment did", async () => {
    const { gate } = makeGate()
    const app = express()
    app.get(
      '/secret',
      (req, _res, next) => {
        ;(req as unknown as { auth: unknown }).auth = { user: 'basic-auth' }
        next()
      },
      requireSecretKey(gate),
      echo,
    )
    const response = await request(app)
      .get('/secret')
      .set('authorization', await keyOf(gate))
    expect(response.body).toEqual({ projectId: 'proj_a', viaGetAuth: 'proj_a', own: true })
  })

  it('is seen by the parent app when the guard ran in a mounted app', async () => {
    const { gate } = makeGate()
    const sub = express()
    sub.use(requireSecretKey(gate))
    const app = express()
    app.use('/api', sub)
    app.get('/api/after', echo)
    const response = await request(app)
      .get('/api/after')
      .set('authorization', await keyOf(gate))
    expect(response.body).toEqual({ projectId: 'proj_a', viaGetAuth: 'proj_a', own: false })
  })
})

describe('req.auth without Express', () => {
  it('is an own property on a request nothing re-prototyped', async () => {
    const { gate } = makeGate()
    const { key } = await gate.keys.create({ projectId: 'proj_a', type: 'secret', mode: 'test' })
    const guard = requireSecretKey(gate)
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const json = (status: number, body: unknown) => {
        res.statusCode = status
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(body))
      }
      const reply = {
        status(code: number) {
          res.statusCode = code
          return reply
        },
        setHeader: (name: string, value: string) => res.setHeader(name, value),
        json: (body: unknown) => json(res.statusCode, body),
      }
      void guard(req, reply, () => {
        json(200, {
          projectId: getAuth(req).projectId,
          own: Object.hasOwn(req, 'auth'),
        })
      })
    })
    const response = await request(server).get('/').set('authorization', `Bearer ${key}`)
    expect(response.body).toEqual({ projectId: 'proj_a', own: true })
  })
})
