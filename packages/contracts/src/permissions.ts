/**
 * NATS permission derivation (contracts spec §8.2, §8.3).
 *
 * Permissions come only from `uses`, the platform baseline and resource bindings: holding a
 * capability never grants a subject by itself. Each rule names one subject (in wildcard form), the
 * capabilities a session must hold *all* of, and the contract surface it belongs to.
 */
import { holdsAllCapabilities, SERVICE_CAPABILITY } from "./capabilities.js";
import type {
  ContractManifest,
  ContractUse,
  EventDescriptor,
  Feed,
  Operation,
  RpcMethod,
} from "./manifest.js";
import { sortedUnique } from "./normalize.js";
import {
  AUTH_REQUESTS_VALIDATE_SUBJECT,
  clientInboxSubscription,
  JOBS_ADMIN_CONSUMERS,
  JOBS_STREAM,
  JOBS_STREAM_SUBJECTS,
  JOBS_WORK_STREAM,
  operationControlSubject,
  operationStoreBucket,
  SubjectNameError,
  subjectNamespace,
  TRANSFER_DOWNLOAD_CALLER_SUBJECT,
  TRANSFER_UPLOAD_CALLER_SUBJECT,
  templateToWildcard,
  transferDownloadSubscription,
  transferUploadSubscription,
} from "./subjects.js";

// ---------------------------------------------------------------------------------------------
// Rules

/** What a permission rule belongs to. `rpc|operation|event|feed` (and `transfer`, via its surface) are contract surfaces. */
export type PermissionSurfaceKind =
  | "rpc"
  | "operation"
  | "event"
  | "feed"
  | "transfer"
  | "inbox"
  | "kv"
  | "platform"
  | "jobs";

/**
 * What the rule lets a session do:
 * - `call` (rpc/operation start), `observe` / `cancel` (operation control), `publish` / `subscribe` (events,
 *   feeds: a feed subscription publishes a request), `upload` / `download` (transfers);
 * - `handle` / `control` (a service serving its own rpc, operation, feed or operation control subject);
 * - `inbox`, `operation-store`, `validate`, `jobs-admin` for platform grants.
 */
export type PermissionAction =
  | "call"
  | "observe"
  | "cancel"
  | "publish"
  | "subscribe"
  | "upload"
  | "download"
  | "handle"
  | "control"
  | "inbox"
  | "operation-store"
  | "validate"
  | "jobs-admin";

/** The surface a rule belongs to. For `transfer` rules `name` is the operation (upload) or RPC (download). */
export interface PermissionSurface {
  /** Contract id owning the surface (the session's own id for platform grants). */
  contractId: string;
  /** Surface family. */
  kind: PermissionSurfaceKind;
  /** Logical surface name, bucket name or platform grant name. */
  name: string;
  /** What the rule allows. */
  action: PermissionAction;
}

/** One NATS subject a session may publish or subscribe to, under an all-of capability requirement. */
export interface PermissionRule {
  /** The subject in wildcard form (`{...}` template tokens replaced by `*`). */
  subject: string;
  /** Capabilities the session must hold all of; empty means "authenticated, nothing more". Sorted, unique. */
  requiredCapabilities: string[];
  /** Where the rule comes from. */
  surface: PermissionSurface;
}

/** Looks up an active contract by id; `undefined` when it is unknown or inactive. */
export type ContractResolver = (contractId: string) => ContractManifest | undefined;

/** A `uses` entry (or one surface of it) that did not resolve and so granted nothing. */
export interface UnresolvedUse {
  /** The alias under `uses.required` / `uses.optional`. */
  alias: string;
  /** The contract id the alias references. */
  contractId: string;
  /** True for `uses.optional` aliases (skipped silently at runtime); required ones fail closed. */
  optional: boolean;
  /** `unknown`: the contract does not resolve; `missing`: it resolves but lacks the selected surface. */
  reason: "unknown" | "missing";
  /** The missing surface, for `missing`. */
  surface?: { kind: "rpc" | "operation" | "event" | "feed"; name: string };
}

