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
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return fail(`must be a JSON object, not ${describe(value)}`)
      }
      const record = value as Record<string, unknown>
      for (const name of Object.keys(record)) {
        if (!Object.hasOwn(schema.properties, name)) {
          const where = param ? `${param}.${name}` : name
          throw new InvalidRequestError(`Unknown field ${JSON.stringify(where)}`, where)
        }
      }
      for (const name of schema.required ?? []) {
        if (record[name] === undefined) {
          const where = param ? `${param}.${name}` : name
          throw new InvalidRequestError(`Missing required field ${JSON.stringify(where)}`, where)
        }
      }
      const out: Record<string, unknown> = {}
      for (const [name, child] of Object.entries(schema.properties)) {
        if (record[name] !== undefined)
          out[name] = validate(child, record[name], param ? `${param}.${name}` : name)
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
    case 'object':
      return {
        ...schema,
        properties: Object.fromEntries(
          Object.entries(schema.properties).map(([name, child]) => [name, toJsonSchema(child)]),
        ),
        additionalProperties: false,
      }
    default:
      return { ...schema }
  }
}
