/**
 * Compatibility diff between two manifests of one lineage (contracts spec §9, §15.5).
 *
 * Both manifests are normalized first. Manifests with the same digest are `identical` (docs,
 * displayName, description, exports and unreferenced schemas never count). Otherwise every
 * difference is reported as an `additive` or a `breaking` change:
 *
 * - **Surfaces** (rpc, operations, operation signals, events, feeds, job queues, state stores and
 *   their accepted versions, kv/store resources, capabilities): adding one is additive; removing
 *   or renaming one is breaking. Event consumer groups may be added; removing or changing one is
 *   breaking because the durable consumer is shared by every active digest of the lineage.
 * - **Wire identity**: a change of `kind`, `version`, `subject`, event `params` or `transfer` is
 *   breaking, and so is any change of the capabilities a surface requires (call, observe, cancel,
 *   control, publish, subscribe; an omitted `observe` means `call`). Operation `cancel` true→false
 *   and rpc `internal` false→true are breaking; the opposite directions are additive. Removing an
 *   operation's `progress` or a job's `result` is breaking; adding one is additive.
 * - **Declared errors**: adding or removing an error type in an rpc's error list is additive,
 *   because the error set is open (§15.8): a peer that meets an error type it does not know gets a
 *   `RemoteError` with the payload, so no call that worked before stops working. The payload schema
 *   of a declared error is compared like an output.
 * - **uses**: adding an alias or a selector is additive; removing an alias or a selector, moving an
 *   alias from `required` to `optional` or pointing it at another contract is breaking.
 * - **Resources and job queues** are validated exactly: any change of a kv/store parameter or a
 *   job queue setting is breaking (a value that only spells out its default is additive).
 * - **Schemas** are compared by content (a schema renamed with the same content is additive) and
 *   by the direction data flows:
 *   - input-like (rpc/operation/feed/signal input, job payload): what the new version accepts
 *     must include what the old one accepted, so narrowing is breaking: a new required field,
 *     optional→required, dropping a field from a closed object, a narrower `type`, removed enum
 *     values, a new `const`/`enum`, tightened `additionalProperties`, a higher minimum or lower
 *     maximum, a removed `anyOf`/`oneOf` variant.
 *   - output-like (rpc/operation output, operation progress, event and feed payloads, job result,
 *     error payloads): what the new version produces must stay within what consumers expect, so
 *     widening is breaking: required→optional, a wider `type`, added enum values, a new field in a
 *     closed object, loosened `additionalProperties`, a new `anyOf`/`oneOf` variant. A new
 *     required field is additive.
 *   - stored (state store values, accepted versions, kv values): data outlives the version that
 *     wrote it, so a change is breaking if it breaks either direction.
 *   - In every direction: removing a required field, changing a `const`, or changing a type to
 *     an unrelated one is breaking; adding an optional field to an open object and dropping an
 *     optional field are additive. Nested objects, array `items` and `additionalProperties`
 *     schemas are compared recursively and the dotted field path is reported (`a.b`, `tags[]`,
 *     `labels.*`). Annotations (`title`, `description`, `default`, `examples`, …) never matter.
 *     Any other keyword that differs (`pattern`, `format`, `allOf`, `not`, tuple `items`, …) is
 *     reported as breaking, naming the keyword.
 */
import { canonicalizeJson } from "./canonical.js";
import { digestContractManifest } from "./digest.js";
import type {
  ContractManifest,
  ContractUse,
  EventConsumerGroup,
  JobQueue,
  JsonSchema,
  KvResource,
  SchemaRef,
  StoreResource,
} from "./manifest.js";
import { normalizeContractManifest, sortedUnique } from "./normalize.js";
import { pointer } from "./problems.js";

/** Whether a change keeps existing peers working (`additive`) or may break them (`breaking`). */
export type ContractChangeKind = "additive" | "breaking";

/** One difference between two manifests of a lineage. */
export interface ContractChange {
  /** Whether existing peers keep working after this change. */
  kind: ContractChangeKind;
  /** JSON Pointer into the manifest of the changed element, e.g. `/rpc/Orders.Get/output`. */
  path: string;
  /** What changed, in words a person understands. */
  message: string;
}

/** The compatibility verdict for a same-lineage manifest replacement. */
export interface ContractDiff {
  /** `identical`: same digest; `additive`: only additive changes; `breaking`: at least one breaking change. */
  classification: "identical" | "additive" | "breaking";
  /** Every change, in manifest order. */
  changes: ContractChange[];
  /** The breaking subset of `changes`. */
  breaking: ContractChange[];
}

/** How data described by a schema flows, which decides whether narrowing or widening breaks. */
type SchemaRole = "input" | "output" | "stored";

/** How a schema change moves the set of values a schema accepts. */
type Direction = "neutral" | "narrowing" | "widening" | "incompatible";

