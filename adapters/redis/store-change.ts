import type { ClientScope, StoreChange } from '../../src/index.js'

/**
 * The wire form of a `StoreChange` on the change channel: the change itself as JSON. Key
 * changes are written by the Lua scripts (only they know a key's hash); these build the others.
 */
export function sessionChangeMessage(sessionId: string): string {
  return JSON.stringify({ type: 'session', sessionId } satisfies StoreChange)
}

export function clientChangeMessage(scope: ClientScope): string {
  const { projectId, mode, clientId } = scope
  return JSON.stringify({ type: 'client', projectId, mode, clientId } satisfies StoreChange)
}
