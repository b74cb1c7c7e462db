/** The gate the CLI works through, configured from the same environment as the application. */
import { randomBytes } from 'node:crypto'
import { isPortcullisError } from '../core/errors.js'
import { createPortcullis, type Portcullis } from '../core/portcullis.js'
import type { PortcullisStore } from '../core/store.js'
import type { Env } from './command.js'
import { UsageError } from './errors.js'

export function configureGate(store: PortcullisStore, env: Env): Portcullis {
  return configure(() =>
    createPortcullis({
      store,
      // The CLI never signs a session token; the secret only satisfies the constructor.
      sessionSecret: env.PORTCULLIS_SESSION_SECRET ?? randomBytes(32),
      // Longer than the drivers' connect timeouts, so that their own reason reaches the user.
      storeTimeoutMs: 10_000,
      // The CLI authenticates nothing: a cache would only open a change feed to no purpose.
      cache: false,
      ...(env.PORTCULLIS_PEPPER === undefined ? {} : { pepper: env.PORTCULLIS_PEPPER }),
      ...(env.PORTCULLIS_KEY_PREFIX === undefined ? {} : { keyPrefix: env.PORTCULLIS_KEY_PREFIX }),
      ...(env.PORTCULLIS_REVEAL_KEY === undefined ? {} : { revealKey: env.PORTCULLIS_REVEAL_KEY }),
      ...resourcesOf(env),
    }),
  )
}

/**
 * The application's resource catalog (`createPortcullis({ resources })`) from
 * PORTCULLIS_RESOURCES, comma-separated: without it a permission can name only the built-in
 * client_sessions. Blank entries are skipped; the gate checks the names.
 */
function resourcesOf(env: Env): { resources?: string[] } {
  const listed = (env.PORTCULLIS_RESOURCES ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  return listed.length === 0 ? {} : { resources: listed }
}

/** The environment variable behind each gate option the CLI sets from one. */
const OPTION_VARIABLES: Readonly<Record<string, string>> = {
  revealKey: 'PORTCULLIS_REVEAL_KEY',
  pepper: 'PORTCULLIS_PEPPER',
  keyPrefix: 'PORTCULLIS_KEY_PREFIX',
  sessionSecret: 'PORTCULLIS_SESSION_SECRET',
  resources: 'PORTCULLIS_RESOURCES',
}

/** The gate refusing its options means an environment variable is wrong, not the store. */
function configure<T>(build: () => T): T {
  try {
    return build()
  } catch (error) {
    if (isPortcullisError(error)) throw error
    const message = (error as Error).message.replace(
      // "resources" is a common word: only the option as the gate writes it is renamed.
      /\b(?:options\.)?(revealKey|pepper|keyPrefix|sessionSecret)\b|\boptions\.(resources)\b/g,
      (written, option?: string, resources?: string) =>
        OPTION_VARIABLES[option ?? resources ?? ''] ?? written,
    )
    throw new UsageError(message)
  }
}