/** Settings compared exactly, with the runtime default used when the manifest omits them (spec §2.2). */
type Settings<T> = readonly (readonly [keyof T & string, unknown])[];
const DEFAULT_BACKOFF_MS = [5000, 30000, 120000, 600000, 1800000];
const JOB_SETTINGS: Settings<JobQueue> = [
  ["maxDeliver", 5],
  ["backoffMs", DEFAULT_BACKOFF_MS],
  ["ackWaitMs", 300000],
  ["defaultDeadlineMs", undefined],
  ["progress", true],
  ["logs", true],
  ["dlq", true],
  ["concurrency", 1],
];
const CONSUMER_SETTINGS: Settings<EventConsumerGroup> = [
  ["uses", undefined],
  ["self", undefined],
  ["replay", "new"],
  ["ordering", "strict"],
  ["concurrency", 1],
  ["ackWaitMs", 300000],
  ["maxDeliver", 6],
  ["backoffMs", DEFAULT_BACKOFF_MS],
];
const KV_SETTINGS: Settings<KvResource> = [
  ["purpose", undefined],
  ["required", true],
  ["history", 1],
  ["ttlMs", 0],
  ["maxValueBytes", undefined],
];
const STORE_SETTINGS: Settings<StoreResource> = [
  ["purpose", undefined],
  ["required", true],
  ["ttlMs", 0],
  ["maxObjectBytes", undefined],
  ["maxTotalBytes", undefined],
];
const DEFAULT_STATE_VERSION = "v1";

