import { Type, type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { FST_WEBCHANNEL_INVALID_SCHEMA } from '../errors.js'

/** How an event declares its payload: a TypeBox schema per argument, and one for the response. */
export interface EventSchema {
  /** One schema per argument, in order. Extra arguments are refused. */
  args?: readonly TSchema[]
  /** The response a request handler returns (checked before it is sent). */
  response?: TSchema
  /** This event's handler timeout in ms, overriding the `handlerTimeout` option (0: none). */
  timeout?: number
}

/** The handler's argument tuple, inferred from `args`. */
export type ArgsOf<S> = S extends { args: infer A extends readonly TSchema[] }
  ? { -readonly [K in keyof A]: A[K] extends TSchema ? Static<A[K]> : never }
  : unknown[]

/** The handler's return type, inferred from `response`. */
export type ResultOf<S> = S extends { response: infer R extends TSchema } ? Static<R> : unknown

export interface ValidationFailure {
  /** JSON pointer into the argument list, e.g. "/0/text". */
  path: string
  message: string
}

export interface CompiledSchema {
  /** Per-event handler timeout; null: the plugin's default. */
  timeout: number | null
  /** Returns null when the value is valid. */
  checkArgs: ((args: unknown[]) => ValidationFailure | null) | null
  checkResponse: ((value: unknown) => ValidationFailure | null) | null
}

type Checker = { Check (v: unknown): boolean, Errors (v: unknown): Iterable<{ instancePath: string, message: string }> }

function checker (schema: TSchema, event: string, what: string): (v: unknown) => ValidationFailure | null {
  let c: Checker
  try {
    c = Compile(schema) as unknown as Checker
  } catch (err) {
    throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, `${what}: ${(err as Error).message}`)
  }
  return (v) => {
    if (c.Check(v)) return null
    const first = c.Errors(v)[Symbol.iterator]().next()
    if (first.done === true) return { path: '/', message: 'is invalid' }
    const e = first.value
    return { path: e.instancePath === '' ? '/' : e.instancePath, message: e.message }
  }
}

/** Compile once, at registration. */
export function compileSchema (event: string, schema: EventSchema | undefined): CompiledSchema {
  if (schema === undefined) return { checkArgs: null, checkResponse: null, timeout: null }
  if (typeof schema !== 'object' || schema === null) throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, 'expected { args?, response? }')
  let checkArgs: CompiledSchema['checkArgs'] = null
  if (schema.args !== undefined) {
    if (!Array.isArray(schema.args)) throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, 'args must be an array of schemas')
    for (const s of schema.args) {
      if (typeof s !== 'object' || s === null) throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, 'args must be an array of schemas')
    }
    const tuple = Type.Tuple([...schema.args])
    checkArgs = checker(tuple, event, 'args')
  }
  let checkResponse: CompiledSchema['checkResponse'] = null
  if (schema.response !== undefined) {
    if (typeof schema.response !== 'object' || schema.response === null) throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, 'response must be a schema')
    checkResponse = checker(schema.response, event, 'response')
  }
  const timeout = schema.timeout ?? null
  if (timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))) {
    throw new FST_WEBCHANNEL_INVALID_SCHEMA(event, 'timeout must be a number >= 0')
  }
  return { checkArgs, checkResponse, timeout }
}
