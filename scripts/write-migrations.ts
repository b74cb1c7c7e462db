// Writes adapters/sql/migrations/<dialect>/<name>.sql from the schema declared in
// adapters/sql/migrations.ts. Run it after adding a migration; a test fails while the committed
// files differ from what this writes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrationFiles } from '../adapters/sql/migrations.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'adapters', 'sql', 'migrations')

const current = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

for (const { path, text } of migrationFiles()) {
  const file = join(root, path)
  if (current(file) === text) {
    console.log(`unchanged ${path}`)
    continue
  }
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, text)
  console.log(`wrote     ${path}`)
}
