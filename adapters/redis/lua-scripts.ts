import { createHash } from 'node:crypto'
import { INHERITED_KEY_FIELDS } from '../../src/index.js'

/** A Lua script with its SHA-1, which is how `EVALSHA` names it. */
export interface LuaScript {
  /** Shown in error messages. */
  readonly name: string
  readonly source: string
  readonly sha1: string
}

/**
 * Helpers every script starts with. Timestamps travel as decimal strings and are formatted
 * back with `%.17g`, which round-trips every double (`tostring` keeps only 14 digits).
 *
 * `collect` sets a key's garbage-collection TTL: `retention` ms after `deadline`, counted from
 * `now` and never less than `retention`, so a record the core still considers live (or wants
 * to answer "expired" for) is never collected. The TTL is relative (PEXPIRE, not PEXPIREAT)
 * so the app's clock and the Redis server's clock need not agree. No deadline, no TTL.
 */
const PRELUDE = `
local function num(value) return string.format('%.17g', value) end
local function ttl(deadline, now, retention)
  return num(math.ceil(math.max(deadline - now, 0) + retention))
end
local function collect(key, deadline, now, retention)
  if deadline == nil then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIRE', key, ttl(deadline, now, retention))
  end
end
local function keyChange(id, hash)
  return '{"type":"key","keyId":' .. cjson.encode(id) .. ',"hash":' .. cjson.encode(hash) .. '}'
end
`

function defineScript(name: string, body: string): LuaScript {
  const source = PRELUDE + body
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') }
}

/** KEYS[1] a hash → its fields as a flat array (empty when the key does not exist). */
export const READ_HASH = defineScript('read', `return redis.call('HGETALL', KEYS[1])`)

/** KEYS[1] a set → its members. */
export const READ_MEMBERS = defineScript('readMembers', `return redis.call('SMEMBERS', KEYS[1])`)

/** KEYS[1] the hash index; ARGV[1] the record namespace → the record's fields, or empty. */
export const FIND_KEY_BY_HASH = defineScript(
  'findKeyByHash',
  `
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id)
`,
)

/**
 * KEYS[1] a project's key list; ARGV[1] the record namespace → one field array per key, in
 * insertion order. Drops ids whose record was collected by its TTL.
 */
export const LIST_KEYS = defineScript(
  'listKeys',
  `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    out[#out + 1] = fields
  end
end
return out
`,
)

/**
 * Shared by insertKey and rollKey: writes a new key record, its hash index and its place in
 * the project list. Expects the record, index, list and counter keys and the id, expiry, now,
 * retention and field pairs; refuses nothing (callers check for conflicts first).
 */
const PUT_KEY = `
local function putKey(record, index, list, sequence, id, expiresAt, now, retention, fields)
  redis.call('HSET', record, unpack(fields))
  redis.call('SET', index, id)
  redis.call('ZADD', list, redis.call('INCR', sequence), id)
  collect(record, expiresAt, now, retention)
  collect(index, expiresAt, now, retention)
end
`

/**
 * KEYS: record, hash index, project list, counter. ARGV: id, expiresAt ('' = never), now,
 * retention, then field/value pairs → 'ok' or 'conflict' (the id or the hash exists).
 */
export const INSERT_KEY = defineScript(
  'insertKey',
  `${PUT_KEY}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 'conflict'
end
putKey(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), {unpack(ARGV, 5)})
return 'ok'
`,
)

/**
 * KEYS[1] the record. ARGV: channel, the number n of fields to set, n field/value pairs, then
 * the fields to delete (set to null) → the record's fields afterwards, or empty when it does
 * not exist. One script, so the changes land together and are announced with them.
 */
export const UPDATE_KEY = defineScript(
  'updateKey',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local set = tonumber(ARGV[2])
if set > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * set)) end
if #ARGV > 2 + 2 * set then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * set)) end
local key = redis.call('HMGET', KEYS[1], 'id', 'hash')
redis.call('PUBLISH', ARGV[1], keyChange(key[1], key[2]))
return redis.call('HGETALL', KEYS[1])
`,
)

/** The record fields a replacement copies from the key it replaces, as a Lua table. */
const INHERITED = `{${INHERITED_KEY_FIELDS.map((field) => `'${field}'`).join(', ')}}`

/**
 * KEYS: old record, new record, new hash index, new project list, counter. ARGV: hash-index
 * namespace, new id, new expiresAt ('' = never), old key's new expiry, now, retention, channel,
 * then the new record's field/value pairs → {'rolled', old fields, new fields} |
 * {'not_found'} | {'already_rolled'} | {'conflict'}. The replacement and the retirement happen
 * together or not; the replacement's inherited fields are the old record's as this script
 * finds them, not the caller's copy.
 */
export const ROLL_KEY = defineScript(
  'rollKey',
  `${PUT_KEY}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
