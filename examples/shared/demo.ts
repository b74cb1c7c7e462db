// What both example servers share: the gate on the embedded default store, the demo project,
// and the banner with the four keys and the curl walk-through.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import {
  createPortcullis,
  type OperatorEvent,
  type Portcullis,
  type ProvisionedProject,
} from 'portcullis'
import { MemoryStore } from 'portcullis/adapters/memory'

export const DEMO_PROJECT = 'proj_demo'

export interface Demo {
  gate: Portcullis
  project: ProvisionedProject
  /** Says which store the example runs on, for the banner. */
  storeDescription: string
}

/** A gate on the embedded store with the demo project provisioned. */
export async function startDemo(): Promise<Demo> {
  const store = new MemoryStore()
  const gate = createPortcullis({
    store,
    // A fixed secret in a real deployment; random here, so tokens die with the process.
    sessionSecret: process.env.CST_SECRET ?? randomBytes(32),
  })
  const project = await gate.projects.provision(DEMO_PROJECT)
  return {
    gate,
    project,
    storeDescription: 'MemoryStore (in this process; new keys on every start)',
  }
}

/** The banner: where it listens, the four keys, and the curl calls that walk through it. */
export function banner(framework: string, origin: string, demo: Demo): string {
  const { test, live } = demo.project
  const sk = test.secretKey.key
  const pk = test.publishableKey.key
  const json = `-H "Content-Type: application/json"`
  const token = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).clientSessionToken'`
  return [
    `portcullis ${framework} example listening on ${origin}`,
    `store: ${demo.storeDescription}`,
    '',
    `project ${demo.project.projectId}:`,
    `  test secret key       ${sk}`,
    `  test publishable key  ${pk}`,
    `  live secret key       ${live.secretKey.key}`,
    `  live publishable key  ${live.publishableKey.key}`,
    '',
    'Try it:',
    `curl -s ${origin}/v1/account -H "Authorization: Bearer ${sk}"`,
    `curl -s ${origin}/v1/config -H "Authorization: Bearer ${pk}"`,
    `curl -s ${origin}/v1/config -H "Authorization: Bearer ${sk}"`,
    `TOKEN=$(curl -s -X POST ${origin}/v1/client-sessions -H "Authorization: Bearer ${sk}" ${json} -d '{"clientId":"user_42"}' | ${token})`,
    `curl -s ${origin}/v1/me -H "Authorization: Bearer $TOKEN"`,
    `curl -s -X POST ${origin}/v1/client-sessions/refresh -H "Authorization: Bearer ${sk}" ${json} -d '{"clientId":"user_42"}'`,
    `curl -s ${origin}/v1/internal/stats`,
    `curl -s ${origin}/v1/admin/projects/${demo.project.projectId}/keys?mode=test -H "X-Admin-Token: ${ADMIN_TOKEN}"`,
    '',
  ].join('\n')
}

/** The demo's operator credential: `ADMIN_TOKEN`, or one made up at start and printed. */
export const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? randomBytes(16).toString('hex')

/** The demo's `authorize` hook: an operator is whoever sends the admin token. */
export function isOperator(headers: Record<string, string | string[] | undefined>): boolean {
  const sent = headers['x-admin-token']
  if (typeof sent !== 'string' || sent.length !== ADMIN_TOKEN.length) return false
  return timingSafeEqual(Buffer.from(sent), Buffer.from(ADMIN_TOKEN))
}

/** The demo's audit log: one line per change (a real app would keep them). */
export function logEvent(event: OperatorEvent): void {
  if (process.env.PORTCULLIS_EXAMPLE_QUIET !== '1') console.log('audit:', JSON.stringify(event))
}
