import { connect } from 'node:net'

/**
 * One `GET /secret` written byte for byte, as no HTTP client would send it: the request line,
 * Host and `Connection: close`, then `head` (header lines, each ending in CRLF; a string is
 * taken as latin1 bytes). Resolves to the whole answer as latin1 text once the server closed.
 */
export function rawRequest(port: number, head: string | Buffer): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
    socket.end(
      Buffer.concat([
        Buffer.from('GET /secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'),
        typeof head === 'string' ? Buffer.from(head, 'latin1') : head,
        Buffer.from('\r\n'),
      ]),
    )
  })
}

/** The status code of a raw answer, or 0 when there was none. */
export const statusOf = (answer: string): number =>
  Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)
