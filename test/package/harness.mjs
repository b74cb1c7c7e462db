// Shared by the package checks: run a command with a time bound, report ok/FAIL lines, and
// start a long-running server that is always stopped by its process group id.
import { spawn } from 'node:child_process'

export function createReport() {
  const report = {
    failures: 0,
    ok(name, note) {
      console.log(`ok   ${name}${note ? ` (${note})` : ''}`)
    },
    fail(name, detail) {
      report.failures++
      console.log(`FAIL ${name}`)
      if (detail) console.log(String(detail).replace(/^/gm, '     | '))
    },
  }
  return report
}

// npm prints these for a user-level config key it no longer knows; they say nothing about us.
export const noise = (text) =>
  text
    .split('\n')
    .filter((line) => !/npm warn Unknown (user|env) config/.test(line))
    .join('\n')
    .trim()

/**
 * Runs a command to completion. Never rejects: `code` is the exit code, or a string saying why
 * there is none ("timed out after …", "signal …", "spawn error"). `output` is stdout and
 * stderr interleaved, for failure reports.
 */
export function run(command, args, { cwd, env = process.env, timeoutMs = 120_000 } = {}) {
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...env, NO_COLOR: '1' } })
    let stdout = ''
    let output = ''
    let timedOut = false
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const why = timedOut ? `timed out after ${timeoutMs} ms` : signal ? `signal ${signal}` : code
      resolve({ code: why, stdout, output: noise(output), ms: Date.now() - started })
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ code: 'spawn error', stdout, output: String(error), ms: Date.now() - started })
    })
  })
}

// Process groups of servers still running, killed if this script exits early (an exception, or
// a failed assertion that skips the normal stop).
const liveGroups = new Set()
process.on('exit', () => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {}
  }
})

/**
 * Starts a server in its own process group (tsx runs the app in a child process, so killing
 * only the first pid would leave the app holding its port). `waitFor(pattern, ms)` resolves
 * with the first match of `pattern` in stdout, or rejects when the process exits or the time
 * is up. `stop()` sends SIGTERM to the group, then SIGKILL if it is still there after 5 s.
 */
export function startServer(command, args, { cwd, env }) {
  const child = spawn(command, args, {
    cwd,
    env: { ...env, NO_COLOR: '1' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid !== undefined) liveGroups.add(child.pid)
  let stdout = ''
  let output = ''
  let exit = null
  const listeners = new Set()
  const notify = () => {
    for (const listener of listeners) listener()
  }
  child.stdout.on('data', (chunk) => {
    stdout += chunk
    output += chunk
    notify()
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
    notify()
  })
  const closed = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      exit = signal ? `signal ${signal}` : `exit code ${code}`
      liveGroups.delete(child.pid)
      notify()
      resolve(exit)
    })
    child.on('error', (error) => {
      exit = `spawn error: ${error.message}`
      liveGroups.delete(child.pid)
      notify()
      resolve(exit)
    })
  })

  return {
    pid: child.pid,
    get output() {
      return noise(output)
    },
    get exit() {
      return exit
    },
    closed,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout)
          if (match !== null) return done(() => resolve(match))
          if (exit !== null) return done(() => reject(new Error(`the process ended (${exit})`)))
        }
        const timer = setTimeout(
          () => done(() => reject(new Error(`nothing matched ${pattern} within ${timeoutMs} ms`))),
          timeoutMs,
        )
        const done = (settle) => {
          clearTimeout(timer)
          listeners.delete(check)
          settle()
        }
        listeners.add(check)
        check()
      })
    },
    async stop() {
      if (exit !== null || child.pid === undefined) return closed
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {}
      const stopped = await Promise.race([
        closed,
        new Promise((resolve) => setTimeout(() => resolve(null), 5_000)),
      ])
      if (stopped === null) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {}
        await closed
      }
      liveGroups.delete(child.pid)
      return closed
    },
  }
}
