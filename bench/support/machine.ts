import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, release, totalmem } from 'node:os'

/** The CPU model as /proc/cpuinfo names it (Linux); `unknown` elsewhere. */
function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('model name'))
    return line?.split(':')[1]?.trim() ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** The commit the measured source is at, and whether src/ or adapters/ had uncommitted changes. */
function sourceRevision(): string {
  try {
    const options = { cwd: new URL('../..', import.meta.url), encoding: 'utf8' } as const
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], options).trim()
    // --no-optional-locks: a read that never writes the index, even to refresh it.
    const dirty = execFileSync(
      'git',
      ['--no-optional-locks', 'status', '--porcelain', '--', 'src', 'adapters'],
      options,
    ).trim()
    return dirty === '' ? head : `${head} + uncommitted changes in src/ or adapters/`
  } catch {
    return 'unknown'
  }
}

/** One line describing the machine and the code measured, for the results file. */
export function describeMachine(extra: readonly string[] = []): string {
  const parts = [
    `Node ${process.version}`,
    `CPU ${cpuModel()}`,
    `${availableParallelism()} cores`,
    `${Math.round(totalmem() / 2 ** 30)} GiB RAM`,
    `Linux ${release()}`,
    ...extra,
    `source ${sourceRevision()}`,
    new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  ]
  return parts.join(' · ')
}
