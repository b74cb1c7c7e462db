/** `portcullis sessions …`: a client's sessions, and revoking one. */
import type { SessionRecord } from '../core/records.js'
import type { Mode } from '../core/types.js'
import type { Commands } from './command.js'
import { need } from './options.js'
import { iso, table } from './output.js'

export const SESSION_COMMANDS: Commands = {
  async 'sessions list'({ gate, values, print }) {
    const projectId = need(values.project, '--project')
    const clientId = need(values['client-id'], '--client-id')
    const modes: Mode[] = values.mode === undefined ? ['test', 'live'] : [values.mode as Mode]
    const sessions: SessionRecord[] = []
    for (const mode of modes) {
      sessions.push(...(await gate.sessions.listClient({ projectId, mode, clientId })))
    }
    sessions.sort((a, b) => a.createdAt - b.createdAt)
    const human =
      sessions.length === 0
        ? `(no sessions for client ${JSON.stringify(clientId)} in project ${projectId})`
        : table(sessionRows(sessions, Date.now()))
    print(human, sessions)
  },

  async 'sessions revoke'({ gate, args, print }) {
    const sessionId = need(args[2], '<sessionId>')
    const before = gate.clock()
    const session = await gate.sessions.revoke(sessionId)
    // The store keeps the first revokedAt: an earlier one means this call changed nothing.
    const alreadyRevoked = session.revokedAt !== null && session.revokedAt < before
    const human = alreadyRevoked
      ? `session ${session.id} was already revoked at ${iso(session.revokedAt)} (client ${session.clientId}, ${session.mode})`
      : `revoked ${session.id} (client ${session.clientId}, ${session.mode})`
    print(human, { ...session, alreadyRevoked })
  },
}

function sessionRows(sessions: readonly SessionRecord[], now: number): string[][] {
  return [
    ['id', 'mode', 'state', 'created', 'expires', 'absolute cap', 'revoked'],
    ...sessions.map((session) => [
      session.id,
      session.mode,
      session.revokedAt !== null ? 'revoked' : session.expiresAt <= now ? 'expired' : 'active',
      iso(session.createdAt),
      iso(session.expiresAt),
      iso(session.maxExpiresAt),
      iso(session.revokedAt, '-'),
    ]),
  ]
}
