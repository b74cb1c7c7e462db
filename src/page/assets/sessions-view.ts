import { ApiError } from './api.js'
import { confirmDialog } from './dialog.js'
import { h, replace, uid } from './dom.js'
import { time } from './format.js'
import type { Page, PageSession } from './types.js'

// Client sessions: find one end user (client id) in the mode shown, see its Client Session
// Tokens (created, idle expiry, absolute cap, revoked), revoke one or all of them.

interface Found {
  readonly clientId: string
  readonly sessions: readonly PageSession[]
  readonly now: number
}

function status(session: PageSession, now: number): Node {
  if (session.revokedAt !== null) return h('span', {}, 'Revoked ', time(session.revokedAt))
  return h('span', {}, session.expiresAt <= now ? 'Expired' : 'Active')
}

export interface SessionsView {
  readonly element: HTMLElement
  /** Forgets the client shown (the mode changed). */
  reset(): void
}

export function sessionsView(page: () => Page): SessionsView {
  const headingId = uid('sessions-heading')
  const inputId = uid('client-id')
  const input = h('input', { id: inputId, type: 'text', autocomplete: 'off', spellcheck: 'false' })
  const find = h('button', { type: 'submit', class: 'pc-button' }, 'Find sessions')
  const results = h('div', { class: 'pc-sessions' })
  const problem = h('p', { class: 'pc-alert', role: 'alert', hidden: true })

  async function load(clientId: string, focusResults: boolean): Promise<void> {
    const current = page()
    problem.hidden = true
    results.setAttribute('aria-busy', 'true')
    try {
      const found = await current.api.get<{ data: PageSession[]; now: number }>('client-sessions', {
        mode: current.mode,
        clientId,
      })
      draw({ clientId, sessions: found.data, now: found.now })
      if (focusResults) results.querySelector<HTMLElement>('[tabindex="-1"]')?.focus()
    } catch (error) {
      problem.textContent =
        error instanceof ApiError ? error.message : 'The sessions could not be loaded. Try again.'
      problem.hidden = false
    } finally {
      results.removeAttribute('aria-busy')
    }
  }

  function revoke(
    what: string,
    message: string,
    path: string,
    clientId: string,
    focus: () => HTMLElement | null,
  ) {
    const current = page()
    confirmDialog(current.root, {
      title: what,
      message: [message],
      confirmLabel: what.replace(/\?$/, ''),
      returnFocus: focus,
      async onConfirm() {
        const answer = await current.api.send<{ revoked?: number }>('POST', path, {
          mode: current.mode,
          clientId,
        })
        await load(clientId, false)
        current.announce(
          answer.revoked === undefined
            ? 'Session revoked.'
            : `${answer.revoked} session${answer.revoked === 1 ? '' : 's'} revoked.`,
        )
      },
    })
  }

  function draw({ clientId, sessions, now }: Found): void {
    const { mode } = page()
    const caption = `Sessions of ${clientId} in ${mode} mode`
    if (sessions.length === 0) {
      replace(
        results,
        h(
          'p',
          { tabindex: '-1', class: 'pc-empty' },
          `No sessions of ${clientId} in ${mode} mode.`,
        ),
      )
      return
    }
    const heading = h('h3', { tabindex: '-1', class: 'pc-subheading' }, caption)
    const active = sessions.filter(
      (session) => session.revokedAt === null && session.expiresAt > now,
    )
    const rows = sessions.map((session) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, h('code', {}, session.id)),
        h('td', {}, time(session.createdAt)),
        h('td', {}, time(session.expiresAt)),
        h('td', {}, time(session.maxExpiresAt)),
        h('td', {}, status(session, now)),
        h(
          'td',
          { class: 'pc-actions' },
          session.revokedAt !== null || session.expiresAt <= now
            ? null
            : h(
                'button',
                {
                  type: 'button',
                  class: 'pc-button pc-small pc-danger-quiet',
                  'aria-label': `Revoke session ${session.id}`,
                  onclick: () =>
                    revoke(
                      'Revoke this session?',
                      `${clientId} is signed out on the device holding session ${session.id}; your backend must create a new session for it.`,
                      `client-sessions/${encodeURIComponent(session.id)}/revoke`,
                      clientId,
                      () => heading,
                    ),
                },
                'Revoke',
              ),
        ),
      ),
    )
    const column = (text: string) => h('th', { scope: 'col' }, text)
    replace(
      results,
      heading,
      h(
        'div',
        { class: 'pc-table-wrap' },
        h(
          'table',
          { class: 'pc-table' },
          h('caption', { class: 'pc-visually-hidden' }, caption),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              column('Session'),
              column('Created'),
              column('Expires (idle)'),
              column('Absolute cap'),
              column('Status'),
              h('th', { scope: 'col' }, h('span', { class: 'pc-visually-hidden' }, 'Actions')),
            ),
          ),
          h('tbody', {}, ...rows),
        ),
      ),
      active.length === 0
        ? null
        : h(
            'button',
            {
              type: 'button',
              class: 'pc-button pc-danger pc-revoke-all',
              onclick: () =>
                revoke(
                  `Revoke all sessions of ${clientId}?`,
                  `${clientId} is signed out of every device in ${mode} mode; your backend must create a new session for it.`,
                  'client-sessions/revoke',
                  clientId,
                  () => heading,
                ),
            },
            `Revoke all sessions of ${clientId}`,
          ),
    )
  }

  const form = h(
    'form',
    { class: 'pc-inline-form', role: 'search', 'aria-label': 'Find a client' },
    h('label', { for: inputId, class: 'pc-label' }, 'Client ID'),
    input,
    find,
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const clientId = input.value.trim()
    if (clientId === '') {
      problem.textContent = 'Enter the client ID your backend gave the session (its end user).'
      problem.hidden = false
      input.focus()
      return
    }
    void load(clientId, true)
  })
  const element = h(
    'section',
    { class: 'pc-section', 'aria-labelledby': headingId },
    h('h2', { id: headingId, class: 'pc-heading' }, 'Client sessions'),
    h(
      'p',
      { class: 'pc-intro' },
      'The Client Session Tokens your backend created for one of your users. Revoke them to sign that user out.',
    ),
    form,
    problem,
    results,
  )
  return {
    element,
    reset() {
      replace(results)
      problem.hidden = true
    },
  }
}
