/**
 * Declared errors: `TrellisError` is the base of every error a contract declares, and `defineError`
 * creates one with a typed payload (contracts spec §10).
 */
import { BaseError } from "@trellis/result";
import { z } from "zod";
import type { ContractManifest } from "./manifest.js";
import { ContractDefinitionError } from "./problems.js";

/** Errors every contract may list without declaring them. */
export const BUILTIN_ERROR_TYPES = [
  "UnexpectedError",
  "TransportError",
  "AuthError",
  "ValidationError",
  "KVError",
  "StoreError",
  "TransferError",
] as const;

/** Name of a builtin error type. */
export type BuiltinErrorType = (typeof BUILTIN_ERROR_TYPES)[number];

/** The wire form of an error: `{ id, type, message, context?, traceId?, ...fields }`. */
export interface SerializedTrellisError {
  /** Unique id of this occurrence. */
  id: string;
  /** Stable error type name. */
  type: string;
  /** Human-readable message. */
  message: string;
  /** Free-form diagnostic context. */
  context?: Record<string, unknown>;
  /** W3C trace id of the request that failed. */
  traceId?: string;
  /** Declared extra fields. */
  [field: string]: unknown;
}

/** Base class of declared (contract) errors; `data` holds the declared fields. */
export class TrellisError<TData extends Record<string, unknown> = Record<string, unknown>> extends BaseError {
  /** Unique id of this occurrence. */
  readonly id: string;
  /** The declared fields of this error. */
  readonly data: TData;
  /** W3C trace id, when known. */
  traceId?: string;

  constructor(
    message: string,
    data: TData,
    options?: { id?: string; cause?: unknown; context?: Record<string, unknown> },
  ) {
    super(message, options);
    this.data = data;
    this.id = options?.id ?? globalThis.crypto.randomUUID();
  }

  /** The wire form of this error. */
  override toSerializable(): SerializedTrellisError {
    const out: SerializedTrellisError = { ...this.data, id: this.id, type: this.name, message: this.message };
    if (this.context) out.context = this.context;
    if (this.traceId) out.traceId = this.traceId;
    return out;
  }
}

const RESERVED_ERROR_FIELDS = new Set(["id", "type", "message", "context", "traceId", "cause"]);

/** Options of {@link defineError}. */
export interface DefineErrorOptions<TType extends string, TFields extends Record<string, z.ZodType>> {
  /** Wire type name, e.g. `NotFoundError`. */
  type: TType;
  /** Extra payload fields (zod schemas). */
  fields: TFields;
  /** Fixed message, or a function of the declared fields. */
  message: string | ((data: z.output<z.ZodObject<TFields>>) => string);
}

/** What the runtime needs of a declared error class: its type, wire schema and decoder. */
export interface ErrorClassLike<TType extends string = string> {
  /** Wire type name. */
  readonly type: TType;
  /** zod schema of the wire payload. */
  readonly schema: z.ZodType;
  /** Rebuilds the error from its wire form, validating it first. */
  fromSerializable(payload: unknown): TrellisError;
}

/** A class created by {@link defineError}. */
export interface DefinedErrorClass<
  TType extends string = string,
  TData extends Record<string, unknown> = Record<string, unknown>,
> {
  /** Creates the error from its declared fields. */
  new (
    data: TData,
    options?: { id?: string; cause?: unknown; context?: Record<string, unknown> },
  ): TrellisError<TData>;
  /** Wire type name. */
  readonly type: TType;
  /** zod schema of the wire payload. */
  readonly schema: z.ZodType;
  /** Rebuilds the error from its wire form, validating it first. */
  fromSerializable(payload: unknown): TrellisError<TData>;
}

/** Creates a declared error class with a typed payload. */
export function defineError<TType extends string, TFields extends Record<string, z.ZodType>>(
  options: DefineErrorOptions<TType, TFields>,
): DefinedErrorClass<TType, z.output<z.ZodObject<TFields>>> {
  for (const field of Object.keys(options.fields)) {
    if (RESERVED_ERROR_FIELDS.has(field)) {
      throw new ContractDefinitionError(`Defined error field '${field}' is reserved`);
    }
  }
  type Data = z.output<z.ZodObject<TFields>>;
  const fieldsSchema = z.object(options.fields);
  const envelopeSchema = z.object({
    id: z.string(),
    type: z.literal(options.type),
    message: z.string(),
    context: z.record(z.string(), z.unknown()).optional(),
    traceId: z.string().optional(),
  });
  const wireSchema = envelopeSchema.extend(options.fields);
  const render = (data: Data) =>
    typeof options.message === "string" ? options.message : options.message(data);
  const errorType = options.type;

  class DefinedError extends TrellisError<Data> {
    static readonly type = errorType;
    static readonly schema = wireSchema;
    override readonly name: string = errorType;

    constructor(
      data: Data,
      init?: { id?: string; cause?: unknown; context?: Record<string, unknown>; message?: string },
    ) {
      super(init?.message ?? render(data), data, init);
    }

    static fromSerializable(payload: unknown): DefinedError {
      const wire = envelopeSchema.parse(payload);
      const data = fieldsSchema.parse(payload) as Data;
      const error = new DefinedError(data, { id: wire.id, context: wire.context, message: wire.message });
      if (wire.traceId) error.traceId = wire.traceId;
      return error;
    }
  }
  Object.defineProperty(DefinedError, "name", { value: errorType });
  return DefinedError;
}

/** True when `value` is a class made by {@link defineError}. */
export function isDefinedErrorClass(value: unknown): value is ErrorClassLike {
  return (
    typeof value === "function" &&
    typeof (value as { type?: unknown }).type === "string" &&
    (value as { schema?: unknown }).schema instanceof z.ZodType
  );
}

const ENVELOPE_FIELDS = new Set(["id", "type", "message", "context", "traceId"]);

/**
 * Builds the class of error `type` declared by a manifest (a generated SDK has no `defineError`
 * call). `fromSerializable` validates the payload against the declared JSON Schema; a new instance
 * takes its message from the options, or the type name.
 */
export function errorClassFromManifest<TType extends string, TData extends Record<string, unknown>>(
  manifest: ContractManifest,
  type: TType,
): DefinedErrorClass<TType, TData> {
  const declaration = Object.values(manifest.errors ?? {}).find((error) => error.type === type);
  if (!declaration) {
    throw new ContractDefinitionError(`Contract '${manifest.id}' declares no error of type '${type}'`);
  }
  const json = declaration.schema && manifest.schemas?.[declaration.schema.schema];
  const wireSchema: z.ZodType =
    json === undefined
      ? z.looseObject({ id: z.string(), type: z.literal(type), message: z.string() })
      : z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]);

  class ManifestError extends TrellisError<TData> {
    static readonly type = type;
    static readonly schema = wireSchema;
    override readonly name: string = type;

    constructor(
      data: TData,
      init?: { id?: string; cause?: unknown; context?: Record<string, unknown>; message?: string },
    ) {
      super(init?.message ?? type, data, init);
    }

    static fromSerializable(payload: unknown): ManifestError {
      const wire = wireSchema.parse(payload) as SerializedTrellisError;
      const data = Object.fromEntries(
        Object.entries(wire).filter(([field]) => !ENVELOPE_FIELDS.has(field)),
      ) as TData;
      const error = new ManifestError(data, {
        id: wire.id,
        message: wire.message,
        ...(wire.context && { context: wire.context }),
      });
      if (wire.traceId) error.traceId = wire.traceId;
      return error;
    }
  }
  Object.defineProperty(ManifestError, "name", { value: type });
  return ManifestError;
}
