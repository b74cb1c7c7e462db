export {
  createOperatorDispatcher,
  type OperatorOptions,
  type OperatorRequest,
  type OperatorResponse,
} from './dispatch.js'
export { createOpenApiDocument, type OpenApiDocument, type OpenApiOptions } from './openapi.js'
export { readJson } from './read-json.js'
export {
  clientSessionOperations,
  keyManagementOperations,
  type OperatorEvent,
  type OperatorRoute,
  type OperatorTarget,
  type RouteAccess,
  type RouteInput,
} from './routes.js'
export { type ObjectSchema, type Schema, toJsonSchema, validate } from './schema.js'
