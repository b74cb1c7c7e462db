import { describe, expect, it } from 'vitest'
import { socketAddress } from './socket-address.js'

/** A socket whose address getter counts its reads. */
function countingSocket(address: string | undefined) {
  const socket = {
    reads: 0,
    current: address,
    get remoteAddress() {
      socket.reads++
      return socket.current
    },
  }
  return socket
}

describe('socketAddress', () => {
  it("reads a socket's address once, then answers from memory", () => {
    const socket = countingSocket('203.0.113.7')
    expect(socketAddress(socket)).toBe('203.0.113.7')
    expect(socketAddress(socket)).toBe('203.0.113.7')
    expect(socketAddress(socket)).toBe('203.0.113.7')
    expect(socket.reads).toBe(1)
  })

  it('keeps each socket its own address', () => {
    const first = countingSocket('203.0.113.7')
    const second = countingSocket('2001:db8::1')
    expect(socketAddress(first)).toBe('203.0.113.7')
    expect(socketAddress(second)).toBe('2001:db8::1')
    expect(socketAddress(first)).toBe('203.0.113.7')
  })

  it('reads again while the address is not known', () => {
    const socket = countingSocket(undefined)
    expect(socketAddress(socket)).toBeUndefined()
    socket.current = '198.51.100.4'
    expect(socketAddress(socket)).toBe('198.51.100.4')
    expect(socketAddress(socket)).toBe('198.51.100.4')
    expect(socket.reads).toBe(2)
  })

  it('answers undefined without a socket', () => {
    expect(socketAddress(undefined)).toBeUndefined()
    expect(socketAddress(null)).toBeUndefined()
    expect(socketAddress({})).toBeUndefined()
  })
})