/** Keywords that describe a schema without changing what it accepts. */
const ANNOTATION_KEYWORDS = new Set([
  "$schema",
  "$id",
  "$anchor",
  "$comment",
  "$defs",
  "definitions",
  "title",
  "description",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
  "contentEncoding",
  "contentMediaType",
  "contentSchema",
]);
const LOWER_BOUNDS = ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"];
const UPPER_BOUNDS = ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"];
const VARIANT_KEYWORDS = ["anyOf", "oneOf"];
const OBJECT_KEYWORDS = ["properties", "required", "additionalProperties"];
const HANDLED_KEYWORDS = new Set([
  "type",
  "const",
  "enum",
  ...LOWER_BOUNDS,
  ...UPPER_BOUNDS,
  ...VARIANT_KEYWORDS,
  ...OBJECT_KEYWORDS,
  "items",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Structural equality of JSON values (`undefined` equals only `undefined`). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalizeJson(a) === canonicalizeJson(b);
}

/** Renders a value for a message: strings in single quotes, anything else as JSON. */
function show(value: unknown): string {
  if (value === undefined) return "unset";
  if (typeof value === "string") return `'${value}'`;
  return canonicalizeJson(value);
}

function showWithDefault(value: unknown, fallback: unknown): string {
  if (value === undefined && fallback !== undefined) return `unset (default ${show(fallback)})`;
  return show(value);
}

function showList(values: readonly string[] | undefined): string {
  if (values === undefined) return "not declared";
  return values.length === 0 ? "none" : `[${values.join(", ")}]`;
}

function sortedKeys(...records: (Record<string, unknown> | undefined)[]): string[] {
  return sortedUnique(records.flatMap((record) => Object.keys(record ?? {})));
}

function toSchema(value: unknown): JsonSchema {
  if (typeof value === "boolean") return value;
  return isRecord(value) ? value : true;
}

/** Collects changes while walking two manifests. */
class ChangeLog {
  readonly changes: ContractChange[] = [];

  add(kind: ContractChangeKind, path: string, message: string): void {
    this.changes.push({ kind, path, message });
  }

  /** Reports a changed value: `kind` when the effective values differ, additive when only the spelling does. */
  setting(
    kind: ContractChangeKind,
    path: string,
    what: string,
    previous: unknown,
    next: unknown,
    fallback?: unknown,
  ): void {
    if (sameJson(previous, next)) return;
    const effective = sameJson(previous ?? fallback, next ?? fallback) ? "additive" : kind;
    const from = showWithDefault(previous, fallback);
    const to = showWithDefault(next, fallback);
    this.add(effective, path, `${what} changed from ${from} to ${to}`);
  }

  /** Compares each of `settings` (all breaking), naming them `<label> <key>`. */
  settings<T>(settings: Settings<T>, label: string, at: (key: string) => string, previous: T, next: T): void {
    for (const [key, fallback] of settings) {
      this.setting("breaking", at(key), `${label} ${key}`, previous[key], next[key], fallback);
    }
  }

  /** Reports a changed required-capability list; `previous`/`next` are what the manifest says, `*Effective` what it means. */
  capabilities(
    path: string,
    what: string,
    previous: string[] | undefined,
    next: string[] | undefined,
    previousEffective: string[] | undefined,
    nextEffective: string[] | undefined,
  ): void {
    const before = previousEffective && sortedUnique(previousEffective);
    const after = nextEffective && sortedUnique(nextEffective);
    if (!sameJson(before, after)) {
      this.add(
        "breaking",
        path,
        `${what} capabilities changed from ${showList(before)} to ${showList(after)}`,
      );
    } else if (!sameJson(previous && sortedUnique(previous), next && sortedUnique(next))) {
      this.add(
        "additive",
        path,
        `${what} capabilities written as ${showList(next)} instead of ${showList(previous)} (same effect)`,
      );
    }
  }
}

/**
 * Walks two keyed sections: removed entries are `removedKind`, added ones additive, and entries in
 * both are handed to `compare`.
 */
function diffSection<T>(
  log: ChangeLog,
  previous: Record<string, T> | undefined,
  next: Record<string, T> | undefined,
  describe: (name: string) => { label: string; path: string },
  compare: (name: string, previous: T, next: T) => void,
  removedKind: ContractChangeKind = "breaking",
  wording = { added: "added", removed: "was removed" },
): void {
  for (const name of sortedKeys(previous, next)) {
    const before = previous?.[name];
    const after = next?.[name];
    const { label, path } = describe(name);
    if (before === undefined && after !== undefined) log.add("additive", path, `${label} ${wording.added}`);
    else if (before !== undefined && after === undefined)
      log.add(removedKind, path, `${label} ${wording.removed}`);
    else if (before !== undefined && after !== undefined) compare(name, before, after);
  }
}

// ---------------------------------------------------------------------------------------------
// Schemas

interface SchemaContext {
  log: ChangeLog;
  role: SchemaRole;
  /** Which surface's schema this is, e.g. `rpc 'Orders.Get' output`. */
  surface: string;
  /** Manifest pointer reported for every change of this schema. */
  path: string;
  /** Dotted field path inside the schema; `""` at the root. */
  field: string;
}

function kindFor(role: SchemaRole, direction: Direction): ContractChangeKind {
  switch (direction) {
    case "neutral":
      return "additive";
    case "incompatible":
      return "breaking";
    case "narrowing":
      return role === "output" ? "additive" : "breaking";
    case "widening":
      return role === "input" ? "additive" : "breaking";
  }
}

function fieldLabel(ctx: SchemaContext): string {
  return ctx.field ? `${ctx.surface} field '${ctx.field}'` : ctx.surface;
}

function childField(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

function emit(ctx: SchemaContext, direction: Direction, what: string): void {
  ctx.log.add(kindFor(ctx.role, direction), ctx.path, `${fieldLabel(ctx)} ${what}`);
}

/** The `type` keyword as a sorted list; `undefined` means any type. */
function typeSet(schema: Record<string, unknown>): string[] | undefined {
  const type = schema.type;
  if (typeof type === "string") return [type];
  if (Array.isArray(type))
    return sortedUnique(type.filter((item): item is string => typeof item === "string"));
  return undefined;
}

function typeCovers(types: readonly string[], type: string): boolean {
  return types.includes(type) || (type === "integer" && types.includes("number"));
}

function typesOverlap(a: string, b: string): boolean {
  return a === b || (a === "integer" && b === "number") || (a === "number" && b === "integer");
}

function isTypeSubset(inner: string[] | undefined, outer: string[] | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  return inner.every((type) => typeCovers(outer, type));
}

function showTypes(types: string[] | undefined): string {
  return types === undefined ? "any" : types.join(" | ");
}

function diffType(
  ctx: SchemaContext,
  previous: Record<string, unknown>,
  next: Record<string, unknown>,
): boolean {
  const before = typeSet(previous);
  const after = typeSet(next);
  if (sameJson(before, after)) return true;
  const narrower = isTypeSubset(after, before);
  const wider = isTypeSubset(before, after);
  const direction: Direction = narrower ? "narrowing" : wider ? "widening" : "incompatible";
  emit(ctx, direction, `type changed from ${showTypes(before)} to ${showTypes(after)}`);
  // With no type in common the remaining keywords describe unrelated values; the type change says it all.
  return (
    before === undefined || after === undefined || before.some((a) => after.some((b) => typesOverlap(a, b)))
  );
}

function diffConst(ctx: SchemaContext, previous: unknown, next: unknown): void {
  if (sameJson(previous, next)) return;
  if (previous === undefined) emit(ctx, "narrowing", `is now fixed to const ${show(next)}`);
  else if (next === undefined) emit(ctx, "widening", `is no longer fixed to const ${show(previous)}`);
  else emit(ctx, "incompatible", `const changed from ${show(previous)} to ${show(next)}`);
}

function diffEnum(ctx: SchemaContext, previous: unknown, next: unknown): void {
  if (sameJson(previous, next)) return;
  if (!Array.isArray(previous) || !Array.isArray(next)) {
    if (previous === undefined && Array.isArray(next)) {
      emit(ctx, "narrowing", `is now restricted to enum ${next.map(show).join(", ")}`);
    } else if (next === undefined && Array.isArray(previous)) {
      emit(ctx, "widening", "is no longer restricted to an enum");
    } else {
      emit(ctx, "incompatible", "schema keyword 'enum' changed");
    }
    return;
  }
  const beforeKeys = new Set(previous.map((value) => canonicalizeJson(value)));
  const afterKeys = new Set(next.map((value) => canonicalizeJson(value)));
  const removed = previous.filter((value) => !afterKeys.has(canonicalizeJson(value)));
  const added = next.filter((value) => !beforeKeys.has(canonicalizeJson(value)));
  if (removed.length > 0) {
    const values = removed.map(show).join(", ");
    emit(
      ctx,
      "narrowing",
      removed.length === 1 ? `enum value ${values} was removed` : `enum values ${values} were removed`,
    );
  }
  if (added.length > 0) {
    emit(
      ctx,
      "widening",
      `enum ${added.length === 1 ? "value" : "values"} ${added.map(show).join(", ")} added`,
    );
  }
}

function diffBound(
  ctx: SchemaContext,
  keyword: string,
  lower: boolean,
  previous: unknown,
  next: unknown,
): void {
  if (sameJson(previous, next)) return;
  const numeric = (value: unknown) => value === undefined || typeof value === "number";
  if (!numeric(previous) || !numeric(next)) {
    emit(ctx, "incompatible", `schema keyword '${keyword}' changed`);
    return;
  }
  let stricter: boolean;
  if (typeof previous !== "number") stricter = true;
  else if (typeof next !== "number") stricter = false;
  else stricter = lower ? next > previous : next < previous;
  emit(
    ctx,
    stricter ? "narrowing" : "widening",
    `${keyword} changed from ${show(previous)} to ${show(next)}`,
  );
}

/** An object accepts properties it does not list unless `additionalProperties`/`unevaluatedProperties` say otherwise. */
function isOpenObject(schema: Record<string, unknown>): boolean {
  const additional = schema.additionalProperties;
  const unevaluated = schema.unevaluatedProperties;
  return (
    (additional === undefined || additional === true) && (unevaluated === undefined || unevaluated === true)
  );
}

function requiredNames(schema: Record<string, unknown>): Set<string> {
  const required = schema.required;
  return new Set(
    Array.isArray(required) ? required.filter((name): name is string => typeof name === "string") : [],
  );
}

function diffObject(
  ctx: SchemaContext,
  previous: Record<string, unknown>,
  next: Record<string, unknown>,
): void {
  const beforeProps = isRecord(previous.properties) ? previous.properties : {};
  const afterProps = isRecord(next.properties) ? next.properties : {};
  const beforeRequired = requiredNames(previous);
  const afterRequired = requiredNames(next);
  const names = sortedUnique([
    ...Object.keys(beforeProps),
    ...Object.keys(afterProps),
    ...beforeRequired,
    ...afterRequired,
  ]);
  const beforeOpen = isOpenObject(previous);
  const afterOpen = isOpenObject(next);
  for (const name of names) {
    const field = childField(ctx.field, name);
    const inBefore = name in beforeProps || beforeRequired.has(name);
    const inAfter = name in afterProps || afterRequired.has(name);
    const wasRequired = beforeRequired.has(name);
    const isRequired = afterRequired.has(name);
    const at = (what: string, direction: Direction) =>
      ctx.log.add(kindFor(ctx.role, direction), ctx.path, `${ctx.surface} ${what}`);
    if (!inBefore) {
      // A closed object makes consumers that still hold the old schema reject the new field.
      if (isRequired) at(`required field '${field}' added`, beforeOpen ? "narrowing" : "incompatible");
      else at(`optional field '${field}' added`, beforeOpen ? "neutral" : "widening");
      continue;
    }
    if (!inAfter) {
      if (wasRequired) at(`field '${field}' was removed`, "incompatible");
      // Dropping a field from a closed object rejects callers that still send it.
      else at(`optional field '${field}' was removed`, afterOpen ? "neutral" : "narrowing");
      continue;
    }
    const child = { ...ctx, field };
    if (wasRequired && !isRequired) emit(child, "widening", "changed from required to optional");
    if (!wasRequired && isRequired) emit(child, "narrowing", "changed from optional to required");
    diffSchemaNode(child, toSchema(beforeProps[name]), toSchema(afterProps[name]));
  }
  diffAdditionalProperties(ctx, previous.additionalProperties, next.additionalProperties);
}

function diffAdditionalProperties(ctx: SchemaContext, previous: unknown, next: unknown): void {
  const before = toSchema(previous ?? true);
  const after = toSchema(next ?? true);
  if (sameJson(before, after)) return;
  if (isRecord(before) && isRecord(after)) {
    diffSchemaNode({ ...ctx, field: childField(ctx.field, "*") }, before, after);
    return;
  }
  const describe = (schema: JsonSchema) =>
    schema === true ? "allowed" : schema === false ? "forbidden" : "restricted by a schema";
  const tighter = before === true || after === false;
  emit(
    ctx,
    tighter ? "narrowing" : "widening",
    `additional properties changed from ${describe(before)} to ${describe(after)}`,
  );
}

function diffItems(ctx: SchemaContext, previous: unknown, next: unknown): void {
  if (sameJson(previous, next)) return;
  if (Array.isArray(previous) || Array.isArray(next)) {
    emit(ctx, "incompatible", "schema keyword 'items' changed");
    return;
  }
  diffSchemaNode({ ...ctx, field: `${ctx.field}[]` }, toSchema(previous ?? true), toSchema(next ?? true));
}

function describeVariant(schema: unknown): string {
  const text = canonicalizeJson(schema);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Pairs old and new variants: each old variant is matched with the first new one it can become
 * without a breaking change. Unmatched old variants were removed (narrowing), unmatched new ones
 * were added (widening).
 */
function diffVariants(ctx: SchemaContext, keyword: string, previous: unknown, next: unknown): void {
  if (sameJson(previous, next)) return;
  if (!Array.isArray(previous) || !Array.isArray(next)) {
    if (previous === undefined) emit(ctx, "narrowing", `schema keyword '${keyword}' added`);
    else if (next === undefined) emit(ctx, "widening", `schema keyword '${keyword}' removed`);
    else emit(ctx, "incompatible", `schema keyword '${keyword}' changed`);
    return;
  }
  const remaining = [...next];
  const unmatched: unknown[] = [];
  for (const variant of previous) {
    const exact = remaining.findIndex((candidate) => sameJson(candidate, variant));
    if (exact >= 0) {
      remaining.splice(exact, 1);
      continue;
    }
    let matched = false;
    for (let index = 0; index < remaining.length; index++) {
      const trial = new ChangeLog();
      diffSchemaNode({ ...ctx, log: trial }, toSchema(variant), toSchema(remaining[index]));
      if (trial.changes.every((change) => change.kind === "additive")) {
        for (const change of trial.changes) ctx.log.add(change.kind, change.path, change.message);
        remaining.splice(index, 1);
        matched = true;
        break;
      }
    }
    if (!matched) unmatched.push(variant);
  }
  for (const variant of unmatched)
    emit(ctx, "narrowing", `${keyword} variant ${describeVariant(variant)} was removed`);
  for (const variant of remaining)
    emit(ctx, "widening", `${keyword} variant ${describeVariant(variant)} added`);
}

function diffSchemaNode(ctx: SchemaContext, previous: JsonSchema, next: JsonSchema): void {
  if (sameJson(previous, next)) return;
  if (previous === false) {
    emit(ctx, "widening", "changed from rejecting every value to accepting values");
    return;
  }
  if (next === false) {
    emit(ctx, "narrowing", "now rejects every value");
    return;
  }
  const before = previous === true ? {} : previous;
  const after = next === true ? {} : next;
  if (!diffType(ctx, before, after)) return;
  diffConst(ctx, before.const, after.const);
  diffEnum(ctx, before.enum, after.enum);
  for (const keyword of LOWER_BOUNDS) diffBound(ctx, keyword, true, before[keyword], after[keyword]);
  for (const keyword of UPPER_BOUNDS) diffBound(ctx, keyword, false, before[keyword], after[keyword]);
  if (OBJECT_KEYWORDS.some((keyword) => keyword in before || keyword in after))
    diffObject(ctx, before, after);
  diffItems(ctx, before.items, after.items);
  for (const keyword of VARIANT_KEYWORDS) diffVariants(ctx, keyword, before[keyword], after[keyword]);
  for (const keyword of sortedKeys(before, after)) {
    if (HANDLED_KEYWORDS.has(keyword) || ANNOTATION_KEYWORDS.has(keyword)) continue;
    if (!sameJson(before[keyword], after[keyword]))
      emit(ctx, "incompatible", `schema keyword '${keyword}' changed`);
  }
}

interface Manifests {
  previous: ContractManifest;
  next: ContractManifest;
}

/** Compares the schemas two references point at, by content. */
function diffSchemaRef(
  log: ChangeLog,
  manifests: Manifests,
  role: SchemaRole,
  surface: string,
  path: string,
  previous: SchemaRef,
  next: SchemaRef,
): void {
  const before = manifests.previous.schemas?.[previous.schema];
  const after = manifests.next.schemas?.[next.schema];
  if (before === undefined || after === undefined) {
    if (after === undefined && (before !== undefined || previous.schema !== next.schema)) {
      log.add("breaking", path, `${surface} refers to unknown schema '${next.schema}'`);
    } else if (before === undefined && after !== undefined) {
      log.add("additive", path, `${surface} now refers to existing schema '${next.schema}'`);
    }
    return;
  }
  const countBefore = log.changes.length;
  diffSchemaNode({ log, role, surface, path, field: "" }, before, after);
  if (log.changes.length > countBefore) return;
  if (previous.schema !== next.schema) {
    log.add("additive", path, `${surface} schema renamed from '${previous.schema}' to '${next.schema}'`);
  } else if (!sameJson(before, after)) {
    log.add("additive", path, `${surface} schema changed without affecting what it accepts`);
  }
}

/** Compares an optional schema reference: adding one is additive, removing one breaking. */
function diffOptionalSchemaRef(
  log: ChangeLog,
  manifests: Manifests,
  role: SchemaRole,
  surface: string,
  path: string,
  previous: SchemaRef | undefined,
  next: SchemaRef | undefined,
): void {
  if (previous && next) diffSchemaRef(log, manifests, role, surface, path, previous, next);
  else if (next) log.add("additive", path, `${surface} added`);
  else if (previous) log.add("breaking", path, `${surface} was removed`);
}

// ---------------------------------------------------------------------------------------------
// Sections

function diffRpc(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.rpc,
    manifests.next.rpc,
    (name) => ({ label: `rpc '${name}'`, path: pointer("rpc", name) }),
    (name, before, after) => {
      const label = `rpc '${name}'`;
      const at = (...rest: string[]) => pointer("rpc", name, ...rest);
      log.setting("breaking", at("version"), `${label} version`, before.version, after.version);
      log.setting("breaking", at("subject"), `${label} subject`, before.subject, after.subject);
      diffSchemaRef(log, manifests, "input", `${label} input`, at("input"), before.input, after.input);
      diffSchemaRef(log, manifests, "output", `${label} output`, at("output"), before.output, after.output);
      const call = [before.capabilities?.call, after.capabilities?.call] as const;
      log.capabilities(at("capabilities", "call"), `${label} call`, ...call, call[0] ?? [], call[1] ?? []);
      log.setting("breaking", at("transfer"), `${label} transfer`, before.transfer, after.transfer);
      const becameInternal = after.internal === true && before.internal !== true;
      log.setting(
        becameInternal ? "breaking" : "additive",
        at("internal"),
        `${label} internal`,
        before.internal,
        after.internal,
        false,
      );
      diffErrorList(log, label, at("errors"), before.errors, after.errors);
    },
  );
}

function diffErrorList(
  log: ChangeLog,
  label: string,
  path: string,
  previous: { type: string }[] | undefined,
  next: { type: string }[] | undefined,
): void {
  const before = previous && sortedUnique(previous.map((error) => error.type));
  const after = next && sortedUnique(next.map((error) => error.type));
  if (sameJson(before, after)) return;
  for (const type of after ?? []) {
    if (!before?.includes(type)) log.add("additive", path, `${label} error '${type}' added`);
  }
  for (const type of before ?? []) {
    if (!after?.includes(type)) log.add("additive", path, `${label} error '${type}' was removed`);
  }
  if (sameJson(before ?? [], after ?? [])) {
    log.add(
      "additive",
      path,
      `${label} error list written as ${showList(after)} instead of ${showList(before)}`,
    );
  }
}

function diffOperations(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.operations,
    manifests.next.operations,
    (name) => ({ label: `operation '${name}'`, path: pointer("operations", name) }),
    (name, before, after) => {
      const label = `operation '${name}'`;
      const at = (...rest: string[]) => pointer("operations", name, ...rest);
      log.setting("breaking", at("version"), `${label} version`, before.version, after.version);
      log.setting("breaking", at("subject"), `${label} subject`, before.subject, after.subject);
      diffSchemaRef(log, manifests, "input", `${label} input`, at("input"), before.input, after.input);
      diffOptionalSchemaRef(
        log,
        manifests,
        "output",
        `${label} progress`,
        at("progress"),
        before.progress,
        after.progress,
      );
      diffSchemaRef(log, manifests, "output", `${label} output`, at("output"), before.output, after.output);
      log.setting("breaking", at("transfer"), `${label} transfer`, before.transfer, after.transfer);
      const caps = [before.capabilities ?? {}, after.capabilities ?? {}] as const;
      const callOf = (c: (typeof caps)[number]) => c.call ?? [];
      const observeOf = (c: (typeof caps)[number]) => c.observe ?? c.call ?? [];
      log.capabilities(
        at("capabilities", "call"),
        `${label} call`,
        caps[0].call,
        caps[1].call,
        callOf(caps[0]),
        callOf(caps[1]),
      );
      log.capabilities(
        at("capabilities", "observe"),
        `${label} observe`,
        caps[0].observe,
        caps[1].observe,
        observeOf(caps[0]),
        observeOf(caps[1]),
      );
      // An omitted cancel/control list differs from an empty one: without it, nobody holds the right.
      for (const action of ["cancel", "control"] as const) {
        const was = caps[0][action];
        const is = caps[1][action];
        log.capabilities(at("capabilities", action), `${label} ${action}`, was, is, was, is);
      }
      const lostCancel = before.cancel === true && after.cancel !== true;
      log.setting(
        lostCancel ? "breaking" : "additive",
        at("cancel"),
        `${label} cancel`,
        before.cancel,
        after.cancel,
        false,
      );
      diffSection(
        log,
        before.signals,
        after.signals,
        (signal) => ({ label: `${label} signal '${signal}'`, path: at("signals", signal) }),
        (signal, was, is) => {
          const surface = `${label} signal '${signal}' input`;
          diffSchemaRef(
            log,
            manifests,
            "input",
            surface,
            at("signals", signal, "input"),
            was.input,
            is.input,
          );
        },
      );
    },
  );
}

function diffEvents(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.events,
    manifests.next.events,
    (name) => ({ label: `event '${name}'`, path: pointer("events", name) }),
    (name, before, after) => {
      const label = `event '${name}'`;
      const at = (...rest: string[]) => pointer("events", name, ...rest);
      log.setting("breaking", at("version"), `${label} version`, before.version, after.version);
      log.setting("breaking", at("subject"), `${label} subject`, before.subject, after.subject);
      log.setting("breaking", at("params"), `${label} params`, before.params, after.params);
      diffSchemaRef(log, manifests, "output", `${label} payload`, at("event"), before.event, after.event);
      for (const action of ["publish", "subscribe"] as const) {
        const was = before.capabilities?.[action];
        const is = after.capabilities?.[action];
        log.capabilities(at("capabilities", action), `${label} ${action}`, was, is, was ?? [], is ?? []);
      }
    },
  );
}

