// `npm run start:koa`: the Koa example on the embedded default store.
import { banner, startDemo } from '../shared/demo.js'
import { createApp } from './app.js'

const demo = await startDemo()
const server = createApp(demo.gate).listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  console.log(banner('Koa', `http://127.0.0.1:${port}`, demo))
})
const stop = () => server.close(() => void demo.close())
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
