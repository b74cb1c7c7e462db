import * as nodeCrypto from 'node:crypto'

type OneShotHash = (algorithm: string, data: string, encoding: 'base64url') => string
const oneShot = (nodeCrypto as { hash?: OneShotHash }).hash

/**
 * How the toy hashes: one-shot `crypto.hash` (Node ≥ 20.12), else `createHash`, chosen exactly
 * as src/core/hashing.ts chooses for portcullis (`createSecretHasher()` without a pepper), so
 * that the toy and portcullis always pay for the same SHA-256.
 */
export const TOY_HASH_IMPLEMENTATION = oneShot ? 'crypto.hash (one-shot)' : 'createHash'

/**
 * The hand-written toy's hash, shared by `npm run bench`, `npm run bench:hot` and
 * `npm run bench:instructions`.
 */
export const sha256 = oneShot
  ? (value: string) => oneShot('sha256', value, 'base64url')
  : (value: string) => nodeCrypto.createHash('sha256').update(value).digest('base64url')