function diffFeeds(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.feeds,
    manifests.next.feeds,
    (name) => ({ label: `feed '${name}'`, path: pointer("feeds", name) }),
    (name, before, after) => {
      const label = `feed '${name}'`;
      const at = (...rest: string[]) => pointer("feeds", name, ...rest);
      log.setting("breaking", at("version"), `${label} version`, before.version, after.version);
      log.setting("breaking", at("subject"), `${label} subject`, before.subject, after.subject);
      diffSchemaRef(log, manifests, "input", `${label} input`, at("input"), before.input, after.input);
      diffSchemaRef(log, manifests, "output", `${label} event`, at("event"), before.event, after.event);
      const was = before.capabilities?.subscribe;
      const is = after.capabilities?.subscribe;
      log.capabilities(at("capabilities", "subscribe"), `${label} subscribe`, was, is, was ?? [], is ?? []);
    },
  );
}

function diffJobs(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.jobs,
    manifests.next.jobs,
    (name) => ({ label: `job queue '${name}'`, path: pointer("jobs", name) }),
    (name, before, after) => {
      const label = `job queue '${name}'`;
      const at = (...rest: string[]) => pointer("jobs", name, ...rest);
      diffSchemaRef(
        log,
        manifests,
        "input",
        `${label} payload`,
        at("payload"),
        before.payload,
        after.payload,
      );
      diffOptionalSchemaRef(
        log,
        manifests,
        "output",
        `${label} result`,
        at("result"),
        before.result,
        after.result,
      );
      log.settings(JOB_SETTINGS, label, at, before, after);
    },
  );
}