local old = redis.call('HMGET', KEYS[1], 'id', 'hash', 'rolledToId', 'expiresAt')
if old[3] then return {'already_rolled'} end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return {'conflict'}
end
local now = tonumber(ARGV[5])
local retention = tonumber(ARGV[6])
putKey(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], tonumber(ARGV[3]), now, retention,
  {unpack(ARGV, 8)})
for _, field in ipairs(${INHERITED}) do
  local value = redis.call('HGET', KEYS[1], field)
  if value then
    redis.call('HSET', KEYS[2], field, value)
  else
    redis.call('HDEL', KEYS[2], field)
  end
end
local expires = tonumber(ARGV[4])
if old[4] then expires = math.min(tonumber(old[4]), expires) end
redis.call('HSET', KEYS[1], 'rolledToId', ARGV[2], 'expiresAt', num(expires))
collect(KEYS[1], expires, now, retention)
collect(ARGV[1] .. old[2], expires, now, retention)
redis.call('PUBLISH', ARGV[7], keyChange(old[1], old[2]))
return {'rolled', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`,
)

/** KEYS[1] the record. ARGV: hash-index namespace, project namespace, channel → 1 or 0. */
export const DELETE_KEY = defineScript(
  'deleteKey',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local key = redis.call('HMGET', KEYS[1], 'id', 'hash', 'projectId')
redis.call('DEL', KEYS[1])
local index = ARGV[1] .. key[2]
if redis.call('GET', index) == key[1] then redis.call('DEL', index) end
redis.call('ZREM', ARGV[2] .. key[3], key[1])
redis.call('PUBLISH', ARGV[3], keyChange(key[1], key[2]))
return 1
`,
)

/** KEYS: records. ARGV: one lastUsedAt per record → 'ok'. Raises, never lowers, never creates. */
export const RECORD_KEY_USAGE = defineScript(
  'recordKeyUsage',
  `
for i, record in ipairs(KEYS) do
  if redis.call('EXISTS', record) == 1 then
    local current = tonumber(redis.call('HGET', record, 'lastUsedAt'))
    if current == nil or tonumber(ARGV[i]) > current then
      redis.call('HSET', record, 'lastUsedAt', ARGV[i])
    end
  end
end
return 'ok'
`,
)

/**
 * KEYS[1] a client's index. ARGV: session id, the session's cap, now, retention. Adds the id
 * and extends (never shortens) the index's TTL to outlive the session.
 */
export const INDEX_CLIENT_SESSION = defineScript(
  'indexClientSession',
  `
redis.call('SADD', KEYS[1], ARGV[1])
local wanted = tonumber(ttl(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])))
local current = redis.call('PTTL', KEYS[1])
if current < wanted then redis.call('PEXPIRE', KEYS[1], num(wanted)) end
return 'ok'
`,
)

/** KEYS[1] the session. ARGV: expiresAt, now, retention, field/value pairs → 'ok' | 'conflict'. */
export const INSERT_SESSION = defineScript(
  'insertSession',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'conflict' end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
collect(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return 'ok'
`,
)

/**
 * KEYS[1] the session. ARGV: now, retention → its fields afterwards, or empty. Slides a live,
 * unrevoked session to min(now + idle, cap); never creates, revives or shortens it.
 */
export const TOUCH_SESSION = defineScript(
  'touchSession',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local s = redis.call('HMGET', KEYS[1], 'expiresAt', 'idleTimeoutMs', 'maxExpiresAt', 'revokedAt')
local now = tonumber(ARGV[1])
local expires = tonumber(s[1])
if not s[4] and expires > now then
  local slid = math.min(now + tonumber(s[2]), tonumber(s[3]))
  if slid > expires then
    redis.call('HSET', KEYS[1], 'expiresAt', num(slid))
    collect(KEYS[1], slid, now, tonumber(ARGV[2]))
  end
end
return redis.call('HGETALL', KEYS[1])
`,
)

/**
 * KEYS[1] the session. ARGV: now, channel ('' = announce nothing), change message, and
 * optionally the project, mode and client it must belong to → {1 if this call revoked it else
 * 0, its fields (empty when missing or outside the scope)}. Keeps the first revokedAt;
 * announces only a real revocation.
 */
export const REVOKE_SESSION = defineScript(
  'revokeSession',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, {}} end
if ARGV[4] then
  local s = redis.call('HMGET', KEYS[1], 'projectId', 'mode', 'clientId')
  if s[1] ~= ARGV[4] or s[2] ~= ARGV[5] or s[3] ~= ARGV[6] then return {0, {}} end
end
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return {1, redis.call('HGETALL', KEYS[1])}
`,
)

/**
 * KEYS[1] any key, which only routes the script (on a cluster, PUBLISH reaches every node).
 * ARGV: channel, message → 'ok'.
 */
export const ANNOUNCE = defineScript(
  'announce',
  `
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 'ok'
`,
)
