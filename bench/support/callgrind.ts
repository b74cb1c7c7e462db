/**
 * What `bench:instructions` and `bench:http-instructions` share: valgrind's presence, bundling a
 * script for a process under callgrind, and reading callgrind's output files.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
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

// ---------------------------------------------------------------------------------------------
// Per-function costs
//
// callgrind_annotate (3.19) miscounts a dump taken in mid-run: a call still in progress is
// written as `calls=0`, which it adds to the caller's own cost, so the event loop's frames each
// show 100 % "self". The few lines below read the file format themselves. Code V8 generated at
// run time has no symbols; callgrind names it by address, which a process started with
// `node --perf-basic-prof` lets us resolve through the map it writes (/tmp/perf-<pid>.map), and
// each bundle position back to the source file it came from.

/** What one callgrind file holds, per function, for every event it counts. */
export interface Profile {
  /** The events, in the file's order (`Ir` first). */
  readonly events: readonly string[]
  /** Each event's total: the functions' own costs added up. */
  readonly total: readonly number[]
  /** Each function's own costs, by event. */
  readonly self: ReadonlyMap<string, readonly number[]>
  /** Each function's costs with what it called, summed over calls (recursion counts twice). */
  readonly inclusive: ReadonlyMap<string, readonly number[]>
  /**
   * The costs of the calls into functions `within` names made from functions it does not name:
   * everything done inside that group of functions, each entry into it counted once.
   */
  readonly within: readonly number[]
}

/**
 * Reads one callgrind output file (positions by line, no jumps). `nameOf` names a function from
 * callgrind's name and its object file; `within` names a group of functions whose whole cost
 * (theirs and their callees') is wanted, such as V8's garbage collector ({@link COLLECTOR}).
 */
export function readProfile(
  file: string,
  nameOf: (fn: string, object: string) => string,
  within: (name: string) => boolean = () => false,
): Profile {
  const names = {
    ob: new Map<string, string>(),
    fl: new Map<string, string>(),
    fn: new Map<string, string>(),
  }
  /** Name compression: `(id) name` defines an id, `(id)` refers back to it. */
  const expand = (space: keyof typeof names, value: string): string => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(value)
    if (match?.[1] === undefined) return value
    if (match[2] !== undefined) {
      names[space].set(match[1], match[2])
      return match[2]
    }
    return names[space].get(match[1]) ?? value
  }
  let events: string[] = ['Ir']
  let positions = 1
  const self = new Map<string, number[]>()
  const inclusive = new Map<string, number[]>()
  const add = (into: number[], costs: readonly number[]) => {
    for (let i = 0; i < costs.length; i++) into[i] = (into[i] ?? 0) + (costs[i] as number)
  }
  const entry = (map: Map<string, number[]>, key: string): number[] => {
    let costs = map.get(key)
    if (costs === undefined) {
      costs = events.map(() => 0)
      map.set(key, costs)
    }
    return costs
  }
  const total: number[] = []
  const inside: number[] = []
  let object = ''
  let fn = ''
  let calleeObject: string | undefined
  let callee = ''
  let inCall = false
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const first = line.charCodeAt(0)
    if ((first >= 48 && first <= 57) || line[0] === '+' || line[0] === '-' || line[0] === '*') {
      const costs = line.split(' ').slice(positions).map(Number)
      if (inCall) {
        const name = nameOf(callee, calleeObject ?? object)
        add(entry(inclusive, name), costs)
        if (within(name) && !within(nameOf(fn, object))) add(inside, costs)
        inCall = false
        calleeObject = undefined
      } else {
        add(entry(self, nameOf(fn, object)), costs)
        add(total, costs)
      }
      continue
    }
    if (line.startsWith('events:')) {
      events = line.slice('events:'.length).trim().split(/\s+/)
      continue
    }
    if (line.startsWith('positions:')) {
      positions = line.slice('positions:'.length).trim().split(/\s+/).length
      continue
    }
    const equals = line.indexOf('=')
    if (equals === -1) continue
    const key = line.slice(0, equals)
    const value = line.slice(equals + 1)
    if (key === 'ob') object = expand('ob', value)
    else if (key === 'fn') fn = expand('fn', value)
    else if (key === 'cob') calleeObject = expand('ob', value)
    else if (key === 'cfn') callee = expand('fn', value)
    else if (key === 'calls') inCall = true
    else if (key === 'fl' || key === 'fi' || key === 'fe' || key === 'cfi' || key === 'cfl')
      expand('fl', value)
    else if (key === 'jfi') expand('fl', value)
    else if (key === 'jfn') expand('fn', value)
  }
  const filled = (costs: number[]) => events.map((_, i) => costs[i] ?? 0)
  return { events, total: filled(total), self, inclusive, within: filled(inside) }
}

