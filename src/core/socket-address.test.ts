import { describe, expect, it } from 'vitest'
import { GuardRequest, NodeGuardRequest, socketAddress } from './socket-address.js'

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

describe('socketAddress, across many addresses', () => {
  it('answers each socket its own address past the bound of shared address strings', () => {
    const sockets = Array.from({ length: 5000 }, (_, i) =>
      countingSocket(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
    )
    for (const socket of sockets) socketAddress(socket)
    sockets.forEach((socket, i) => {
      expect(socketAddress(socket)).toBe(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
      expect(socket.reads).toBe(1)
    })
    // A new socket from an address seen before the table was emptied.
    expect(socketAddress(countingSocket('10.0.0.1'))).toBe('10.0.0.1')
  })
})

describe('the requests the guards hand the core', () => {
  it.each([
    ['GuardRequest', GuardRequest],
    ['NodeGuardRequest', NodeGuardRequest],
  ])("%s reads the socket's address only when asked, and once per socket", (_, Request) => {
    const socket = countingSocket('192.0.2.9')
    const headers = { authorization: 'Bearer x' }
    const raw = ['Authorization', 'Bearer x']
    const first = new Request(headers, raw, { socket })
    expect(first.headers).toBe(headers)
    expect(first.rawHeaders).toBe(raw)
    expect(socket.reads).toBe(0)
    expect(first.remoteAddress).toBe('192.0.2.9')
    expect(new Request(headers, raw, { socket }).remoteAddress).toBe('192.0.2.9')
    expect(socket.reads).toBe(1)
  })

  it.each([
    ['GuardRequest', GuardRequest],
    ['NodeGuardRequest', NodeGuardRequest],
  ])('%s answers undefined for a request without a socket', (_, Request) => {
    expect(new Request({}, undefined, {}).remoteAddress).toBeUndefined()
  })
})
