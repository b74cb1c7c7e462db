// What the page's JSON API sends, as the browser reads it (src/page/*-routes.ts send it).
import type { Api } from './api.js'

export type Mode = 'test' | 'live'
export type KeyType = 'secret' | 'restricted' | 'publishable'
export type Capability = 'create' | 'reveal' | 'roll' | 'delete' | 'allowlist' | 'sessions'

export interface AndroidApp {
  readonly packageName: string
  readonly sha256CertFingerprint: string
}

export interface PageKey {
  readonly id: string
  readonly type: KeyType
  readonly mode: Mode
  readonly name: string
  readonly redacted: string
  readonly allowedIps: readonly string[]
  readonly allowedOrigins: readonly string[]
  readonly allowedAndroidApps: readonly AndroidApp[]
  readonly allowedIosBundleIds: readonly string[]
  readonly permissions: Readonly<Record<string, 'read' | 'write'>> | null
  readonly createdAt: number
  readonly expiresAt: number | null
  readonly lastUsedAt: number | null
  readonly rolledToId: string | null
  readonly revealable: boolean
}

export interface PageContext {
  readonly projectId: string
  readonly modes: readonly Mode[]
  readonly can: Readonly<Record<Capability, boolean>>
  readonly resources: readonly string[]
  readonly maxGracePeriodMs: number
  readonly now: number
}

export interface PageSession {
  readonly id: string
  readonly clientId: string
  readonly mode: Mode
  readonly createdAt: number
  readonly expiresAt: number
  readonly maxExpiresAt: number
  readonly revokedAt: number | null
}

/** A key handed over once: created, rolled (with the retired key) or revealed. */
export interface ShownKey {
  readonly key: string
  readonly record: PageKey
  readonly previous?: PageKey
}

/** What every view and dialog works with: set up by the element (element.ts). */
export interface Page {
  /** The element's shadow root: where dialogs are opened. */
  readonly root: ShadowRoot
  readonly api: Api
  readonly context: PageContext
  /** The mode shown. */
  readonly mode: Mode
  /** The gate's clock at the last load of the keys (epoch ms). */
  readonly now: number
  /** Says something to screen readers (and shows it), politely. */
  announce(message: string): void
  /** Loads the keys again and redraws them; `focus` names what to focus after (`data-focus`). */
  reload(focus?: string): Promise<void>
  /** Something to focus when what had focus is gone: the keys heading. */
  fallbackFocus(): HTMLElement | null
}
