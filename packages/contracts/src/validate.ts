/**
 * Manifest validation (contracts spec §2, §7, §14): shape checks with zod, then the cross-field rules
 * (schema references, embedded schema rules, event subject templates, event consumer groups,
 * surface subjects, forbidden sections). Every problem is reported, each with its JSON path and rule.
 */
import { Result } from "@trellis/result";
import type { z } from "zod";
import { assertJsonValue, NonJsonValueError } from "./canonical.js";
import {
  type ContractManifest,
  ContractManifestSchema,
  type JsonSchema,
  type SchemaRef,
} from "./manifest.js";
import { normalizeContractManifest } from "./normalize.js";
import { type ContractProblem, ContractValidationError, pointer } from "./problems.js";
import { validateEventSubject, validateSurfaceSubject } from "./subjects.js";

const JSON_SCHEMA_TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Sections that v1 refuses outright, before the shape is checked. */
function forbiddenSections(value: Record<string, unknown>): ContractProblem[] {
  const problems: ContractProblem[] = [];
  if ("subjects" in value) {
    problems.push({
      path: "/subjects",
      rule: "forbidden-section",
      message: "Contract subjects are not supported in v1",
    });
  }
  const resources = value.resources;
  if (isRecord(resources)) {
    for (const key of ["jobs", "stream", "streams"]) {
      if (key in resources) {
        problems.push({
          path: pointer("resources", key),
          rule: "forbidden-section",
          message: `/resources/${key} is not supported in v1${key === "jobs" ? " (declare job queues under top-level 'jobs')" : ""}`,
        });
      }
    }
  }
  const uses = value.uses;
  if (isRecord(uses)) {
    for (const group of ["required", "optional"]) {
      const entries = uses[group];
      if (!isRecord(entries)) continue;
      for (const [alias, use] of Object.entries(entries)) {
        if (isRecord(use) && "subjects" in use) {
          problems.push({
            path: pointer("uses", group, alias, "subjects"),
            rule: "forbidden-section",
            message: `Contract uses '${alias}' declares unsupported subjects`,
          });
        }
      }
    }
  }
  return problems;
}

