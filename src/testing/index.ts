export {
  type ConformanceContext,
  type ConformanceRunner,
  describeStoreConformance,
  type StoreConformanceOptions,
} from './conformance.js'
export { makeKey, makeSession, randomHash, randomProjectId } from './fixtures.js'
export { createManualClock, type ManualClock } from './manual-clock.js'
