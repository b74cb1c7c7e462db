import { describe, expect, it } from 'vitest'
import type { StoreChange } from './store.js'
import { ChangeListeners, parseStoreChange } from './store-change.js'

describe('parseStoreChange', () => {
  it('reads the three kinds of change, dropping unknown fields such as a sequence number', () => {
    expect(parseStoreChange('{"type":"key","keyId":"key_1","hash":"h","seq":4}')).toEqual({
      type: 'key',
      keyId: 'key_1',
      hash: 'h',
    })
    expect(parseStoreChange('{"type":"session","sessionId":"cs_1","extra":true}')).toEqual({
      type: 'session',
      sessionId: 'cs_1',
    })
    expect(
      parseStoreChange('{"type":"client","projectId":"p","mode":"live","clientId":"user \\"1\\""}'),
    ).toEqual({ type: 'client', projectId: 'p', mode: 'live', clientId: 'user "1"' })
  })

  it('reads key changes as Redis scripts write them (cjson escapes "/")', () => {
    expect(parseStoreChange('{"type":"key","keyId":"key_1","hash":"a\\/b+c"}')).toEqual({
      type: 'key',
      keyId: 'key_1',
      hash: 'a/b+c',
    })
  })

  it('refuses anything else, reset included: a shared backend is checked, not trusted', () => {
    for (const bad of [
      'not json',
      'null',
      '42',
      '[]',
      '{"type":"key","keyId":"key_1"}',
      '{"type":"session","sessionId":7}',
      '{"type":"client","projectId":"p","mode":"staging","clientId":"u"}',
      '{"type":"reset"}',
      '{"type":"drop"}',
    ]) {
      expect(parseStoreChange(bad), bad).toBeNull()
    }
  })
})

describe('ChangeListeners', () => {
  const change: StoreChange = { type: 'session', sessionId: 'cs_1' }

  it('makes each add its own registration, removed only by its own unwatch', async () => {
    const listeners = new ChangeListeners()
    const heard: StoreChange[] = []
    const listener = (delivered: StoreChange) => heard.push(delivered)
    const first = listeners.add(listener)
    const second = listeners.add(listener)
    listeners.deliver(change)
    expect(heard).toHaveLength(2)
    await first()
    await first()
    listeners.deliver({ type: 'reset' })
    expect(heard).toHaveLength(3)
    await second()
    listeners.deliver(change)
    expect(heard).toHaveLength(3)
    expect(listeners.size).toBe(0)
  })

  it('freezes a change and keeps one listener’s failure from the others', () => {
    const errors: unknown[] = []
    const listeners = new ChangeListeners((error) => errors.push(error))
    const heard: StoreChange[] = []
    listeners.add(() => {
      throw new Error('boom')
    })
    listeners.add((delivered) => heard.push(delivered))
    const delivered: StoreChange = { type: 'key', keyId: 'key_1', hash: 'h' }
    listeners.deliver(delivered)
    expect(heard).toEqual([delivered])
    expect(Object.isFrozen(delivered)).toBe(true)
    expect(errors).toEqual([new Error('boom')])
  })

  it('refuses a listener that is not a function', () => {
    expect(() => new ChangeListeners().add('nope' as never)).toThrow(TypeError)
  })
})