function diffState(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.state,
    manifests.next.state,
    (name) => ({ label: `state store '${name}'`, path: pointer("state", name) }),
    (name, before, after) => {
      const label = `state store '${name}'`;
      const at = (...rest: string[]) => pointer("state", name, ...rest);
      log.setting("breaking", at("kind"), `${label} kind`, before.kind, after.kind);
      const version = [before.stateVersion, after.stateVersion] as const;
      log.setting("breaking", at("stateVersion"), `${label} stateVersion`, ...version, DEFAULT_STATE_VERSION);
      diffSchemaRef(log, manifests, "stored", `${label} value`, at("schema"), before.schema, after.schema);
      diffSection(
        log,
        before.acceptedVersions,
        after.acceptedVersions,
        (accepted) => ({
          label: `${label} accepted version '${accepted}'`,
          path: at("acceptedVersions", accepted),
        }),
        (accepted, was, is) => {
          const surface = `${label} accepted version '${accepted}' value`;
          diffSchemaRef(log, manifests, "stored", surface, at("acceptedVersions", accepted), was, is);
        },
      );
    },
  );
}

function diffResources(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.resources?.kv,
    manifests.next.resources?.kv,
    (name) => ({ label: `kv resource '${name}'`, path: pointer("resources", "kv", name) }),
    (name, before, after) => {
      const label = `kv resource '${name}'`;
      const at = (...rest: string[]) => pointer("resources", "kv", name, ...rest);
      log.settings(KV_SETTINGS, label, at, before, after);
      diffSchemaRef(log, manifests, "stored", `${label} value`, at("schema"), before.schema, after.schema);
    },
  );
  diffSection(
    log,
    manifests.previous.resources?.store,
    manifests.next.resources?.store,
    (name) => ({ label: `store resource '${name}'`, path: pointer("resources", "store", name) }),
    (name, before, after) => {
      const at = (key: string) => pointer("resources", "store", name, key);
      log.settings(STORE_SETTINGS, `store resource '${name}'`, at, before, after);
    },
  );
}

