import { InvalidRequestError } from '../core/errors.js'

/**
 * The small JSON Schema subset the operator routes are described with. One definition both
 * validates requests and is emitted, unchanged in meaning, into the OpenAPI document.
 */
export type Schema =
  | {
      readonly type: 'string'
      readonly description?: string
      readonly minLength?: number
      readonly maxLength?: number
      readonly pattern?: string
      readonly enum?: readonly string[]
    }
  | {
      readonly type: 'integer'
      readonly description?: string
      readonly minimum?: number
      readonly maximum?: number
      /** `null` is accepted too. */
      readonly nullable?: boolean
    }
  | { readonly type: 'boolean'; readonly description?: string }
  | {
      readonly type: 'array'
      readonly description?: string
      readonly items: Schema
      readonly maxItems?: number
    }
  | ObjectSchema

export interface ObjectSchema {
  readonly type: 'object'
  readonly description?: string
  readonly properties: Readonly<Record<string, Schema>>
  readonly required?: readonly string[]
  /**
   * Fields not named in `properties`: absent, they are refused (closed: a typo never silently
   * does nothing); a schema, each must match it (a map, e.g. resource → level); `true`, any
   * JSON value is taken as is (free-form data another layer checks, e.g. key metadata).
   */
  readonly additionalProperties?: Schema | true
  /** At least this many fields (e.g. 1: an update that changes nothing is refused). */
  readonly minProperties?: number
  /** `null` is accepted too. */
  readonly nullable?: boolean
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * Checks `value` against `schema` and returns it (typed by the caller). Objects are closed:
 * an unknown field is refused, so a typo never silently does nothing. Throws
 * `InvalidRequestError` naming the offending parameter.
 */
export function validate(schema: Schema, value: unknown, param: string): unknown {
  const fail = (why: string): never => {
    throw new InvalidRequestError(`${param || 'The request body'} ${why}`, param || undefined)
  }
  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') return fail(`must be a string, not ${describe(value)}`)
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        return fail(`must be at least ${schema.minLength} characters long`)
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        return fail(`must be at most ${schema.maxLength} characters long`)
      }
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
        return fail(`must match ${schema.pattern}`)
      }
      if (schema.enum !== undefined && !schema.enum.includes(value)) {
        return fail(`must be one of ${schema.enum.map((item) => JSON.stringify(item)).join(', ')}`)
      }
      return value
    }
    case 'integer': {
      if (value === null && schema.nullable === true) return value
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return fail(`must be an integer, not ${describe(value)}`)
      }
      if (schema.minimum !== undefined && value < schema.minimum)
        return fail(`must be at least ${schema.minimum}`)
      if (schema.maximum !== undefined && value > schema.maximum)
        return fail(`must be at most ${schema.maximum}`)
      return value
    }
    case 'boolean':
      return typeof value === 'boolean'
        ? value
        : fail(`must be true or false, not ${describe(value)}`)
    case 'array': {
      if (!Array.isArray(value)) return fail(`must be an array, not ${describe(value)}`)
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        return fail(`must have at most ${schema.maxItems} items`)
      }
      return value.map((item, index) => validate(schema.items, item, `${param}[${index}]`))
    }
    case 'object': {
      if (value === null && schema.nullable === true) return value
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return fail(`must be a JSON object, not ${describe(value)}`)
      }
      const record = value as Record<string, unknown>
      const at = (name: string) => (param ? `${param}.${name}` : name)
      const additional = schema.additionalProperties
      for (const name of Object.keys(record)) {
        if (additional === undefined && !Object.hasOwn(schema.properties, name)) {
          throw new InvalidRequestError(`Unknown field ${JSON.stringify(at(name))}`, at(name))
        }
      }
      for (const name of schema.required ?? []) {
        if (record[name] === undefined) {
          throw new InvalidRequestError(
            `Missing required field ${JSON.stringify(at(name))}`,
            at(name),
          )
        }
      }
      const out: Record<string, unknown> = {}
      for (const [name, child] of Object.entries(schema.properties)) {
        if (record[name] !== undefined) out[name] = validate(child, record[name], at(name))
      }
      if (additional !== undefined) {
        for (const [name, item] of Object.entries(record)) {
          if (Object.hasOwn(schema.properties, name)) continue
          // Defined, not assigned: a "__proto__" field stays a field (for the next layer to
          // refuse by name) and never becomes the copy's prototype.
          Object.defineProperty(out, name, {
            value: additional === true ? item : validate(additional, item, at(name)),
            enumerable: true,
            writable: true,
            configurable: true,
          })
        }
      }
      if (schema.minProperties !== undefined && Object.keys(out).length < schema.minProperties) {
        const names = Object.keys(schema.properties)
        return fail(
          names.length > 0 && additional === undefined
            ? `must give at least ${schema.minProperties} of ${names.join(', ')}`
            : `must have at least ${schema.minProperties} field${schema.minProperties === 1 ? '' : 's'}`,
        )
      }
      return out
    }
  }
}

/** The schema as OpenAPI 3.1 (JSON Schema 2020-12) writes it. */
export function toJsonSchema(schema: Schema): Record<string, unknown> {
  switch (schema.type) {
    case 'integer': {
      const { nullable, ...rest } = schema
      return nullable === true ? { ...rest, type: ['integer', 'null'] } : { ...rest }
    }
    case 'array':
      return { ...schema, items: toJsonSchema(schema.items) }
    case 'object': {
      const { nullable, additionalProperties, ...rest } = schema
      return {
        ...rest,
        ...(nullable === true ? { type: ['object', 'null'] } : {}),
        properties: Object.fromEntries(
          Object.entries(schema.properties).map(([name, child]) => [name, toJsonSchema(child)]),
        ),
        additionalProperties:
          additionalProperties === undefined
            ? false
            : additionalProperties === true
              ? true
              : toJsonSchema(additionalProperties),
      }
    }
    default:
      return { ...schema }
  }
}
