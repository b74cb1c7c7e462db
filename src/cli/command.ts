/** What every command receives; each command file exports its commands as a `Commands` table. */
import type { Portcullis } from '../core/portcullis.js'
import type { OpenedStore } from './open-store.js'
import type { Values } from './options.js'
import type { Print } from './output.js'

/** The environment the CLI reads its configuration from. */
export type Env = Readonly<Record<string, string | undefined>>

export interface CommandInput {
  readonly gate: Portcullis
  readonly opened: OpenedStore
  readonly values: Values
  /** The positionals, command words included: `args[2]` is the first after `keys roll`. */
  readonly args: string[]
  readonly print: Print
  readonly env: Env
}

export type Command = (input: CommandInput) => Promise<void>

/** Commands by name as typed (`keys roll`). */
export type Commands = Readonly<Record<string, Command>>
