import { describe, expect, it } from 'vitest'
import { clientChangeMessage, parseStoreChange, sessionChangeMessage } from './store-change.js'

describe('change messages', () => {
  it('round-trips session and client changes', () => {
    expect(parseStoreChange(sessionChangeMessage('cs_1'))).toEqual({
      type: 'session',
      sessionId: 'cs_1',
    })
    const scope = { projectId: 'proj_1', mode: 'live', clientId: 'user "1"' } as const
    expect(parseStoreChange(clientChangeMessage(scope))).toEqual({ type: 'client', ...scope })
  })

  it('reads key changes as the scripts write them (cjson escapes "/")', () => {
    expect(parseStoreChange('{"type":"key","keyId":"key_1","hash":"a\\/b+c"}')).toEqual({
      type: 'key',
      keyId: 'key_1',
      hash: 'a/b+c',
    })
  })

  it('ignores anything that is not a well-formed change, keeping only known fields', () => {
    for (const message of [
      'not json',
      'null',
      '42',
      '{"type":"key","keyId":"key_1"}',
      '{"type":"session","sessionId":7}',
      '{"type":"client","projectId":"p","mode":"staging","clientId":"c"}',
      '{"type":"flush"}',
    ]) {
      expect(parseStoreChange(message)).toBeNull()
    }
    expect(parseStoreChange('{"type":"session","sessionId":"cs_1","extra":true}')).toEqual({
      type: 'session',
      sessionId: 'cs_1',
    })
  })
})