function diffEventConsumers(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.eventConsumers,
    manifests.next.eventConsumers,
    (name) => ({ label: `event consumer group '${name}'`, path: pointer("eventConsumers", name) }),
    (name, before, after) => {
      const at = (key: string) => pointer("eventConsumers", name, key);
      log.settings(CONSUMER_SETTINGS, `event consumer group '${name}'`, at, before, after);
    },
  );
}

function diffCapabilities(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    manifests.previous.capabilities,
    manifests.next.capabilities,
    (name) => ({ label: `capability '${name}'`, path: pointer("capabilities", name) }),
    (name, before, after) => {
      // Metadata is shown to users when they approve; it does not change who may do what.
      for (const key of ["displayName", "description", "consequence"] as const) {
        const path = pointer("capabilities", name, key);
        log.setting("additive", path, `capability '${name}' ${key}`, before[key], after[key]);
      }
    },
  );
}

const USE_SELECTORS = [
  { section: "rpc", list: "call", verb: "calls rpc" },
  { section: "operations", list: "call", verb: "calls operation" },
  { section: "events", list: "publish", verb: "publishes event" },
  { section: "events", list: "subscribe", verb: "subscribes to event" },
  { section: "feeds", list: "subscribe", verb: "subscribes to feed" },
] as const;

