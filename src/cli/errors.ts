/** The CLI's own error, and how any error reaches stderr: with the driver's causes, never a password. */

/** The command line is wrong (exit code 2); its message is shown as is. */
export class UsageError extends Error {}

/** Every password-like part of the store URL, so no message can echo it. */
function secretsOf(url: string | undefined): string[] {
  if (url === undefined) return []
  try {
    const { password } = new URL(url)
    if (password === '') return []
    let decoded = password
    try {
      decoded = decodeURIComponent(password)
    } catch {}
    return [...new Set([password, decoded])].sort((a, b) => b.length - a.length)
  } catch {
    return []
  }
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@')
  for (const secret of secrets) out = out.split(secret).join('***')
  return out
}

/** The library's advice is for code; an operator at a shell runs the command instead. */
const forTheShell = (message: string) =>
  message.replace(/run migrate\(db\)/g, 'run portcullis migrate')

/** What the driver said, following `cause` (and the parts of an AggregateError). */
function causesOf(error: unknown): string[] {
  const out: string[] = []
  const seen = new Set<unknown>()
  let current = (error as { cause?: unknown } | null)?.cause
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current)
    const text = describeError(current)
    if (text !== '' && !out.includes(text)) out.push(text)
    current = (current as { cause?: unknown }).cause
  }
  return out
}

/** One error's own words: its message, else its parts' (AggregateError), else its code. */
export function describeError(error: object): string {
  const { message, code, errors } = error as { message?: unknown; code?: unknown; errors?: unknown }
  if (typeof message === 'string' && message !== '') return message
  // node's happy-eyeballs connect failures are AggregateErrors with an empty message.
  if (Array.isArray(errors)) {
    const parts = errors
      .map((part) => (typeof part === 'object' && part !== null ? describeError(part) : ''))
      .filter((part) => part !== '')
    if (parts.length > 0) return [...new Set(parts)].join('; ')
  }
  return typeof code === 'string' ? code : ''
}

/** Reports a failure as `portcullis: <text>` and the causes of `error`. */
export type Fail = (text: string, error?: unknown) => void

/** A `Fail` writing to `stderr` that masks the password of `url`, and of any URL, in what it writes. */
export function failTo(stderr: (text: string) => void, url: string): Fail {
  const secrets = secretsOf(url)
  return (text, error) => {
    const causes = error === undefined ? [] : causesOf(error).map((cause) => `\n  cause: ${cause}`)
    stderr(redact(`portcullis: ${forTheShell(text)}${causes.join('')}\n`, secrets))
  }
}
