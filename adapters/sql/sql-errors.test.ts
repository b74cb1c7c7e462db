import { describe, expect, it } from 'vitest'
import { ConflictError, isStoreUnavailableError } from '../../src/index.js'
import { classifySqlError, isUniqueViolation, toStoreError } from './sql-errors.js'

const driverError = (fields: Record<string, unknown>, message = 'driver error') =>
  Object.assign(new Error(message), fields)

describe('SQL error classification', () => {
  it('sorts driver errors of the three drivers into what an operator acts on', () => {
    const cases: [Error, ReturnType<typeof classifySqlError>][] = [
      [driverError({ code: 'ECONNREFUSED' }), 'unreachable'],
      [driverError({ code: '57P01' }), 'unreachable'],
      [driverError({ code: '08006' }), 'unreachable'],
      [driverError({ code: '53300' }), 'unreachable'],
      [driverError({}, 'Connection terminated unexpectedly'), 'unreachable'],
      [driverError({}, 'timeout exceeded when trying to connect'), 'unreachable'],
      [driverError({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), 'unreachable'],
      [driverError({ code: 'SQLITE_CANTOPEN' }), 'unreachable'],
      [driverError({ code: '3D000' }, 'database "nope" does not exist'), 'refused'],
      [driverError({ code: '28P01' }, 'password authentication failed'), 'refused'],
      [driverError({ code: 'ER_BAD_DB_ERROR' }, "Unknown database 'nope'"), 'refused'],
      [driverError({ code: 'ER_ACCESS_DENIED_ERROR' }), 'refused'],
      [driverError({ code: '57014' }), 'busy'],
      [driverError({ code: 'ER_LOCK_WAIT_TIMEOUT' }), 'busy'],
      [driverError({ code: 'SQLITE_BUSY' }), 'busy'],
      [driverError({ code: 'SQLITE_READONLY' }), 'read_only'],
      [driverError({ code: '25006' }), 'read_only'],
      [driverError({ code: '42P01' }), 'schema'],
      [driverError({ code: 'ER_NO_SUCH_TABLE' }), 'schema'],
      [driverError({ code: 'SQLITE_ERROR' }, 'no such table: portcullis_keys'), 'schema'],
      [driverError({ code: '42601' }, 'syntax error at or near "selec"'), 'query'],
      [new TypeError('x is not a function'), 'query'],
    ]
    for (const [error, kind] of cases) expect(classifySqlError(error), error.message).toBe(kind)
  })

  it('wraps every driver error in StoreUnavailableError with the original as cause', () => {
    const cause = driverError({ code: '42601' }, 'syntax error')
    const wrapped = toStoreError(cause, 'getKey')
    expect(isStoreUnavailableError(wrapped)).toBe(true)
    expect(wrapped.message).toMatch(
      /^SqlStore\.getKey: a query failed for a reason other than connectivity/,
    )
    expect(wrapped.cause).toBe(cause)
    const conflict = new ConflictError('conflict')
    expect(toStoreError(conflict, 'insertKey')).toBe(conflict)
  })

  it('recognises unique violations of every dialect', () => {
    expect(isUniqueViolation(driverError({ code: '23505' }))).toBe(true)
    expect(isUniqueViolation(driverError({ code: 'ER_DUP_ENTRY', errno: 1062 }))).toBe(true)
    expect(isUniqueViolation(driverError({ code: 'SQLITE_CONSTRAINT_UNIQUE' }))).toBe(true)
    expect(isUniqueViolation(driverError({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }))).toBe(true)
    expect(isUniqueViolation(driverError({ code: 'SQLITE_CONSTRAINT_NOTNULL' }))).toBe(false)
  })
})
