import * as nodeCrypto from 'node:crypto'

type OneShotHash = (algorithm: string, data: string, encoding: 'base64url') => string
const oneShot = (nodeCrypto as { hash?: OneShotHash }).hash

/**
 * The hand-written toy's hash, shared by `npm run bench` and `npm run bench:hot`: one-shot
 * `crypto.hash` (Node ≥ 20.12), else `createHash`.
 */
export const sha256 = oneShot
  ? (value: string) => oneShot('sha256', value, 'base64url')
  : (value: string) => nodeCrypto.createHash('sha256').update(value).digest('base64url')
