/** `portcullis migrate`: create or upgrade the store's schema. */
import type { Commands } from './command.js'

export const MIGRATE_COMMANDS: Commands = {
  async migrate({ opened, print }) {
    const applied = await opened.migrate()
    const human =
      opened.kind === 'redis'
        ? 'redis: nothing to migrate'
        : applied.length === 0
          ? `${opened.kind}: schema up to date`
          : `${opened.kind}: applied ${applied.join(', ')}`
    print(human, { store: opened.kind, applied })
  },
}
