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

const isText = (value: unknown): value is string => typeof value === 'string'

/** The change a message carries, or null for anything that is not one (never trusted blindly). */
export function parseStoreChange(message: string): StoreChange | null {
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const change = value as Record<string, unknown>
  switch (change.type) {
    case 'key':
      return isText(change.keyId) && isText(change.hash)
        ? { type: 'key', keyId: change.keyId, hash: change.hash }
        : null
    case 'session':
      return isText(change.sessionId) ? { type: 'session', sessionId: change.sessionId } : null
    case 'client':
      return isText(change.projectId) &&
        (change.mode === 'test' || change.mode === 'live') &&
        isText(change.clientId)
        ? {
            type: 'client',
            projectId: change.projectId,
            mode: change.mode,
            clientId: change.clientId,
          }
        : null
    default:
      return null
  }
}
