import {
  ConflictError,
  type KeyRollResult,
  type StoredKey,
  StoreUnavailableError,
} from '../../src/index.js'
import {
  DELETE_KEY,
  LIST_KEYS,
  type LuaScript,
  READ_MEMBERS,
  REVOKE_SESSION,
  ROLL_KEY,
  UPDATE_KEY,
} from './lua-scripts.js'
import { fieldsToKey, replyText } from './record-codec.js'

/*
 * What RedisStore makes of its scripts' replies. A reply of any other shape means the script
 * and the store disagree (or something else answered): it is reported as an outage, never
 * read as "not found".
 */

/** A nullable timestamp as a script argument: empty for null. */
export const orEmpty = (value: number | null) => (value === null ? '' : String(value))

export function unexpected(script: LuaScript, reply: unknown): never {
  throw new StoreUnavailableError(
    `RedisStore: unexpected reply to ${script.name}: ${JSON.stringify(reply)}`,
  )
}

const keyConflict = () => new ConflictError('conflict', 'A key with this id or hash already exists')

/** The reply of `INSERT_KEY` or `INSERT_SESSION`: `ok`, or `conflict` (then throws `ConflictError`). */
export function decodeInsert(script: LuaScript, reply: unknown, record: 'key' | 'session'): void {
  const status = replyText(reply)
  if (status === 'conflict') {
    throw record === 'key'
      ? keyConflict()
      : new ConflictError('conflict', 'A session with this id already exists')
  }
  if (status !== 'ok') unexpected(script, reply)
}

/** The reply of `LIST_KEYS`: one field list per key. */
export function decodeKeyList(reply: unknown): StoredKey[] {
  if (!Array.isArray(reply)) unexpected(LIST_KEYS, reply)
  return reply.map((fields) => fieldsToKey(fields) ?? unexpected(LIST_KEYS, reply))
}

/** The reply of `ROLL_KEY`: a status, and for `rolled` the old and the new key. */
export function decodeRoll(reply: unknown): KeyRollResult {
  const [status, oldFields, newFields] = Array.isArray(reply) ? reply : []
  switch (replyText(status)) {
    case 'rolled': {
      const previous = fieldsToKey(oldFields)
      const stored = fieldsToKey(newFields)
      return previous === null || stored === null
        ? unexpected(ROLL_KEY, reply)
        : { outcome: 'rolled', previous, replacement: stored }
    }
    case 'not_found':
      return { outcome: 'not_found' }
    case 'already_rolled':
      return { outcome: 'already_rolled' }
    case 'conflict':
      throw keyConflict()
    default:
      return unexpected(ROLL_KEY, reply)
  }
}

/** The reply of `UPDATE_KEY`: the key as it stands afterwards, or null when it does not exist. */
export function decodeUpdatedKey(reply: unknown): StoredKey | null {
  if (!Array.isArray(reply)) unexpected(UPDATE_KEY, reply)
  return fieldsToKey(reply)
}

/** The reply of `DELETE_KEY`: whether the key existed. */
export function decodeDeleted(reply: unknown): boolean {
  if (reply !== 0 && reply !== 1) unexpected(DELETE_KEY, reply)
  return reply === 1
}

/** The reply of `REVOKE_SESSION`: 1 if this call revoked the session, and its fields. */
export function decodeRevocation(reply: unknown): { revoked: number; fields: unknown } {
  if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1)) {
    unexpected(REVOKE_SESSION, reply)
  }
  return { revoked: reply[0] as number, fields: reply[1] }
}

/** The reply of `READ_MEMBERS` on a client's index: session ids. */
export function decodeMembers(reply: unknown): string[] {
  if (!Array.isArray(reply)) unexpected(READ_MEMBERS, reply)
  return reply.map((id) => replyText(id) ?? unexpected(READ_MEMBERS, reply))
}
