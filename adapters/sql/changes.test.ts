import { describe, expect, it } from 'vitest'
import { parseChange } from './changes.js'

describe('parseChange', () => {
  it('reads the three kinds of change, dropping unknown fields such as seq', () => {
    expect(parseChange('{"type":"key","keyId":"key_1","hash":"h","seq":4}')).toEqual({
      type: 'key',
      keyId: 'key_1',
      hash: 'h',
    })
    expect(parseChange('{"type":"session","sessionId":"cs_1"}')).toEqual({
      type: 'session',
      sessionId: 'cs_1',
    })
    expect(parseChange('{"type":"client","projectId":"p","mode":"live","clientId":"u"}')).toEqual({
      type: 'client',
      projectId: 'p',
      mode: 'live',
      clientId: 'u',
    })
  })

  it('refuses anything else: the database is shared, its rows are checked', () => {
    for (const bad of [
      'not json',
      'null',
      '[]',
      '{"type":"key","keyId":"key_1"}',
      '{"type":"session","sessionId":7}',
      '{"type":"client","projectId":"p","mode":"staging","clientId":"u"}',
      '{"type":"drop"}',
    ]) {
      expect(parseChange(bad), bad).toBeNull()
    }
  })
})