/** The rules of one session. */
export interface SessionPermissions {
  /** Publish rules. */
  publish: PermissionRule[];
  /** Subscribe rules. */
  subscribe: PermissionRule[];
  /** `uses` entries that granted nothing because they did not resolve. */
  unresolved: UnresolvedUse[];
  /** `resp.max`: how many replies the session may send per request it receives. */
  respMax: number;
}

/** `resp.max` of service sessions: bounded multi-reply for operation `watch` and streamed `wait`. */
export const SERVICE_RESP_MAX = 65535;

/** `resp.max` of user, app, agent and device sessions. */
export const CLIENT_RESP_MAX = 1;

function rule(
  subject: string,
  requiredCapabilities: readonly string[],
  contractId: string,
  kind: PermissionSurfaceKind,
  name: string,
  action: PermissionAction,
): PermissionRule {
  return {
    subject: templateToWildcard(subject),
    requiredCapabilities: sortedUnique(requiredCapabilities),
    surface: { contractId, kind, name, action },
  };
}

function sortedEntries<V>(record: Readonly<Record<string, V>> | undefined): [string, V][] {
  return Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function ownValue<V>(record: Readonly<Record<string, V>> | undefined, key: string): V | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

function ruleKey(permission: PermissionRule): string {
  const { surface } = permission;
  return JSON.stringify([
    permission.subject,
    permission.requiredCapabilities,
    surface.contractId,
    surface.kind,
    surface.name,
    surface.action,
  ]);
}

function uniqueRules(rules: readonly PermissionRule[]): PermissionRule[] {
  const seen = new Set<string>();
  return rules.filter((permission) => {
    const key = ruleKey(permission);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Capability defaults of operations

/** Capabilities needed to observe (get/wait/watch) an operation: `observe ?? call ?? []`. */
export function operationObserveCapabilities(operation: Operation): string[] {
  return sortedUnique(operation.capabilities?.observe ?? operation.capabilities?.call ?? []);
}

/** Capabilities needed to cancel an operation, or `undefined` when it has no cancel right (needs `cancel: true` and `capabilities.cancel`). */
export function operationCancelCapabilities(operation: Operation): string[] | undefined {
  const cancel = operation.capabilities?.cancel;
  return operation.cancel === true && cancel !== undefined ? sortedUnique(cancel) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Caller rules (from uses)

/** Publish rules for calling an RPC: its subject [call caps], plus the download wildcard [call caps] for `transfer.direction: "receive"`. */
function rpcCallRules(contractId: string, name: string, method: RpcMethod): PermissionRule[] {
  const call = method.capabilities?.call ?? [];
  const rules = [rule(method.subject, call, contractId, "rpc", name, "call")];
  if (method.transfer?.direction === "receive") {
    rules.push(rule(TRANSFER_DOWNLOAD_CALLER_SUBJECT, call, contractId, "transfer", name, "download"));
  }
  return rules;
}

/**
 * Publish rules for calling an operation: its subject [call caps], `<subject>.control` [observe caps],
 * `<subject>.control` again [cancel caps] when it can be cancelled, and the upload wildcard [call caps]
 * for `transfer.direction: "send"`.
 */
function operationCallRules(contractId: string, name: string, operation: Operation): PermissionRule[] {
  const call = operation.capabilities?.call ?? [];
  const control = operationControlSubject(operation.subject);
  const rules = [
    rule(operation.subject, call, contractId, "operation", name, "call"),
    rule(control, operationObserveCapabilities(operation), contractId, "operation", name, "observe"),
  ];
  const cancel = operationCancelCapabilities(operation);
  if (cancel) rules.push(rule(control, cancel, contractId, "operation", name, "cancel"));
  if (operation.transfer?.direction === "send") {
    rules.push(rule(TRANSFER_UPLOAD_CALLER_SUBJECT, call, contractId, "transfer", name, "upload"));
  }
  return rules;
}

/** Publish rule for publishing an event: its wildcard subject [publish caps]. */
function eventPublishRule(contractId: string, name: string, event: EventDescriptor): PermissionRule {
  return rule(event.subject, event.capabilities?.publish ?? [], contractId, "event", name, "publish");
}

/** Subscribe rule for receiving an event: its wildcard subject [subscribe caps]. */
function eventSubscribeRule(contractId: string, name: string, event: EventDescriptor): PermissionRule {
  return rule(event.subject, event.capabilities?.subscribe ?? [], contractId, "event", name, "subscribe");
}

/** Publish rule for subscribing to a feed: the feed subject is a request subject [subscribe caps]. */
function feedSubscribeRule(contractId: string, name: string, feed: Feed): PermissionRule {
  return rule(feed.subject, feed.capabilities?.subscribe ?? [], contractId, "feed", name, "subscribe");
}

interface UsesRules {
  publish: PermissionRule[];
  subscribe: PermissionRule[];
  unresolved: UnresolvedUse[];
}

/** Required aliases first, then optional aliases not shadowed by a required alias of the same name. */
function useEntries(manifest: ContractManifest): { alias: string; use: ContractUse; optional: boolean }[] {
  const required = sortedEntries(manifest.uses?.required);
  const requiredAliases = new Set(required.map(([alias]) => alias));
  const optional = sortedEntries(manifest.uses?.optional).filter(([alias]) => !requiredAliases.has(alias));
  return [
    ...required.map(([alias, use]) => ({ alias, use, optional: false })),
    ...optional.map(([alias, use]) => ({ alias, use, optional: true })),
  ];
}

/** Caller rules of every resolved `uses` selector; unresolved aliases and surfaces are reported instead. */
function usesRules(manifest: ContractManifest, resolveContract: ContractResolver): UsesRules {
  const out: UsesRules = { publish: [], subscribe: [], unresolved: [] };
  for (const { alias, use, optional } of useEntries(manifest)) {
    const contractId = use.contract;
    const target = resolveContract(contractId);
    if (!target) {
      out.unresolved.push({ alias, contractId, optional, reason: "unknown" });
      continue;
    }
    const missing = (kind: "rpc" | "operation" | "event" | "feed", name: string) =>
      out.unresolved.push({ alias, contractId, optional, reason: "missing", surface: { kind, name } });
    for (const name of sortedUnique(use.rpc?.call ?? [])) {
      const method = ownValue(target.rpc, name);
      if (method) out.publish.push(...rpcCallRules(contractId, name, method));
      else missing("rpc", name);
    }
    for (const name of sortedUnique(use.operations?.call ?? [])) {
      const operation = ownValue(target.operations, name);
      if (operation) out.publish.push(...operationCallRules(contractId, name, operation));
      else missing("operation", name);
    }
    for (const name of sortedUnique(use.events?.publish ?? [])) {
      const event = ownValue(target.events, name);
      if (event) out.publish.push(eventPublishRule(contractId, name, event));
      else missing("event", name);
    }
    for (const name of sortedUnique(use.events?.subscribe ?? [])) {
      const event = ownValue(target.events, name);
      if (event) out.subscribe.push(eventSubscribeRule(contractId, name, event));
      else missing("event", name);
    }
    for (const name of sortedUnique(use.feeds?.subscribe ?? [])) {
      const feed = ownValue(target.feeds, name);
      if (feed) out.publish.push(feedSubscribeRule(contractId, name, feed));
      else missing("feed", name);
    }
  }
  return out;
}

/** Subscribe rule for the session's own inbox: `_INBOX.<sessionKey[0:16]>.>` (no capability). */
function inboxRule(contractId: string, sessionKey: string): PermissionRule {
  return rule(clientInboxSubscription(sessionKey), [], contractId, "inbox", "inbox", "inbox");
}

/** Input of {@link deriveCallerPermissions}. */
export interface CallerPermissionsInput {
  /** The session's contract (app, agent, device, or a user acting through one). */
  contract: ContractManifest;
  /** Resolves the contracts its `uses` reference. */
  resolveContract: ContractResolver;
  /** The session's public key; its first 16 characters scope the inbox. */
  sessionKey: string;
}

/**
 * Rules of a user/app/agent/device session, from the resolved `uses` of its contract (required and
 * optional groups; required wins over a same-named optional alias):
 * - publish: used RPC subjects [call caps] (+ `transfer.v1.download.*.*` for receiving RPCs); used
 *   operation subjects [call caps], `.control` [observe ?? call ?? []], `.control` [cancel caps] when
 *   cancellable (+ `transfer.v1.upload.*.*` for sending operations); `events.publish` wildcards [publish
 *   caps]; `feeds.subscribe` request subjects [subscribe caps];
 * - subscribe: `events.subscribe` wildcards [subscribe caps] and always `_INBOX.<sessionKey[0:16]>.>`;
 * - unresolvable aliases and surfaces grant nothing and are listed in `unresolved`.
 */
export function deriveCallerPermissions(input: CallerPermissionsInput): SessionPermissions {
  const { contract, resolveContract, sessionKey } = input;
  const used = usesRules(contract, resolveContract);
  return {
    publish: uniqueRules(used.publish),
    subscribe: uniqueRules([...used.subscribe, inboxRule(contract.id, sessionKey)]),
    unresolved: used.unresolved,
    respMax: CLIENT_RESP_MAX,
  };
}

// ---------------------------------------------------------------------------------------------
// Service rules

/** Input of {@link deriveServicePermissions}. */
export interface ServicePermissionsInput extends CallerPermissionsInput {
  /** Whether the service principal holds the `service` capability (default true); without it, only owned events and uses are granted. */
  holdsServiceCapability?: boolean;
  /** Whether the service implements `trellis.jobs@v1` at the builtin digest and so gets the jobs-admin grants. */
  implementsJobsAdmin?: boolean;
}

function platformRules(
  contractId: string,
  subjects: readonly string[],
  kind: PermissionSurfaceKind,
  name: string,
  action: PermissionAction,
): PermissionRule[] {
  return subjects.map((subject) => rule(subject, [SERVICE_CAPABILITY], contractId, kind, name, action));
}

/**
 * Rules of a service session whose contract is the offered digest:
 * - publish: owned event wildcards [no caps]; caller rules of its uses; with `service`: KV grants of its
 *   operation store `trellis_operations_<sessionKey[0:16]>` (with create), `rpc.v1.Auth.Requests.Validate`,
 *   and the jobs-admin grants when `implementsJobsAdmin`;
 * - subscribe: owned event wildcards [owned subscribe caps]; used `events.subscribe`; with `service`:
 *   owned RPC subjects, operation subjects and their `.control`, feed subjects, and
 *   `transfer.v1.upload|download.<sessionKey[0:16]>.*` when an owned operation sends / RPC receives;
 *   always `_INBOX.<sessionKey[0:16]>.>`.
 * Rules gated by the service principal require `["service"]`. `respMax` is 65535.
 */
export function deriveServicePermissions(input: ServicePermissionsInput): SessionPermissions {
  const { contract, resolveContract, sessionKey } = input;
  const holdsService = input.holdsServiceCapability ?? true;
  const id = contract.id;
  const used = usesRules(contract, resolveContract);
  const publish: PermissionRule[] = [];
  const subscribe: PermissionRule[] = [];

  for (const [name, event] of sortedEntries(contract.events)) {
    publish.push(rule(event.subject, [], id, "event", name, "publish"));
    subscribe.push(eventSubscribeRule(id, name, event));
  }
  publish.push(...used.publish);
  subscribe.push(...used.subscribe);

  if (holdsService) {
    const bucket = operationStoreBucket(sessionKey);
    publish.push(
      ...platformRules(id, kvResourceGrants(bucket, { create: true }), "kv", bucket, "operation-store"),
    );
    publish.push(
      ...platformRules(
        id,
        [AUTH_REQUESTS_VALIDATE_SUBJECT],
        "platform",
        "Auth.Requests.Validate",
        "validate",
      ),
    );
    if (input.implementsJobsAdmin)
      publish.push(...platformRules(id, jobsAdminGrants(), "jobs", "admin", "jobs-admin"));

    const service = [SERVICE_CAPABILITY];
    for (const [name, method] of sortedEntries(contract.rpc)) {
      subscribe.push(rule(method.subject, service, id, "rpc", name, "handle"));
      if (method.transfer?.direction === "receive") {
        subscribe.push(
          rule(transferDownloadSubscription(sessionKey), service, id, "transfer", name, "download"),
        );
      }
    }
    for (const [name, operation] of sortedEntries(contract.operations)) {
      subscribe.push(rule(operation.subject, service, id, "operation", name, "handle"));
      subscribe.push(
        rule(operationControlSubject(operation.subject), service, id, "operation", name, "control"),
      );
      if (operation.transfer?.direction === "send") {
        subscribe.push(rule(transferUploadSubscription(sessionKey), service, id, "transfer", name, "upload"));
      }
    }
    for (const [name, feed] of sortedEntries(contract.feeds)) {
      subscribe.push(rule(feed.subject, service, id, "feed", name, "handle"));
    }
  }
  subscribe.push(inboxRule(id, sessionKey));

  return {
    publish: uniqueRules(publish),
    subscribe: uniqueRules(subscribe),
    unresolved: used.unresolved,
    respMax: SERVICE_RESP_MAX,
  };
}

// ---------------------------------------------------------------------------------------------
// Resource grants (exact subjects only)

/** Options of {@link kvResourceGrants}. */
export interface KvResourceGrantOptions {
  /** Also allow creating the bucket's stream (the operation store is created by its service). */
  create?: boolean;
}

function requireStreamToken(label: string, value: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) {
    throw new SubjectNameError(`${label} '${value}' is not a valid stream or consumer name`, {
      context: { [label]: value },
    });
  }
  return value;
}

/**
 * Publish grants for using KV bucket `B`: `$KV.B.>`, stream info (and create, when asked) of `KV_B`,
 * direct get, consumer create/info/delete/next on `KV_B`, acks on `KV_B`, and `$JS.API.INFO`.
 */
export function kvResourceGrants(bucket: string, options: KvResourceGrantOptions = {}): string[] {
  const stream = `KV_${requireStreamToken("bucket", bucket)}`;
  return [
    `$KV.${bucket}.>`,
    `$JS.API.STREAM.INFO.${stream}`,
    ...(options.create ? [`$JS.API.STREAM.CREATE.${stream}`] : []),
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
    "$JS.API.INFO",
  ];
}

/**
 * Publish grants for pulling from one durable event consumer: consumer info and next-message on
 * `<stream>.<consumer>`, and acks `$JS.ACK.<stream>.<consumer>.>`. Never a broad consumer-create grant.
 */
export function eventConsumerGrants(stream: string, consumer: string): string[] {
  const target = `${requireStreamToken("stream", stream)}.${requireStreamToken("consumer", consumer)}`;
  return [`$JS.API.CONSUMER.INFO.${target}`, `$JS.API.CONSUMER.MSG.NEXT.${target}`, `$JS.ACK.${target}.>`];
}

/**
 * Publish grants of the Jobs admin runtime: lifecycle events on `trellis.jobs.>`, reads of the JOBS
 * stream (direct and message get) and of JOBS_WORK work items, and pulls from its own durable consumers.
 */
export function jobsAdminGrants(): string[] {
  return [
    JOBS_STREAM_SUBJECTS,
    `$JS.API.DIRECT.GET.${JOBS_STREAM}`,
    `$JS.API.DIRECT.GET.${JOBS_STREAM}.>`,
    `$JS.API.STREAM.MSG.GET.${JOBS_STREAM}`,
    `$JS.API.STREAM.MSG.GET.${JOBS_WORK_STREAM}`,
    ...Object.values(JOBS_ADMIN_CONSUMERS).flatMap(({ stream, consumer }) =>
      eventConsumerGrants(stream, consumer),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Granting

/**
 * The authority key of a rule's surface, `${contractId}:${kind}:${name}`, or `undefined` for platform
 * grants (inbox, KV, Validate, jobs admin), which no authority set gates. Transfer rules are keyed by
 * the operation (upload) or RPC (download) they serve.
 */
export function authoritySurfaceKey(surface: PermissionSurface): string | undefined {
  switch (surface.kind) {
    case "rpc":
    case "operation":
    case "event":
    case "feed":
      return `${surface.contractId}:${surface.kind}:${surface.name}`;
    case "transfer":
      return `${surface.contractId}:${surface.action === "upload" ? "operation" : "rpc"}:${surface.name}`;
    default:
      return undefined;
  }
}

/**
 * The de-duplicated subjects (in rule order) of the rules whose required capabilities are all held
 * (an empty list is always granted) and, when `authoritySurfaces` is given, whose surface key (see
 * {@link authoritySurfaceKey}) is in it.
 */
export function grantedSubjects(
  rules: readonly PermissionRule[],
  heldCapabilities: Iterable<string>,
  authoritySurfaces?: ReadonlySet<string>,
): string[] {
  const held = new Set(heldCapabilities);
  const subjects = new Set<string>();
  for (const permission of rules) {
    if (!holdsAllCapabilities(held, permission.requiredCapabilities)) continue;
    const key = authoritySurfaceKey(permission.surface);
    if (authoritySurfaces && key !== undefined && !authoritySurfaces.has(key)) continue;
    subjects.add(permission.subject);
  }
  return [...subjects];
}

// ---------------------------------------------------------------------------------------------
// Analysis record

/** An RPC method of the analysis record. */
export interface AnalyzedRpcMethod {
  key: string;
  subject: string;
  wildcardSubject: string;
  callerCapabilities: string[];
}

/** An operation of the analysis record. */
export interface AnalyzedOperation {
  key: string;
  subject: string;
  wildcardSubject: string;
  controlSubject: string;
  wildcardControlSubject: string;
  callCapabilities: string[];
  /** `observe ?? call ?? []`. */
  observeCapabilities: string[];
  /** Empty when the operation cannot be cancelled. */
  cancelCapabilities: string[];
  cancel: boolean;
}

/** One control action of an operation and the capabilities it needs. */
export interface AnalyzedOperationControl {
  operation: string;
  action: "get" | "wait" | "watch" | "cancel";
  subject: string;
  requiredCapabilities: string[];
}

/** An event of the analysis record. */
export interface AnalyzedEvent {
  key: string;
  subject: string;
  wildcardSubject: string;
  params: string[];
  publishCapabilities: string[];
  subscribeCapabilities: string[];
}

/** Kinds of NATS publish entries. */
export type NatsPublishKind = "rpc:call" | "operation:call" | "operation:control" | "event:publish";
/** Kinds of NATS subscribe entries. */
export type NatsSubscribeKind = "rpc:handle" | "operation:handle" | "operation:control" | "event:subscribe";

/** One subject of the analysis record with the capabilities it needs. */
export interface NatsSubjectEntry<K extends string> {
  kind: K;
  /** Surface key (logical name). */
  key: string;
  /** Wildcard subject. */
  subject: string;
  requiredCapabilities: string[];
}

/** Counts of the analysis record. */
export interface ContractAnalysisSummary {
  rpcMethods: number;
  operations: number;
  operationControls: number;
  events: number;
  natsPublish: number;
  natsSubscribe: number;
  kvResources: number;
  storeResources: number;
  jobsQueues: number;
  namespaces: number;
}

/** What a contract exposes on NATS and what each subject needs (§8.3). */
export interface ContractAnalysis {
  contractId: string;
  rpcMethods: AnalyzedRpcMethod[];
  operations: AnalyzedOperation[];
  operationControls: AnalyzedOperationControl[];
  events: AnalyzedEvent[];
  nats: {
    publish: NatsSubjectEntry<NatsPublishKind>[];
    subscribe: NatsSubjectEntry<NatsSubscribeKind>[];
  };
  /** Sorted unique namespace tokens (token 2) of the rpc, operation and event subjects. */
  namespaces: string[];
  summary: ContractAnalysisSummary;
}

/**
 * The analysis record of a contract's owned surfaces: callers publish `rpc:call` [call caps],
 * `operation:call` [call caps], `operation:control` [observe caps; and cancel caps when cancellable],
 * `event:publish` [publish caps]; the service subscribes `rpc:handle`, `operation:handle` and
 * `operation:control` [`service`] and `event:subscribe` [subscribe caps]. Entries are sorted by key.
 */
export function analyzeContract(manifest: ContractManifest): ContractAnalysis {
  const rpcMethods: AnalyzedRpcMethod[] = [];
  const operations: AnalyzedOperation[] = [];
  const operationControls: AnalyzedOperationControl[] = [];
  const events: AnalyzedEvent[] = [];
  const publish: NatsSubjectEntry<NatsPublishKind>[] = [];
  const subscribe: NatsSubjectEntry<NatsSubscribeKind>[] = [];
  const namespaces: string[] = [];
  const service = [SERVICE_CAPABILITY];

  for (const [key, method] of sortedEntries(manifest.rpc)) {
    const wildcardSubject = templateToWildcard(method.subject);
    const callerCapabilities = sortedUnique(method.capabilities?.call ?? []);
    rpcMethods.push({ key, subject: method.subject, wildcardSubject, callerCapabilities });
    publish.push({
      kind: "rpc:call",
      key,
      subject: wildcardSubject,
      requiredCapabilities: callerCapabilities,
    });
    subscribe.push({ kind: "rpc:handle", key, subject: wildcardSubject, requiredCapabilities: service });
    namespaces.push(subjectNamespace(method.subject) ?? "");
  }

  for (const [key, operation] of sortedEntries(manifest.operations)) {
    const wildcardSubject = templateToWildcard(operation.subject);
    const controlSubject = operationControlSubject(operation.subject);
    const wildcardControlSubject = templateToWildcard(controlSubject);
    const callCapabilities = sortedUnique(operation.capabilities?.call ?? []);
    const observeCapabilities = operationObserveCapabilities(operation);
    const cancelCapabilities = operationCancelCapabilities(operation);
    operations.push({
      key,
      subject: operation.subject,
      wildcardSubject,
      controlSubject,
      wildcardControlSubject,
      callCapabilities,
      observeCapabilities,
      cancelCapabilities: cancelCapabilities ?? [],
      cancel: operation.cancel === true,
    });
    for (const action of ["get", "wait", "watch"] as const) {
      operationControls.push({
        operation: key,
        action,
        subject: wildcardControlSubject,
        requiredCapabilities: observeCapabilities,
      });
    }
    if (cancelCapabilities) {
      operationControls.push({
        operation: key,
        action: "cancel",
        subject: wildcardControlSubject,
        requiredCapabilities: cancelCapabilities,
      });
    }
    publish.push({
      kind: "operation:call",
      key,
      subject: wildcardSubject,
      requiredCapabilities: callCapabilities,
    });
    publish.push({
      kind: "operation:control",
      key,
      subject: wildcardControlSubject,
      requiredCapabilities: observeCapabilities,
    });
    if (cancelCapabilities) {
      publish.push({
        kind: "operation:control",
        key,
        subject: wildcardControlSubject,
        requiredCapabilities: cancelCapabilities,
      });
    }
    subscribe.push({
      kind: "operation:handle",
      key,
      subject: wildcardSubject,
      requiredCapabilities: service,
    });
    subscribe.push({
      kind: "operation:control",
      key,
      subject: wildcardControlSubject,
      requiredCapabilities: service,
    });
    namespaces.push(subjectNamespace(operation.subject) ?? "");
  }

  for (const [key, event] of sortedEntries(manifest.events)) {
    const wildcardSubject = templateToWildcard(event.subject);
    const publishCapabilities = sortedUnique(event.capabilities?.publish ?? []);
    const subscribeCapabilities = sortedUnique(event.capabilities?.subscribe ?? []);
    events.push({
      key,
      subject: event.subject,
      wildcardSubject,
      params: [...(event.params ?? [])],
      publishCapabilities,
      subscribeCapabilities,
    });
    publish.push({
      kind: "event:publish",
      key,
      subject: wildcardSubject,
      requiredCapabilities: publishCapabilities,
    });
    subscribe.push({
      kind: "event:subscribe",
      key,
      subject: wildcardSubject,
      requiredCapabilities: subscribeCapabilities,
    });
    namespaces.push(subjectNamespace(event.subject) ?? "");
  }

  const uniqueNamespaces = sortedUnique(namespaces.filter((namespace) => namespace !== ""));
  return {
    contractId: manifest.id,
    rpcMethods,
    operations,
    operationControls,
    events,
    nats: { publish, subscribe },
    namespaces: uniqueNamespaces,
    summary: {
      rpcMethods: rpcMethods.length,
      operations: operations.length,
      operationControls: operationControls.length,
      events: events.length,
      natsPublish: publish.length,
      natsSubscribe: subscribe.length,
      kvResources: Object.keys(manifest.resources?.kv ?? {}).length,
      storeResources: Object.keys(manifest.resources?.store ?? {}).length,
      jobsQueues: Object.keys(manifest.jobs ?? {}).length,
      namespaces: uniqueNamespaces.length,
    },
  };
}
