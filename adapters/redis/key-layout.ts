import type { ClientScope } from '../../src/index.js'

/**
 * Where every record lives in Redis, under one prefix. The hash tags (`{…}`) decide which keys
 * share a Redis Cluster slot, and so which keys one Lua script may touch together:
 *
 * - `{keys}`: every key record with its hash index, the per-project lists and their counter.
 *   `findKeyByHash` knows only a hash and `rollKey` writes two records and two indexes, so all
 *   of them share one slot. Keys are few (a handful per project) and will be cached in-process.
 * - `{<session id>}`: each session alone, so `touchSession(id)` (the hot path) is one script on
 *   one slot and sessions spread over the whole cluster.
 * - `{<project>:<mode>:<client>}`: each client's index of session ids, read before its sessions
 *   are revoked one by one.
 *
 * Key, hash and project suffixes come after the `{keys}` tag, so they cannot change the slot;
 * client components are URI-encoded so that `:` inside an id cannot make two clients collide.
 */
export interface KeyLayout {
  /** The prefix every key and the change channel start with. */
  readonly prefix: string
  /** The pub/sub channel that carries `StoreChange` messages as JSON. */
  readonly channel: string
  /** Namespace of key records; a script appends the key id. */
  readonly keyRecordNamespace: string
  /** Namespace of the hash → id index; a script appends the hash. */
  readonly keyHashNamespace: string
  /** Namespace of the per-project key lists; a script appends the project id. */
  readonly projectNamespace: string
  /** The counter that orders keys by insertion within their project. */
  readonly keySequence: string
  keyRecord(id: string): string
  keyHash(hash: string): string
  projectKeys(projectId: string): string
  session(id: string): string
  client(scope: ClientScope): string
}

/** Builds the layout for `prefix`, which must not contain `{` or `}` (they would move the hash tags). */
export function createKeyLayout(prefix: string): KeyLayout {
  if (typeof prefix !== 'string' || /[{}]/.test(prefix) || prefix.length > 200) {
    throw new TypeError(
      'RedisStore: prefix must be a string of at most 200 characters without "{" or "}" ' +
        '(braces would change the Redis Cluster hash tags)',
    )
  }
  const keys = `${prefix}{keys}:`
  const keyRecordNamespace = `${keys}key:`
  const keyHashNamespace = `${keys}hash:`
  const projectNamespace = `${keys}project:`
  return {
    prefix,
    channel: `${prefix}changes`,
    keyRecordNamespace,
    keyHashNamespace,
    projectNamespace,
    keySequence: `${keys}sequence`,
    keyRecord: (id) => keyRecordNamespace + id,
    keyHash: (hash) => keyHashNamespace + hash,
    projectKeys: (projectId) => projectNamespace + projectId,
    session: (id) => `${prefix}session:{${id}}`,
    client: (scope) =>
      `${prefix}client:{${encodeURIComponent(scope.projectId)}:${scope.mode}:${encodeURIComponent(scope.clientId)}}`,
  }
}
