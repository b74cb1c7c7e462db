// `npm run start:koa`: the Koa example on the embedded default store.
import { serve, startDemo } from '../shared/demo.js'
import { createApp } from './app.js'

const demo = await startDemo()
serve('Koa', demo, createApp(demo.gate).callback())
