// `npm start`: the Express example on the embedded default store.
import { serve, startDemo } from '../shared/demo.js'
import { createApp } from './app.js'

const demo = await startDemo()
serve('Express', demo, createApp(demo.gate))