/**
 * V8's garbage collector, by the names of its functions: collections, incremental marking,
 * sweeping, and the heap's own bookkeeping. With `node --predictable` all of it runs on the
 * main thread, so a count of the process includes it.
 */
export const COLLECTOR =
  /v8::internal::(?:Heap::|Scavenge|MarkCompact|MinorMarkCompact|IncrementalMarking|ConcurrentMarking|MarkingBarrier|Sweeper|ScavengeJob|MemoryReducer|Evacuat|ArrayBufferSweeper|GCTracer)/

/** Which source file each line of the bundle came from (esbuild marks each module). */
function bundleSources(bundle: string): (line: number) => string | undefined {
  const starts: { line: number; path: string }[] = []
  readFileSync(bundle, 'utf8')
    .split('\n')
    .forEach((text, index) => {
      const match = /^\/\/ ((?:src|adapters|bench|node_modules)\/\S+)$/.exec(text)
      if (match?.[1] !== undefined) starts.push({ line: index + 1, path: match[1] })
    })
  return (line) => {
    let found: string | undefined
    for (const start of starts) {
      if (start.line > line) break
      found = start.path
    }
    return found
  }
}

/**
 * Names callgrind's functions: symbols as they are, generated code through the perf map (if the
 * process wrote one), JavaScript with the source file its bundle line came from.
 */
export function functionNamer(
  perfMap: string,
  bundle: string,
): (fn: string, object: string) => string {
  const regions: { start: number; end: number; name: string }[] = []
  if (existsSync(perfMap)) {
    for (const line of readFileSync(perfMap, 'utf8').split('\n')) {
      const [start, size, ...rest] = line.split(' ')
      if (start === undefined || size === undefined || rest.length === 0) continue
      const from = Number.parseInt(start, 16)
      regions.push({ start: from, end: from + Number.parseInt(size, 16), name: rest.join(' ') })
    }
  }
  const sourceOf = bundleSources(bundle)
  const resolved = new Map<string, string>()
  return (fn, object) => {
    const key = `${fn}\u0000${object}`
    const known = resolved.get(key)
    if (known !== undefined) return known
    let name: string
    // A function's later parts are named with a suffix (`0x…'2`).
    const address = /^(0x[0-9a-f]+)(?:'\d+)?$/.exec(fn)?.[1]
    if (address !== undefined) {
      const at = Number.parseInt(address, 16)
      // Code space is reused: the last code object mapped at this address is taken.
      let region: string | undefined
      for (const entry of regions) {
        if (entry.start <= at && at < entry.end) region = entry.name
      }
      name =
        region === undefined
          ? 'generated code not in the perf map'
          : region.replace(/file:\/\/\S+?:(\d+):\d+/, (_, line: string) => {
              const source = sourceOf(Number(line))
              return `${source ?? 'bundle'} (bundle line ${line})`
            })
    } else {
      const library = object.split('/').at(-1) ?? object
      name = library === 'node' || object === '' ? fn : `${fn} [${library}]`
    }
    resolved.set(key, name)
    return name
  }
}
