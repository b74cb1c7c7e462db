import { ApiError, createApi } from './api.js'
import { h, replace, uid } from './dom.js'
import { openCreateDialog } from './key-dialogs.js'
import { keysTable } from './keys-view.js'
import { sessionsView } from './sessions-view.js'
import type { Mode, Page, PageContext, PageKey } from './types.js'

// <portcullis-api-keys api="/settings/api-keys">: the API keys page as a custom element, over
// the JSON API that apiKeysPage() mounts at `api`. Its markup and styles live in a shadow root,
// so the host page's CSS neither breaks it nor is broken by it; the stylesheet is the file
// beside this script (or the `stylesheet` attribute's URL).

const TAG = 'portcullis-api-keys'
const STYLESHEET = new URL('./portcullis-api-keys.css', import.meta.url).href
/** How long a confirmation ("Key deleted.") stays on screen. */
const STATUS_SHOWN_MS = 4000
const MODE_NAMES: Readonly<Record<Mode, string>> = { test: 'Test', live: 'Live' }

class ApiKeysElement extends HTMLElement {
  readonly #root: ShadowRoot
  #started = false
  #mode: Mode = 'test'
  #now = Date.now()
  #statusTimer: ReturnType<typeof setTimeout> | undefined
  readonly #status = h('p', { class: 'pc-status', role: 'status' })
  readonly #alert = h('p', { class: 'pc-alert', role: 'alert', hidden: true })
  readonly #keys = h('div', { class: 'pc-keys' })
  readonly #keysHeading = h('h2', { id: uid('keys-heading'), class: 'pc-heading', tabindex: '-1' })

  constructor() {
    super()
    this.#root = this.attachShadow({ mode: 'open' })
  }

  connectedCallback(): void {
    if (this.#started) return
    this.#started = true
    void this.#start()
  }

  async #start(): Promise<void> {
    const body = h('div', { class: 'pc-root', hidden: true })
    const stylesheet = h('link', {
      rel: 'stylesheet',
      href: this.getAttribute('stylesheet') ?? STYLESHEET,
    })
    // Shown once styled (or once the stylesheet failed: unstyled beats nothing).
    const show = () => body.removeAttribute('hidden')
    stylesheet.addEventListener('load', show)
    stylesheet.addEventListener('error', show)
    replace(this.#root, stylesheet, body, this.#status)
    const base = new URL(this.getAttribute('api') ?? '.', document.baseURI)
    if (!base.pathname.endsWith('/')) base.pathname += '/'
    const api = createApi(base)
    let context: PageContext
    try {
      context = await api.get<PageContext>('context')
    } catch (error) {
      replace(body, this.#alert)
      this.#fail(error, 'The API keys could not be loaded.')
      return
    }
    this.#mode = context.modes[0] ?? 'test'
    this.#now = context.now
    const element = this
    const page: Page = {
      root: this.#root,
      api,
      context,
      get mode() {
        return element.#mode
      },
      get now() {
        return element.#now
      },
      announce: (message) => this.#announce(message),
      reload: (focus) => this.#loadKeys(page, focus),
      fallbackFocus: () => this.#keysHeading,
    }
    const sessions = context.can.sessions ? sessionsView(() => page) : null
    const create = context.can.create
      ? h('button', { type: 'button', class: 'pc-button pc-primary' }, 'Create key')
      : null
    create?.addEventListener('click', () => openCreateDialog(page, create))
    const switchModes = (mode: Mode) => {
      this.#mode = mode
      this.#drawHeading()
      sessions?.reset()
      void this.#loadKeys(page)
    }
    replace(
      body,
      h(
        'div',
        { class: 'pc-toolbar' },
        h('p', { class: 'pc-project' }, 'Project ', h('code', {}, context.projectId)),
        this.#modeSwitch(context.modes, switchModes),
      ),
      this.#alert,
      h(
        'section',
        { class: 'pc-section', 'aria-labelledby': this.#keysHeading.id },
        h('div', { class: 'pc-section-head' }, this.#keysHeading, create),
        h(
          'p',
          { class: 'pc-intro' },
          'Secret and restricted keys authenticate your servers; publishable keys identify your project in web and mobile apps. Test keys never touch live data.',
        ),
        this.#keys,
      ),
      sessions?.element ?? null,
    )
    this.#drawHeading()
    await this.#loadKeys(page)
  }

  #modeSwitch(modes: readonly Mode[], onChange: (mode: Mode) => void): HTMLElement {
    if (modes.length === 1) {
      return h('p', { class: 'pc-mode-only' }, `${MODE_NAMES[this.#mode]} mode`)
    }
    const name = uid('mode')
    return h(
      'fieldset',
      { class: 'pc-mode-switch' },
      h('legend', { class: 'pc-label' }, 'Mode'),
      ...modes.map((mode) => {
        const id = uid('mode-choice')
        return h(
          'span',
          { class: `pc-mode pc-mode-${mode}` },
          h('input', {
            type: 'radio',
            id,
            name,
            value: mode,
            checked: mode === this.#mode,
            onchange: () => onChange(mode),
          }),
          h('label', { for: id, class: 'pc-mode-label' }, MODE_NAMES[mode]),
        )
      }),
    )
  }

  #drawHeading(): void {
    this.#keysHeading.textContent = `${MODE_NAMES[this.#mode]} keys`
    this.#root.querySelector('.pc-root')?.setAttribute('data-mode', this.#mode)
  }

  async #loadKeys(page: Page, focus?: string): Promise<void> {
    const mode = this.#mode
    this.#keys.setAttribute('aria-busy', 'true')
    try {
      const { data, now } = await page.api.get<{ data: PageKey[]; now: number }>('keys', { mode })
      if (mode !== this.#mode) return // switched meanwhile: that load draws
      this.#now = now
      this.#alert.hidden = true
      replace(this.#keys, keysTable(page, data))
      const dialogOpen = this.#root.querySelector('dialog[open]') !== null
      if (focus !== undefined && !dialogOpen) {
        this.#root.querySelector<HTMLElement>(`[data-focus="${focus}"]`)?.focus()
      }
    } catch (error) {
      this.#fail(error, 'The keys could not be loaded.')
    } finally {
      this.#keys.removeAttribute('aria-busy')
    }
  }

  #fail(error: unknown, what: string): void {
    this.#alert.textContent = error instanceof ApiError ? `${what} ${error.message}` : what
    this.#alert.hidden = false
  }

  #announce(message: string): void {
    // Emptied first, so saying the same thing twice is heard twice; gone again after a while.
    clearTimeout(this.#statusTimer)
    this.#status.textContent = ''
    this.#statusTimer = setTimeout(() => {
      this.#status.textContent = message
      this.#statusTimer = setTimeout(() => {
        this.#status.textContent = ''
      }, STATUS_SHOWN_MS)
    }, 50)
  }
}

if (customElements.get(TAG) === undefined) customElements.define(TAG, ApiKeysElement)
