/**
 * Subject names (contracts spec §6): the one place every NATS subject, stream and bucket name of
 * Trellis is spelled out, plus event subject templates (parsing, catalog validation, runtime filling).
 *
 * Subjects are dot-separated tokens. Contract surfaces live under `rpc.<v>.`, `operations.<v>.`,
 * `events.<v>.` and `feeds.<v>.`; event subjects may carry `{/json/pointer}` template tokens that are
 * filled from the event payload when publishing and become `*` wildcards for permissions.
 */
import { BaseError, err, ok, type Result } from "@trellis/result";
import type { EventDescriptor, JsonSchema } from "./manifest.js";
import { type ContractProblem, pointer } from "./problems.js";

// ---------------------------------------------------------------------------------------------
// Errors

/** Filling a subject template failed: malformed template, missing data or a value that is not a token. */
export class SubjectTemplateError extends BaseError {}

/** A value given to a subject or bucket name builder cannot be used as a subject token. */
export class SubjectNameError extends BaseError {}

// ---------------------------------------------------------------------------------------------
// Contract surface subjects

/** Contract surface families that own subjects. */
export type SurfaceSubjectKind = "rpc" | "operations" | "events" | "feeds";

/** Default subject of an RPC method: `rpc.<version>.<name>`. */
export function defaultRpcSubject(version: string, name: string): string {
  return `rpc.${version}.${name}`;
}

/** Default subject of an operation: `operations.<version>.<name>`. */
export function defaultOperationSubject(version: string, name: string): string {
  return `operations.${version}.${name}`;
}

/** Default subject of a feed: `feeds.<version>.<name>`. */
export function defaultFeedSubject(version: string, name: string): string {
  return `feeds.${version}.${name}`;
}

/** Default subject of an event: `events.<version>.<name>` followed by one `.{<pointer>}` token per param, in order. */
export function defaultEventSubject(version: string, name: string, params: readonly string[] = []): string {
  return [`events.${version}.${name}`, ...params.map((param) => `{${param}}`)].join(".");
}

/** The control subject of an operation (get/wait/watch/cancel/signals): `<subject>.control`. */
export function operationControlSubject(subject: string): string {
  return `${subject}.control`;
}

/** Replaces every `{...}` template token with the `*` wildcard; used for permissions. */
export function templateToWildcard(subject: string): string {
  return subject.replace(/\{[^}]+\}/g, "*");
}

/** The key two surfaces collide on: their wildcard form (two templates differing only in pointers collide). */
export function subjectCollisionKey(subject: string): string {
  return templateToWildcard(subject);
}

/** The namespace token of a surface subject (token 2, e.g. `Orders` in `rpc.v1.Orders.Get`), if any. */
export function subjectNamespace(subject: string): string | undefined {
  return templateToWildcard(subject).split(".")[2];
}

/**
 * Catalog check of a surface subject (§6). Returns the problem message, or `undefined` when valid:
 * - no `*` or `>` (templates are allowed, only the literal wildcard characters are refused);
 * - no empty tokens;
 * - rpc/operations/events must start with `<kind>.<version>.` ("version mismatch" otherwise); feeds are not prefix-checked;
 * - at least 3 tokens, the second one starting with `v`.
 */
