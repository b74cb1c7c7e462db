import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { COLLECTOR, functionNamer, readProfile } from './callgrind.js'

const directory = mkdtempSync(join(tmpdir(), 'callgrind-test-'))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

/**
 * A callgrind file as valgrind 3.19 writes one with `--cache-sim=yes`: names compressed (`(id)
 * name` the first time, `(id)` after), a call's inclusive cost on the line after `calls=`,
 * trailing zero costs left out.
 */
const FILE = `# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
positions: line
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 1385 0 0 9

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)
0 300 0 0 2
cfn=(2) memmove
calls=3 0
0 90 0 0 1

fn=(2)
0 90 0 0 1

fn=(3) v8::internal::Runtime_AllocateInYoungGeneration(int, unsigned long*, v8::internal::Isolate*)
0 20
cfn=(1)
calls=1 0
0 390 0 0 3

ob=(2) ???
fn=(4) 0x0000000012340010
0 900 0 0 5
cfn=(3)
calls=1 0
0 410 0 0 3
cfn=(4)
calls=2 0
0 7

fn=(5) 0x0000000012340080'2
0 75 0 0 1
`

describe('readProfile', () => {
  const file = join(directory, 'server.callgrind')
  writeFileSync(file, FILE)
  const plain = (fn: string) => fn

  it("adds up each function's own costs by event, expanding compressed names", () => {
    const profile = readProfile(file, plain)
    expect(profile.events[0]).toBe('Ir')
    expect(profile.total[0]).toBe(300 + 90 + 20 + 900 + 75)
    expect(profile.total[3]).toBe(2 + 1 + 5 + 1)
    expect(profile.self.get('memmove')).toEqual([90, 0, 0, 1, 0, 0, 0, 0, 0])
    expect(profile.self.get('0x0000000012340010')?.[0]).toBe(900)
  })

  it('keeps calls out of the caller’s own cost and counts them as the callee’s inclusive cost', () => {
    const profile = readProfile(file, plain)
    const collect = 'v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)'
    expect(profile.self.get(collect)?.[0]).toBe(300)
    expect(profile.inclusive.get(collect)?.[0]).toBe(390)
    // A recursive call counts for its function again.
    expect(profile.inclusive.get('0x0000000012340010')?.[0]).toBe(7)
  })

  it('counts a group of functions once per entry from outside it, with what they call', () => {
    const profile = readProfile(file, plain, (name) => COLLECTOR.test(name))
    // The allocation runtime's call into the collector (390, memmove included); the
    // collector's own call to memmove is inside it and not counted again.
    expect(profile.within[0]).toBe(390)
    expect(profile.within[3]).toBe(3)
    expect(readProfile(file, plain).within[0]).toBe(0)
  })
})

describe('functionNamer', () => {
  const bundle = join(directory, 'bundle.mjs')
  writeFileSync(
    bundle,
    ['// src/core/one.ts', 'function a() {}', '// src/core/two.ts', 'x'].join('\n'),
  )
  const perfMap = join(directory, 'perf-4242.map')
  writeFileSync(
    perfMap,
    [
      '12340000 40 JS:*first file:///tmp/bundle.mjs:2:10',
      '12340040 80 JS:*second file:///tmp/bundle.mjs:4:1',
    ].join('\n'),
  )
  const nameOf = functionNamer(perfMap, bundle)

  it("names generated code by the perf map, with its bundle line's source file", () => {
    expect(nameOf('0x0000000012340010', '')).toBe('JS:*first src/core/one.ts (bundle line 2)')
    // A function's later part, by its suffixed name.
    expect(nameOf("0x0000000012340080'2", '')).toBe('JS:*second src/core/two.ts (bundle line 4)')
    expect(nameOf('0x0000000099990000', '')).toBe('generated code not in the perf map')
  })

  it("names symbols as they are, with their library unless it is node's", () => {
    expect(nameOf('memmove', '/usr/lib/x86_64-linux-gnu/libc.so.6')).toBe('memmove [libc.so.6]')
    expect(nameOf('uv_run', '/usr/bin/node')).toBe('uv_run')
  })

  it('names no generated code without a perf map', () => {
    const bare = functionNamer(join(directory, 'no-such.map'), bundle)
    expect(bare('0x0000000012340010', '')).toBe('generated code not in the perf map')
  })
})
