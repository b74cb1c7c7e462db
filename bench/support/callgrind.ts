/**
 * What `bench:instructions` and `bench:http-instructions` share: valgrind's presence, bundling a
 * script for a process under callgrind, and reading callgrind's output files.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The caches `--cache-sim` simulates (size in bytes, ways, line): a first-level instruction cache
 * (32 KiB, 8-way) and data cache (48 KiB, 12-way), and as the last level a per-core second level
 * of 1 MiB, 8-way. What misses the second level comes from a shared third level or from memory,
 * many times slower. The same model on every machine, so that runs compare.
 */
export const CACHE_MODEL = {
  I1: [32_768, 8, 64],
  D1: [49_152, 12, 64],
  LL: [1_048_576, 8, 64],
} as const

/** valgrind's version line; an error naming the fix when it is not installed. */
export function valgrindVersion(): string {
  const result = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `valgrind is needed (e.g. apt-get install valgrind): ${result.error?.message ?? result.stderr}`,
    )
  }
  return result.stdout.trim()
}

/**
 * Bundles `entry` (a path from the repository's root: portcullis from source and its
 * dependencies) into one ES module in `directory`, so that the process under callgrind does not
 * also run a TypeScript loader.
 */
export async function bundleScript(entry: string, directory: string): Promise<string> {
  const outfile = join(directory, `${entry.replace(/^.*\//, '').replace(/\.ts$/, '')}.mjs`)
  await build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node}`,
    // CommonJS dependencies in an ES module bundle still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
    },
    logLevel: 'warning',
  })
  return outfile
}

/**
 * What the runners read of one callgrind output file, in one read: its totals (`totals:`, else
 * `summary:`) by event name, and the process id it names.
 */
export function readCallgrindFile(file: string): {
  totals: ReadonlyMap<string, number>
  pid: number
} {
  const text = readFileSync(file, 'utf8')
  const events = /^events:\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/)
  const line = /^totals:\s+(.+)$/m.exec(text) ?? /^summary:\s+(.+)$/m.exec(text)
  if (events === undefined || line?.[1] === undefined) throw new Error(`no totals in ${file}`)
  const counts = line[1].trim().split(/\s+/).map(Number)
  return {
    totals: new Map(events.map((event, index) => [event, counts[index] ?? 0])),
    pid: Number(/^pid:\s+(\d+)/m.exec(text)?.[1]),
  }
}

/** One event's total among a file's totals; an error if callgrind did not count it. */
export function eventTotal(
  totals: ReadonlyMap<string, number>,
  event: string,
  file: string,
): number {
  const count = totals.get(event)
  if (count === undefined) throw new Error(`no ${event} count in ${file}`)
  return count
}