function selectorList(
  use: ContractUse,
  section: (typeof USE_SELECTORS)[number]["section"],
  list: string,
): string[] | undefined {
  const group: unknown = use[section];
  if (!isRecord(group)) return undefined;
  const values = group[list];
  return Array.isArray(values)
    ? sortedUnique(values.filter((v): v is string => typeof v === "string"))
    : undefined;
}

/** Every alias with its group; a required alias shadows an optional one of the same name (spec §7). */
function groupedUses(
  manifest: ContractManifest,
): Map<string, { group: "required" | "optional"; use: ContractUse }> {
  const out = new Map<string, { group: "required" | "optional"; use: ContractUse }>();
  for (const [alias, use] of Object.entries(manifest.uses?.optional ?? {}))
    out.set(alias, { group: "optional", use });
  for (const [alias, use] of Object.entries(manifest.uses?.required ?? {}))
    out.set(alias, { group: "required", use });
  return out;
}

function diffUses(log: ChangeLog, manifests: Manifests): void {
  const before = groupedUses(manifests.previous);
  const after = groupedUses(manifests.next);
  for (const alias of sortedUnique([...before.keys(), ...after.keys()])) {
    const was = before.get(alias);
    const is = after.get(alias);
    const path = pointer("uses", (is ?? was)?.group ?? "required", alias);
    if (!was && is) {
      log.add("additive", path, `${is.group} use '${alias}' of '${is.use.contract}' added`);
      continue;
    }
    if (was && !is) {
      log.add("breaking", path, `${was.group} use '${alias}' of '${was.use.contract}' was removed`);
      continue;
    }
    if (!was || !is) continue;
    const label = `use '${alias}'`;
    if (was.group !== is.group) {
      const kind = is.group === "optional" ? "breaking" : "additive";
      log.add(kind, path, `${label} changed from ${was.group} to ${is.group}`);
    }
    log.setting(
      "breaking",
      pointer("uses", is.group, alias, "contract"),
      `${label} contract`,
      was.use.contract,
      is.use.contract,
    );
    for (const { section, list, verb } of USE_SELECTORS) {
      const previous = selectorList(was.use, section, list);
      const next = selectorList(is.use, section, list);
      if (sameJson(previous, next)) continue;
      const at = pointer("uses", is.group, alias, section, list);
      for (const name of previous ?? []) {
        if (!next?.includes(name)) log.add("breaking", at, `${label} no longer ${verb} '${name}'`);
      }
      for (const name of next ?? []) {
        if (!previous?.includes(name)) log.add("additive", at, `${label} now ${verb} '${name}'`);
      }
      if (sameJson(previous ?? [], next ?? [])) {
        log.add(
          "additive",
          at,
          `${label} ${section}.${list} written as ${showList(next)} instead of ${showList(previous)}`,
        );
      }
    }
  }
}

