/** The small part of autocannon 8's programmatic API the load generator uses (it ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    /** Called before each request; returns the request to send. */
    setupRequest?: (request: AutocannonRequest, context: object) => AutocannonRequest
  }

  /** One connection; `setupClient` may give it its own list of requests to cycle through. */
  interface AutocannonClient {
    setRequests(requests: AutocannonRequest[]): void
  }

  interface AutocannonOptions {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    timeout?: number
    requests?: AutocannonRequest[]
    /** Called once per connection, when it is created. */
    setupClient?: (client: AutocannonClient) => void
  }

  interface AutocannonResult {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: { total: number }
  }

  interface AutocannonInstance extends EventEmitter {
    on(
      event: 'response',
      listener: (
        client: unknown,
        statusCode: number,
        bytes: number,
        responseTimeMs: number,
      ) => void,
    ): this
    on(event: 'done', listener: (result: AutocannonResult) => void): this
    on(event: string, listener: (...args: unknown[]) => void): this
    stop(): void
  }

  function autocannon(
    options: AutocannonOptions,
    callback: (error: Error | null, result: AutocannonResult) => void,
  ): AutocannonInstance

  export default autocannon
}