function shapeProblems(issues: readonly z.core.$ZodIssue[]): ContractProblem[] {
  return issues.flatMap((issue) => {
    // A union failure carries the reasons of each branch; report those instead of "invalid input".
    if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.message === "Invalid input") {
      return shapeProblems(
        issue.errors.flat().map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })),
      );
    }
    const path = pointer(
      ...issue.path.map((segment) => (typeof segment === "symbol" ? String(segment) : segment)),
    );
    let message = issue.message;
    if (issue.code === "invalid_type" && issue.input === undefined) message = "is required";
    if (issue.code === "unrecognized_keys")
      message = `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
    return [{ path, rule: `shape:${issue.code}`, message }];
  });
}

/** Walks an embedded schema for `$ref` and unknown `type` names. */
function embeddedSchemaProblems(name: string, schema: JsonSchema): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const visit = (node: unknown, segments: (string | number)[]) => {
    if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(item, [...segments, index]);
      return;
    }
    if (!isRecord(node)) return;
    for (const [key, child] of Object.entries(node)) {
      const at = [...segments, key];
      if (key === "$ref" && typeof child === "string") {
        const remote = !child.startsWith("#");
        problems.push({
          path: pointer("schemas", name, ...segments, key),
          rule: "schema-no-ref",
          message: `schemas.${name}${pointer(...at)}: ${remote ? "remote $ref" : "$ref"} is not supported in embedded schemas`,
        });
      } else if (key === "type" && typeof child === "string" && !JSON_SCHEMA_TYPES.has(child)) {
        problems.push({
          path: pointer("schemas", name, ...at),
          rule: "schema-type",
          message: `schemas.${name}${pointer(...at)}: unknown JSON Schema type '${child}'`,
        });
      } else if (key === "type" && Array.isArray(child)) {
        if (child.some((item) => typeof item !== "string" || !JSON_SCHEMA_TYPES.has(item))) {
          problems.push({
            path: pointer("schemas", name, ...at),
            rule: "schema-type",
            message: `schemas.${name}${pointer(...at)}: type array contains an unknown JSON Schema type`,
          });
        }
      } else {
        visit(child, at);
      }
    }
  };
  visit(schema, []);
  return problems;
}

/** Every place a manifest refers to a named schema, with the words used to describe it. */
function schemaReferences(
  m: ContractManifest,
): { path: string; context: string; ref: SchemaRef | undefined }[] {
  const refs: { path: string; context: string; ref: SchemaRef | undefined }[] = [];
  const add = (context: string, ref: SchemaRef | undefined, ...segments: string[]) => {
    if (ref) refs.push({ path: pointer(...segments, "schema"), context, ref });
  };
  for (const [store, desc] of Object.entries(m.state ?? {})) {
    add(`state store '${store}'`, desc.schema, "state", store, "schema");
    for (const [version, ref] of Object.entries(desc.acceptedVersions ?? {})) {
      add(
        `state store '${store}' accepted version '${version}'`,
        ref,
        "state",
        store,
        "acceptedVersions",
        version,
      );
    }
  }
  for (const [alias, kv] of Object.entries(m.resources?.kv ?? {})) {
    add(`kv resource '${alias}'`, kv.schema, "resources", "kv", alias, "schema");
  }
  for (const [name, rpc] of Object.entries(m.rpc ?? {})) {
    add(`rpc '${name}' input`, rpc.input, "rpc", name, "input");
    add(`rpc '${name}' output`, rpc.output, "rpc", name, "output");
  }
  for (const [name, op] of Object.entries(m.operations ?? {})) {
    add(`operation '${name}' input`, op.input, "operations", name, "input");
    add(`operation '${name}' progress`, op.progress, "operations", name, "progress");
    add(`operation '${name}' output`, op.output, "operations", name, "output");
    for (const [signal, desc] of Object.entries(op.signals ?? {})) {
      add(
        `operation '${name}' signal '${signal}' input`,
        desc.input,
        "operations",
        name,
        "signals",
        signal,
        "input",
      );
    }
  }
  for (const [name, event] of Object.entries(m.events ?? {}))
    add(`event '${name}'`, event.event, "events", name, "event");
  for (const [name, feed] of Object.entries(m.feeds ?? {})) {
    add(`feed '${name}' input`, feed.input, "feeds", name, "input");
    add(`feed '${name}' event`, feed.event, "feeds", name, "event");
  }
  for (const [name, decl] of Object.entries(m.errors ?? {}))
    add(`error '${name}'`, decl.schema, "errors", name, "schema");
  for (const [name, job] of Object.entries(m.jobs ?? {})) {
    add(`job queue '${name}' payload`, job.payload, "jobs", name, "payload");
    add(`job queue '${name}' result`, job.result, "jobs", name, "result");
  }
  return refs;
}

function referenceProblems(m: ContractManifest): ContractProblem[] {
  const schemas = m.schemas ?? {};
  const problems: ContractProblem[] = [];
  for (const { path, context, ref } of schemaReferences(m)) {
    if (ref && !(ref.schema in schemas)) {
      problems.push({ path, rule: "schema-ref", message: `${context}: unknown schema '${ref.schema}'` });
    }
  }
  (m.exports?.schemas ?? []).forEach((name, index) => {
    if (!(name in schemas)) {
      problems.push({
        path: pointer("exports", "schemas", index),
        rule: "schema-ref",
        message: `contract exports reference unknown schema '${name}'`,
      });
    }
  });
  if (new Set(m.exports?.schemas ?? []).size !== (m.exports?.schemas ?? []).length) {
    problems.push({
      path: "/exports/schemas",
      rule: "unique-items",
      message: "exports.schemas must not repeat a name",
    });
  }
  for (const [name, op] of Object.entries(m.operations ?? {})) {
    if (op.transfer && !m.resources?.store?.[op.transfer.store]) {
      problems.push({
        path: pointer("operations", name, "transfer", "store"),
        rule: "transfer-store",
        message: `Operation '${name}' references unknown store resource '${op.transfer.store}'`,
      });
    }
  }
  return problems;
}

function subjectProblems(m: ContractManifest): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const sections = [
    ["rpc", m.rpc],
    ["operations", m.operations],
    ["events", m.events],
    ["feeds", m.feeds],
  ] as const;
  for (const [kind, section] of sections) {
    for (const [name, surface] of Object.entries(section ?? {})) {
      const message = validateSurfaceSubject(kind, surface.subject, surface.version);
      if (message) problems.push({ path: pointer(kind, name, "subject"), rule: "subject", message });
    }
  }
  const schemas = m.schemas ?? {};
  for (const [name, event] of Object.entries(m.events ?? {})) {
    problems.push(...validateEventSubject(name, event, schemas));
  }
  return problems;
}

function eventConsumerProblems(m: ContractManifest): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const aliases = { ...m.uses?.optional, ...m.uses?.required };
  for (const [group, desc] of Object.entries(m.eventConsumers ?? {})) {
    const at = (...segments: (string | number)[]) => pointer("eventConsumers", group, ...segments);
    const add = (path: string, message: string) =>
      problems.push({ path, rule: "event-consumer", message: `event consumer group '${group}' ${message}` });
    const useEntries = Object.entries(desc.uses ?? {});
    if (useEntries.length === 0 && (desc.self ?? []).length === 0) {
      add(at(), "must declare at least one dependency or self event");
    }
    if (desc.ordering === "strict" && desc.concurrency !== undefined && desc.concurrency !== 1) {
      add(at("concurrency"), "with strict ordering requires concurrency 1");
    }
    for (const [alias, events] of useEntries) {
      const use = aliases[alias];
      if (!use) {
        add(at("uses", alias), `references unknown use '${alias}'`);
        continue;
      }
      if (!use.events?.subscribe) {
        add(at("uses", alias), `use '${alias}' must declare events`);
        continue;
      }
      events.forEach((event, index) => {
        if (!use.events?.subscribe?.includes(event)) {
          add(
            at("uses", alias, index),
            `references event '${event}' that use '${alias}' does not subscribe to`,
          );
        }
      });
    }
    (desc.self ?? []).forEach((event, index) => {
      if (!m.events?.[event]) add(at("self", index), `references unknown owned event '${event}'`);
    });
  }
  return problems;
}

/**
 * Checks `value` against every manifest rule. On success returns the normalized manifest; on failure a
 * {@link ContractValidationError} listing every problem found.
 */
export function validateContractManifest(value: unknown): Result<ContractManifest, ContractValidationError> {
  if (!isRecord(value)) {
    return Result.err(
      new ContractValidationError([{ path: "", rule: "object", message: "Expected object JSON value" }]),
    );
  }
  try {
    assertJsonValue(value);
  } catch (error) {
    if (!(error instanceof NonJsonValueError)) throw error;
    return Result.err(
      new ContractValidationError([{ path: error.path, rule: "pure-json", message: error.message }]),
    );
  }
  const problems = forbiddenSections(value);
  const reported = new Set(problems.map((problem) => problem.path));
  const shape = ContractManifestSchema.safeParse(value);
  if (!shape.success) {
    for (const problem of shapeProblems(shape.error.issues)) {
      const known = [...reported].some(
        (path) => problem.path === path || problem.path.startsWith(`${path}/`),
      );
      // zod reports forbidden keys again as unrecognized keys of their parent.
      const duplicate =
        problem.rule === "shape:unrecognized_keys" &&
        problems.some((p) => p.path.startsWith(`${problem.path}/`));
      if (!known && !duplicate) problems.push(problem);
    }
    return Result.err(new ContractValidationError(problems));
  }
  const manifest = normalizeContractManifest(shape.data);
  for (const [name, schema] of Object.entries(manifest.schemas ?? {}))
    problems.push(...embeddedSchemaProblems(name, schema));
  problems.push(
    ...referenceProblems(manifest),
    ...subjectProblems(manifest),
    ...eventConsumerProblems(manifest),
  );
  return problems.length > 0 ? Result.err(new ContractValidationError(problems)) : Result.ok(manifest);
}

/**
 * Validates and normalizes a manifest; throws {@link ContractValidationError} listing every problem
 * (JSON path, rule and message) when it is invalid.
 */
export function parseContractManifest(value: unknown): ContractManifest {
  return validateContractManifest(value).unwrap();
}