export function validateSurfaceSubject(
  kind: SurfaceSubjectKind,
  subject: string,
  version: string,
): string | undefined {
  if (/[*>]/.test(subject)) return `Subject '${subject}' must not contain wildcards ('*' or '>')`;
  const tokens = templateToWildcard(subject).split(".");
  if (tokens.some((token) => token === "")) return `Subject '${subject}' must not contain empty tokens`;
  if (kind !== "feeds") {
    const prefix = `${kind}.${version}.`;
    if (!subject.startsWith(prefix))
      return `Subject '${subject}' must start with '${prefix}' (version mismatch)`;
  }
  if (tokens.length < 3) return `Subject '${subject}' must have at least 3 tokens`;
  if (!tokens[1]?.startsWith("v")) return `Subject '${subject}' must have a version as its second token`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Baseline Trellis subjects

/** Subjects of the Trellis-owned surfaces every participant relies on. */
export const TRELLIS_SUBJECTS = {
  authSessionsMe: "rpc.v1.Auth.Sessions.Me",
  authSessionsLogout: "rpc.v1.Auth.Sessions.Logout",
  authRequestsValidate: "rpc.v1.Auth.Requests.Validate",
  stateGet: "rpc.v1.State.Get",
  statePut: "rpc.v1.State.Put",
  stateDelete: "rpc.v1.State.Delete",
  stateList: "rpc.v1.State.List",
  healthHeartbeat: "events.v1.Health.Heartbeat",
  trellisCatalog: "rpc.v1.Trellis.Catalog",
  trellisContractGet: "rpc.v1.Trellis.Contract.Get",
  trellisBindingsGet: "rpc.v1.Trellis.Bindings.Get",
  trellisSurfaceStatus: "rpc.v1.Trellis.Surface.Status",
} as const;

/** `rpc.v1.Auth.Requests.Validate`: services publish here to check a caller's session. */
export const AUTH_REQUESTS_VALIDATE_SUBJECT = TRELLIS_SUBJECTS.authRequestsValidate;

/** The JetStream stream holding contract events. */
export const EVENTS_STREAM = "trellis";

/** Subjects captured by {@link EVENTS_STREAM}. */
export const EVENTS_STREAM_SUBJECTS = "events.>";

// ---------------------------------------------------------------------------------------------
// Session-scoped names

const SESSION_PREFIX_LENGTH = 16;

/**
 * The first 16 characters of a session key, which scope inboxes, transfers and operation buckets.
 * Throws {@link SubjectNameError} when the key is shorter or holds characters outside base64url.
 */
export function sessionKeyPrefix(sessionKey: string): string {
  const prefix = sessionKey.slice(0, SESSION_PREFIX_LENGTH);
  if (prefix.length < SESSION_PREFIX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(prefix)) {
    throw new SubjectNameError("Session key must start with 16 base64url characters", {
      context: { sessionKey },
    });
  }
  return prefix;
}

/** The inbox prefix a client must use: `_INBOX.<sessionKey[0:16]>`. */
export function clientInboxPrefix(sessionKey: string): string {
  return `_INBOX.${sessionKeyPrefix(sessionKey)}`;
}

/** The subscription covering every inbox of a session: `_INBOX.<sessionKey[0:16]>.>`. */
export function clientInboxSubscription(sessionKey: string): string {
  return `${clientInboxPrefix(sessionKey)}.>`;
}

/** Upload transfers a caller may publish to, whatever the serving session: `transfer.v1.upload.*.*`. */
export const TRANSFER_UPLOAD_CALLER_SUBJECT = "transfer.v1.upload.*.*";

/** Download transfers a caller may request, whatever the serving session: `transfer.v1.download.*.*`. */
export const TRANSFER_DOWNLOAD_CALLER_SUBJECT = "transfer.v1.download.*.*";

/** One upload transfer served by a session: `transfer.v1.upload.<sessionKey[0:16]>.<transferId>`. */
export function transferUploadSubject(sessionKey: string, transferId: string): string {
  return `transfer.v1.upload.${sessionKeyPrefix(sessionKey)}.${requireToken("transferId", transferId)}`;
}

/** One download transfer served by a session: `transfer.v1.download.<sessionKey[0:16]>.<transferId>`. */
export function transferDownloadSubject(sessionKey: string, transferId: string): string {
  return `transfer.v1.download.${sessionKeyPrefix(sessionKey)}.${requireToken("transferId", transferId)}`;
}

/** Every upload transfer a session serves: `transfer.v1.upload.<sessionKey[0:16]>.*`. */
export function transferUploadSubscription(sessionKey: string): string {
  return `transfer.v1.upload.${sessionKeyPrefix(sessionKey)}.*`;
}

/** Every download transfer a session serves: `transfer.v1.download.<sessionKey[0:16]>.*`. */
export function transferDownloadSubscription(sessionKey: string): string {
  return `transfer.v1.download.${sessionKeyPrefix(sessionKey)}.*`;
}

/** The KV bucket holding a service session's operation records: `trellis_operations_<sessionKey[0:16]>`. */
export function operationStoreBucket(sessionKey: string): string {
  return `trellis_operations_${sessionKeyPrefix(sessionKey)}`;
}

// ---------------------------------------------------------------------------------------------
// Jobs (raw subjects, not contract events)

/** Stream of every job lifecycle event; the source of truth. */
export const JOBS_STREAM = "JOBS";
/** Work-queue stream fed from {@link JOBS_STREAM} by `created`/`retried` events. */
export const JOBS_WORK_STREAM = "JOBS_WORK";
/** Stream capturing max-deliveries advisories of {@link JOBS_WORK_STREAM}. */
export const JOBS_ADVISORIES_STREAM = "JOBS_ADVISORIES";
/** Subjects captured by {@link JOBS_STREAM}. */
export const JOBS_STREAM_SUBJECTS = "trellis.jobs.>";
/** Subjects captured by {@link JOBS_WORK_STREAM}. */
export const JOBS_WORK_STREAM_SUBJECTS = "trellis.work.>";
/** Subjects captured by {@link JOBS_ADVISORIES_STREAM}. */
export const JOBS_ADVISORIES_STREAM_SUBJECTS = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JOBS_WORK.>";
/** Durable consumers owned by the Jobs admin runtime, by stream. */
export const JOBS_ADMIN_CONSUMERS = {
  projector: { stream: JOBS_STREAM, consumer: "jobs-projector" },
  workerPresenceProjector: { stream: JOBS_STREAM, consumer: "jobs-worker-presence-projector" },
  advisories: { stream: JOBS_ADVISORIES_STREAM, consumer: "jobs-advisories" },
} as const;

/** Lifecycle event types of a job, the last token of its event subjects. */
export const JOB_EVENT_TYPES = [
  "created",
  "started",
  "retry",
  "progress",
  "logged",
  "completed",
  "failed",
  "cancelled",
  "expired",
  "retried",
  "dead",
  "dismissed",
] as const;

/** One job lifecycle event type. */
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** Prefix of a queue's lifecycle events: `trellis.jobs.<service>.<jobType>`. */
export function jobEventsPrefix(service: string, jobType: string): string {
  return `trellis.jobs.${requireToken("service", service)}.${requireToken("jobType", jobType)}`;
}

/** One job lifecycle event: `trellis.jobs.<service>.<jobType>.<jobId>.<event>`. */
export function jobEventSubject(
  service: string,
  jobType: string,
  jobId: string,
  event: JobEventType,
): string {
  return `${jobEventsPrefix(service, jobType)}.${requireToken("jobId", jobId)}.${event}`;
}

/** Work items of one queue: `trellis.work.<service>.<jobType>`. */
export function jobWorkSubject(service: string, jobType: string): string {
  return `trellis.work.${requireToken("service", service)}.${requireToken("jobType", jobType)}`;
}

/** A worker's heartbeat: `trellis.jobs.workers.<service>.<jobType>.<instanceId>.heartbeat`. */
export function jobWorkerHeartbeatSubject(service: string, jobType: string, instanceId: string): string {
  const parts = [requireToken("service", service), requireToken("jobType", jobType)];
  return `trellis.jobs.workers.${parts.join(".")}.${requireToken("instanceId", instanceId)}.heartbeat`;
}

/** Durable consumer name of one queue on {@link JOBS_WORK_STREAM}: `<service>-<jobType>`. */
export function jobQueueConsumerName(service: string, jobType: string): string {
  return `${requireToken("service", service)}-${requireToken("jobType", jobType)}`;
}

/** Refuses values that would not be exactly one literal subject token. */
function requireToken(label: string, value: string): string {
  if (value === "" || /[\s.*>]/.test(value)) {
    throw new SubjectNameError(`${label} '${value}' is not a valid subject token`, {
      context: { [label]: value },
    });
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Templates

/** One thing wrong with a subject template. */
export interface SubjectTemplateIssue {
  /** `malformed-token` (nested or unbalanced braces, or a token not spanning a whole subject token) or `token-not-pointer`. */
  rule: "malformed-token" | "token-not-pointer";
  /** The offending token text (without braces), for `token-not-pointer`. */
  token?: string;
  /** Message without a subject owner, e.g. "subject has malformed template token". */
  message: string;
}

/** True when `value` is a JSON Pointer with at least one segment: `/`-prefixed, `~` only as `~0` or `~1`. */
export function isJsonPointer(value: string): boolean {
  return /^(\/([^~]|~[01])*)+$/.test(value);
}

/** Splits a JSON Pointer into decoded segments (`~1` → `/`, `~0` → `~`); `""` gives no segments. */
export function decodeJsonPointer(value: string): string[] {
  if (value === "") return [];
  return value
    .slice(1)
    .split("/")
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

interface TemplateToken {
  start: number;
  end: number;
  pointer: string;
}

function scanTemplate(subject: string): Result<TemplateToken[], SubjectTemplateIssue[]> {
  const malformed: SubjectTemplateIssue = {
    rule: "malformed-token",
    message: "subject has malformed template token",
  };
  const tokens: TemplateToken[] = [];
  let open = -1;
  for (let i = 0; i < subject.length; i++) {
    const char = subject[i];
    if (char === "{") {
      if (open !== -1) return err([malformed]);
      open = i;
    } else if (char === "}") {
      if (open === -1) return err([malformed]);
      tokens.push({ start: open, end: i + 1, pointer: subject.slice(open + 1, i) });
      open = -1;
    }
  }
  if (open !== -1) return err([malformed]);
  // A template token must be a whole subject token, otherwise its wildcard form is not a NATS wildcard.
  for (const token of tokens) {
    const before = token.start === 0 ? "." : subject[token.start - 1];
    const after = token.end === subject.length ? "." : subject[token.end];
    if (before !== "." || after !== ".") return err([malformed]);
  }
  const issues: SubjectTemplateIssue[] = tokens
    .filter((token) => !isJsonPointer(token.pointer))
    .map((token) => ({
      rule: "token-not-pointer",
      token: token.pointer,
      message: `subject template token '${token.pointer}' must be a JSON Pointer`,
    }));
  return issues.length > 0 ? err(issues) : ok(tokens);
}

/**
 * Extracts the ordered JSON Pointers of the `{...}` tokens of `subject`. Fails with
 * "subject has malformed template token" (nested or unbalanced braces, or a token that does not span a
 * whole subject token) or "subject template token 'T' must be a JSON Pointer".
 */
export function parseSubjectTemplate(subject: string): Result<string[], SubjectTemplateIssue[]> {
  return scanTemplate(subject).map((tokens) => tokens.map((token) => token.pointer));
}

/** Options of {@link fillSubjectTemplate}. */
export interface FillSubjectTemplateOptions {
  /** When listening or mounting: missing/null values and the literal value `*` become `*` wildcards. */
  allowWildcards?: boolean;
}

/**
 * Escapes one runtime value for use as a subject token: NUL, whitespace, `.`, `*`, `>` and `~` become
 * `~<uppercase hex code point>~`; an empty token or one starting with `$` gets a `_` prefix.
 */
export function escapeSubjectToken(value: string): string {
  const escaped = value.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL must be escaped, as the spec requires.
    /[\u0000\s.*>~]/gu,
    (char) => `~${char.codePointAt(0)?.toString(16).toUpperCase()}~`,
  );
  return escaped === "" || escaped.startsWith("$") ? `_${escaped}` : escaped;
}

function readPointer(data: unknown, segments: readonly string[]): unknown {
  let current = data;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (typeof current === "object" && current !== null && Object.hasOwn(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/**
 * Fills the `{/pointer}` tokens of `subject` from `data`. Strings and numbers are stringified and
 * escaped with {@link escapeSubjectToken}. Throws {@link SubjectTemplateError} when the template is
 * malformed, when a value is missing or null ("Missing required data for subject template", unless
 * wildcards are allowed, then it becomes `*`) or when a value is neither a string nor a number.
 */
export function fillSubjectTemplate(
  subject: string,
  data: unknown,
  options: FillSubjectTemplateOptions = {},
): string {
  const scanned = scanTemplate(subject);
  if (scanned.isErr()) {
    const issue = scanned.error[0];
    throw new SubjectTemplateError(issue?.message ?? "subject has malformed template token", {
      context: { subject },
    });
  }
  let out = "";
  let cursor = 0;
  for (const token of scanned.value) {
    out += subject.slice(cursor, token.start);
    cursor = token.end;
    const value = readPointer(data, decodeJsonPointer(token.pointer));
    if (value === undefined || value === null) {
      if (options.allowWildcards) {
        out += "*";
        continue;
      }
      throw new SubjectTemplateError(`Missing required data for subject template: ${token.pointer}`, {
        context: { subject, pointer: token.pointer },
      });
    }
    if (options.allowWildcards && value === "*") {
      out += "*";
    } else if (typeof value === "string" || typeof value === "number") {
      out += escapeSubjectToken(String(value));
    } else {
      throw new SubjectTemplateError(
        `Subject template value at ${token.pointer} must be a string or number, got ${typeof value}`,
        { context: { subject, pointer: token.pointer } },
      );
    }
  }
  return out + subject.slice(cursor);
}

// ---------------------------------------------------------------------------------------------
// Tokenable schema pointers

/** How a JSON Pointer resolves in a JSON Schema. */
export interface SchemaPointerResolution {
  /** The path is declared (through `properties`, `items`/`prefixItems` and composition) by the schema. */
  found: boolean;
  /**
   * Every value the schema allows there is a string or number: a `type` of string/number/integer (or
   * an array of only those), a string/number `const`, or a non-empty `enum` of strings/numbers.
   */
  tokenable: boolean;
}

type Resolution = "missing" | "tokenable" | "not-tokenable" | "unconstrained";
type SchemaObject = Record<string, unknown>;

const TOKEN_TYPES = new Set(["string", "number", "integer"]);

function isSchemaObject(value: unknown): value is SchemaObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isTokenValue(value: unknown): boolean {
  return typeof value === "string" || typeof value === "number";
}

function schemaList(value: unknown): JsonSchema[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((item): item is JsonSchema => typeof item === "boolean" || isSchemaObject(item));
}

/** Conjunction: anything not tokenable wins, then anything tokenable; unconstrained parts add nothing. */
function intersect(parts: readonly Resolution[]): Resolution {
  if (parts.includes("missing")) return "missing";
  if (parts.includes("not-tokenable")) return "not-tokenable";
  return parts.includes("tokenable") ? "tokenable" : "unconstrained";
}

/** Disjunction: every alternative must be tokenable; one unconstrained alternative leaves the value unconstrained. */
function unite(parts: readonly Resolution[]): Resolution {
  if (parts.includes("missing")) return "missing";
  if (parts.includes("not-tokenable")) return "not-tokenable";
  return parts.includes("unconstrained") ? "unconstrained" : "tokenable";
}

function ownKeywords(schema: SchemaObject): Resolution[] {
  const parts: Resolution[] = [];
  if ("type" in schema) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = types.length > 0 && types.every((type) => typeof type === "string" && TOKEN_TYPES.has(type));
    parts.push(ok ? "tokenable" : "not-tokenable");
  }
  if ("const" in schema) parts.push(isTokenValue(schema.const) ? "tokenable" : "not-tokenable");
  if ("enum" in schema) {
    const values = schema.enum;
    const ok = Array.isArray(values) && values.length > 0 && values.every(isTokenValue);
    parts.push(ok ? "tokenable" : "not-tokenable");
  }
  return parts;
}

/** Classifies the values a schema allows at the end of a pointer. */
function classifyLeaf(schema: JsonSchema): Resolution {
  if (typeof schema === "boolean") return schema ? "unconstrained" : "not-tokenable";
  const parts = ownKeywords(schema);
  for (const keyword of ["anyOf", "oneOf"] as const) {
    const variants = schemaList(schema[keyword]);
    if (variants) parts.push(unite(variants.map(classifyLeaf)));
  }
  const branches = schemaList(schema.allOf);
  if (branches) parts.push(...branches.map(classifyLeaf));
  return intersect(parts);
}

/** The sub-schema one segment down, through `properties` or array items, without composition. */
function directChild(schema: SchemaObject, segment: string): JsonSchema | undefined {
  const properties = schema.properties;
  if (isSchemaObject(properties) && Object.hasOwn(properties, segment)) {
    const child = properties[segment];
    if (typeof child === "boolean" || isSchemaObject(child)) return child;
  }
  if (/^(0|[1-9][0-9]*)$/.test(segment)) {
    const index = Number(segment);
    const prefixItems = schemaList(schema.prefixItems);
    if (prefixItems && index < prefixItems.length) return prefixItems[index];
    const items = schema.items;
    if (typeof items === "boolean" || isSchemaObject(items)) return items;
    const tupleItems = schemaList(items);
    if (tupleItems && index < tupleItems.length) return tupleItems[index];
  }
  return undefined;
}

function resolveSegments(schema: JsonSchema, segments: readonly string[]): Resolution {
  if (segments.length === 0) return classifyLeaf(schema);
  // `true` allows anything but declares nothing: the path is not part of the schema.
  if (typeof schema === "boolean") return "missing";
  const [segment, ...rest] = segments as [string, ...string[]];
  const parts: Resolution[] = [];
  const child = directChild(schema, segment);
  if (child !== undefined) parts.push(resolveSegments(child, rest));
  // allOf: branches that do not declare the path do not constrain it.
  for (const branch of schemaList(schema.allOf) ?? []) {
    const resolved = resolveSegments(branch, segments);
    if (resolved !== "missing") parts.push(resolved);
  }
  const declaredHere = parts.length > 0;
  // anyOf/oneOf: every variant must declare the path, unless the schema itself (or an allOf branch)
  // does, in which case a silent variant only adds other constraints. No variant declaring it adds nothing.
  for (const keyword of ["anyOf", "oneOf"] as const) {
    const variants = schemaList(schema[keyword]);
    if (!variants) continue;
    const resolved = variants.map((variant) => resolveSegments(variant, segments));
    if (resolved.every((result) => result === "missing")) continue;
    if (resolved.includes("missing") && !declaredHere) return "missing";
    parts.push(unite(resolved.map((result) => (result === "missing" ? "unconstrained" : result))));
  }
  return parts.length === 0 ? "missing" : intersect(parts);
}

/**
 * Resolves a JSON Pointer (`""` for the root) in a JSON Schema, following `properties`,
 * `items`/`prefixItems` for numeric segments, `allOf` (through any branch declaring the path; every
 * constraining branch counts) and `anyOf`/`oneOf` (every variant must declare the path and be tokenable).
 * Boolean schemas, `additionalProperties` and undeclared properties do not declare a path.
 */
export function resolveSchemaPointer(schema: JsonSchema, jsonPointer: string): SchemaPointerResolution {
  if (jsonPointer !== "" && !isJsonPointer(jsonPointer)) return { found: false, tokenable: false };
  const resolved = resolveSegments(schema, decodeJsonPointer(jsonPointer));
  return { found: resolved !== "missing", tokenable: resolved === "tokenable" };
}

// ---------------------------------------------------------------------------------------------
// Event subject validation

/**
 * Catalog validation of an event's subject template and params (§6 "Template rules", §14):
 * - template tokens are well formed JSON Pointers (`event-template`);
 * - each param is a JSON Pointer (`event-param`);
 * - params equal the template pointers in order; a template without params fails (`event-param`);
 * - each param resolves to a tokenable schema in the event payload schema (`event-param`).
 * The subject prefix is checked by {@link validateSurfaceSubject}; an unknown payload schema is left to
 * the schema-reference check.
 */
export function validateEventSubject(
  eventName: string,
  event: EventDescriptor,
  schemas: Readonly<Record<string, JsonSchema>>,
): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const subjectPath = pointer("events", eventName, "subject");
  const paramsPath = pointer("events", eventName, "params");
  const parsed = parseSubjectTemplate(event.subject);
  if (parsed.isErr()) {
    for (const issue of parsed.error) {
      problems.push({
        path: subjectPath,
        rule: "event-template",
        message: `event '${eventName}' ${issue.message}`,
      });
    }
  }
  const params = event.params ?? [];
  params.forEach((param, index) => {
    if (!isJsonPointer(param)) {
      problems.push({
        path: pointer("events", eventName, "params", index),
        rule: "event-param",
        message: `event '${eventName}' param '${param}' must be a JSON Pointer`,
      });
    }
  });
  if (parsed.isErr()) return problems;
  const pointers = parsed.value;
  if (pointers.length !== params.length || pointers.some((value, index) => value !== params[index])) {
    problems.push({
      path: paramsPath,
      rule: "event-param",
      message: `event '${eventName}' params must list subject template pointers in order`,
    });
  }
  const payloadSchema = Object.hasOwn(schemas, event.event.schema) ? schemas[event.event.schema] : undefined;
  if (payloadSchema === undefined) return problems;
  params.forEach((param, index) => {
    if (!isJsonPointer(param)) return;
    const resolved = resolveSchemaPointer(payloadSchema, param);
    if (resolved.tokenable) return;
    const reason = resolved.found ? "must resolve to string/number schema" : "path not found in schema";
    problems.push({
      path: pointer("events", eventName, "params", index),
      rule: "event-param",
      message: `Invalid event subject param pointer '${param}' for event '${eventName}' (${reason})`,
    });
  });
  return problems;
}
