export {
  type ConformanceContext,
  type ConformanceGroupOptions,
  type ConformanceRunner,
  describeAcrossInstancesConformance,
  describeChangeNotificationConformance,
  describeConcurrencyConformance,
  describeKeyConformance,
  describeOutageConformance,
  describePruningConformance,
  describeSessionConformance,
  describeStoreConformance,
  describeThroughPortcullisConformance,
  type StoreConformanceOptions,
} from './conformance/index.js'
export { makeKey, makeSession, randomHash, randomProjectId } from './fixtures.js'
export { createManualClock, type ManualClock } from './manual-clock.js'
