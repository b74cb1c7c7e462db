import { describe, expect, it } from 'vitest'
import { parseStoreChange } from '../../src/index.js'
import { clientChangeMessage, sessionChangeMessage } from './store-change.js'

describe('change messages', () => {
  it('round-trips session and client changes through the shared validator', () => {
    expect(parseStoreChange(sessionChangeMessage('cs_1'))).toEqual({
      type: 'session',
      sessionId: 'cs_1',
    })
    const scope = { projectId: 'proj_1', mode: 'live', clientId: 'user "1"' } as const
    expect(parseStoreChange(clientChangeMessage(scope))).toEqual({ type: 'client', ...scope })
  })
})
