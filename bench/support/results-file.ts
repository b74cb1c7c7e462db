import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where every bench script writes its section; the README links this file. */
export const RESULTS_FILE = fileURLToPath(new URL('../results/latest.md', import.meta.url))

/** The sections, in the order they appear in the file. */
const SECTIONS = ['http', 'instructions', 'http-instructions', 'cold', 'memory'] as const
export type ResultsSection = (typeof SECTIONS)[number]

const HEADER = `# portcullis benchmark results

Written by \`npm run bench\` (HTTP throughput), \`npm run bench:instructions\` (instructions per
decision, under callgrind), \`npm run bench:http-instructions\` (a whole server per request, under
callgrind), \`npm run bench:cold\` (store lookups) and \`npm run bench:memory\` (heap per key and
per session); each command replaces only its own section.
The scripts are in [\`bench/\`](../).
`

const begin = (section: ResultsSection) => `<!-- begin ${section} -->`
const end = (section: ResultsSection) => `<!-- end ${section} -->`

/**
 * Replaces one section of the results file (creating the file if needed) and keeps the others,
 * so the scripts can be run independently.
 */
export function writeResultsSection(section: ResultsSection, markdown: string): void {
  const current = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : ''
  const bodies = new Map<ResultsSection, string>()
  for (const name of SECTIONS) {
    const start = current.indexOf(begin(name))
    const stop = current.indexOf(end(name))
    if (start !== -1 && stop > start) {
      bodies.set(name, current.slice(start + begin(name).length, stop).trim())
    }
  }
  bodies.set(section, markdown.trim())
  const parts = [HEADER]
  for (const name of SECTIONS) {
    const body = bodies.get(name)
    if (body !== undefined) parts.push(`${begin(name)}\n${body}\n${end(name)}\n`)
  }
  mkdirSync(dirname(RESULTS_FILE), { recursive: true })
  writeFileSync(RESULTS_FILE, parts.join('\n'))
}

/** Renders a markdown table; `align` is one of `l`/`r` per column. */
export function markdownTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align: string,
): string {
  const rule = head.map((_, i) => (align[i] === 'r' ? '---:' : ':---'))
  return [head, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/**
 * Writes `markdown` as `section` of the results file and prints it; a partial run (one limited
 * by BENCH_ONLY) is only printed, so that the file always holds whole runs.
 */
export function publishResults(section: ResultsSection, markdown: string, partial: boolean): void {
  if (partial) {
    console.log(`\n${markdown}\n(BENCH_ONLY: a partial run, not written to ${RESULTS_FILE})`)
    return
  }
  writeResultsSection(section, markdown)
  console.log(`\n${markdown}\nwritten to ${RESULTS_FILE}`)
}