/** Error declarations the digest covers: those whose type some rpc declares. */
function declaredErrors(manifest: ContractManifest): Record<string, { type: string; schema?: SchemaRef }> {
  const used = new Set(
    Object.values(manifest.rpc ?? {}).flatMap((method) => (method.errors ?? []).map((e) => e.type)),
  );
  return Object.fromEntries(Object.entries(manifest.errors ?? {}).filter(([, decl]) => used.has(decl.type)));
}

function diffErrorDeclarations(log: ChangeLog, manifests: Manifests): void {
  diffSection(
    log,
    declaredErrors(manifests.previous),
    declaredErrors(manifests.next),
    (name) => ({ label: `error '${name}'`, path: pointer("errors", name) }),
    (name, before, after) => {
      const label = `error '${name}'`;
      log.setting("additive", pointer("errors", name, "type"), `${label} type`, before.type, after.type);
      const path = pointer("errors", name, "schema");
      if (before.schema && after.schema) {
        diffSchemaRef(log, manifests, "output", `${label} payload`, path, before.schema, after.schema);
      } else if (after.schema) {
        log.add("additive", path, `${label} payload schema added`);
      } else if (before.schema) {
        log.add("additive", path, `${label} payload schema was removed`);
      }
    },
    "additive",
    { added: "is now declared by an rpc", removed: "is no longer declared by any rpc" },
  );
}

function summarize(changes: ContractChange[]): ContractDiff {
  const breaking = changes.filter((change) => change.kind === "breaking");
  return { classification: breaking.length > 0 ? "breaking" : "additive", changes, breaking };
}

/**
 * Classifies replacing `previous` with `next` within one lineage (contracts spec §9): `identical`
 * when the digests match, otherwise `additive` or `breaking` with every change listed. Manifests
 * of different lineages (different `id`) always give one breaking change.
 */
export function diffContracts(previous: ContractManifest, next: ContractManifest): ContractDiff {
  const manifests: Manifests = {
    previous: normalizeContractManifest(previous),
    next: normalizeContractManifest(next),
  };
  if (manifests.previous.id !== manifests.next.id) {
    const message = `contract id changed from '${manifests.previous.id}' to '${manifests.next.id}'`;
    return summarize([{ kind: "breaking", path: pointer("id"), message }]);
  }
  if (digestContractManifest(manifests.previous) === digestContractManifest(manifests.next)) {
    return { classification: "identical", changes: [], breaking: [] };
  }
  const log = new ChangeLog();
  log.setting("breaking", pointer("kind"), "contract kind", manifests.previous.kind, manifests.next.kind);
  diffCapabilities(log, manifests);
  diffUses(log, manifests);
  diffState(log, manifests);
  diffRpc(log, manifests);
  diffOperations(log, manifests);
  diffEvents(log, manifests);
  diffFeeds(log, manifests);
  diffErrorDeclarations(log, manifests);
  diffJobs(log, manifests);
  diffEventConsumers(log, manifests);
  diffResources(log, manifests);
  if (log.changes.length === 0) {
    // The digests differ but no rule recognised the difference: refuse to call it compatible.
    log.add("breaking", "", "contract changed in a way the compatibility check does not recognise");
  }
  return summarize(log.changes);
}
