/** What commands print: a human line or table, or with --json the value itself. */

/** Prints `human`, or `machine` as JSON under --json. */
export type Print = (human: string, machine: unknown) => void

export function printTo(stdout: (text: string) => void, json: boolean): Print {
  return (human, machine) => stdout(json ? `${JSON.stringify(machine, null, 2)}\n` : `${human}\n`)
}

/** An instant as ISO 8601, or `none` for null. */
export const iso = (epochMs: number | null, none = 'never') =>
  epochMs === null ? none : new Date(epochMs).toISOString()

/** Rows as columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  )
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
