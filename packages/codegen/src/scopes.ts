/**
 * The auth scope summary of a contract (`generated/contracts/scopes/<id>.json`), for a reviewer:
 * the capabilities involved with their display names and consequences, and the NATS subjects its
 * participants get. Subjects come from the control plane's own derivation (`deriveServicePermissions`,
 * `deriveCallerPermissions`, `analyzeContract` in `@trellis/contracts`):
 * - `participant`: the contract's own sessions: a service's instances, or the users signed in
 *   through an app, agent or device (their uses plus their own event publishes, as approval plans them);
 * - `callers` (contracts that own surfaces): what a session that uses every owned surface gets.
 * Session-scoped subjects show the session key prefix as `<session>`.
 */
import {
  analyzeContract,
  type CapabilityMetadata,
  type ContractManifest,
  type ContractResolver,
  deriveCallerPermissions,
  deriveServicePermissions,
  type PermissionRule,
  sessionKeyPrefix,
  sortedUnique,
  type UnresolvedUse,
} from "@trellis/contracts";

/** Format tag of scope files. */
export const SCOPES_FORMAT = "trellis.scopes.v1";

/** A stand-in session key; its prefix is shown as `<session>`. */
const STAND_IN_SESSION_KEY = "SESSIONKEYPREFIX0000000000000000000000000000";
const STAND_IN_PREFIX = sessionKeyPrefix(STAND_IN_SESSION_KEY);
const SESSION_PLACEHOLDER = "<session>";

/** Display metadata of the platform capabilities. */
const PLATFORM_CAPABILITIES: Record<string, CapabilityMetadata> = {
  admin: {
    displayName: "Administer Trellis",
    description: "Full administrative access to the Trellis platform.",
    consequence: "Holders can change users, deployments and grants.",
  },
  service: {
    displayName: "Run as a service",
    description: "Held by service instances: serve the contract's own surfaces.",
  },
};

/** One capability of the summary. */
export interface ScopeCapability extends CapabilityMetadata {
  /** The contract that defines it, or `platform`. */
  definedBy: string;
}

/** One subject of the summary: a permission rule with its surface written out. */
export interface ScopeRule {
  /** The subject in wildcard form. */
  subject: string;
  /** Capabilities a session needs all of to get it. */
  requiredCapabilities: string[];
  /** `<contract id> <kind> <name> <action>`. */
  surface: string;
}

/** The subjects one kind of participant gets. */
export interface ScopeSubjects {
  publish: ScopeRule[];
  subscribe: ScopeRule[];
  /** `uses` entries that granted nothing because they do not resolve (present when any). */
  unresolved?: UnresolvedUse[];
}

/** The content of a scope file. */
export interface ScopeSummary {
  format: typeof SCOPES_FORMAT;
  contractId: string;
  contractDigest: string;
  kind: ContractManifest["kind"];
  displayName: string;
  description: string;
  capabilities: Record<string, ScopeCapability>;
  participant: ScopeSubjects;
  callers?: ScopeSubjects;
}

function placeholder(rules: readonly PermissionRule[]): ScopeRule[] {
  return rules.map(({ subject, requiredCapabilities, surface }) => ({
    subject: subject.replaceAll(STAND_IN_PREFIX, SESSION_PLACEHOLDER),
    requiredCapabilities,
    surface: `${surface.contractId} ${surface.kind} ${surface.name} ${surface.action}`.replaceAll(
      STAND_IN_PREFIX,
      SESSION_PLACEHOLDER,
    ),
  }));
}

/** The subjects of the contract's own sessions. */
function participantSubjects(manifest: ContractManifest, resolveContract: ContractResolver): ScopeSubjects {
  const input = { contract: manifest, resolveContract, sessionKey: STAND_IN_SESSION_KEY };
  if (manifest.kind === "service") {
    const permissions = deriveServicePermissions(input);
    return {
      publish: placeholder(permissions.publish),
      subscribe: placeholder(permissions.subscribe),
      ...(permissions.unresolved.length > 0 && { unresolved: permissions.unresolved }),
    };
  }
  const permissions = deriveCallerPermissions(input);
  const ownEvents: PermissionRule[] = analyzeContract(manifest)
    .nats.publish.filter((entry) => entry.kind === "event:publish")
    .map((entry) => ({
      subject: entry.subject,
      requiredCapabilities: entry.requiredCapabilities,
      surface: { contractId: manifest.id, kind: "event", name: entry.key, action: "publish" },
    }));
  return {
    publish: placeholder([...permissions.publish, ...ownEvents]),
    subscribe: placeholder(permissions.subscribe),
    ...(permissions.unresolved.length > 0 && { unresolved: permissions.unresolved }),
  };
}

/** What a caller that uses every owned surface gets, or `undefined` when the contract owns none. */
function callerSubjects(manifest: ContractManifest): ScopeSubjects | undefined {
  const keys = (record: Record<string, unknown> | undefined) => Object.keys(record ?? {}).sort();
  const rpc = keys(manifest.rpc);
  const operations = keys(manifest.operations);
  const events = keys(manifest.events);
  const feeds = keys(manifest.feeds);
  if (rpc.length + operations.length + events.length + feeds.length === 0) return undefined;
  const caller: ContractManifest = {
    format: manifest.format,
    id: "caller@v1",
    displayName: "Caller",
    description: "Uses every surface of the contract.",
    kind: "agent",
    uses: {
      required: {
        target: {
          contract: manifest.id,
          ...(rpc.length > 0 && { rpc: { call: rpc } }),
          ...(operations.length > 0 && { operations: { call: operations } }),
          ...(events.length > 0 && { events: { publish: events, subscribe: events } }),
          ...(feeds.length > 0 && { feeds: { subscribe: feeds } }),
        },
      },
    },
  };
  const permissions = deriveCallerPermissions({
    contract: caller,
    resolveContract: (id) => (id === manifest.id ? manifest : undefined),
    sessionKey: STAND_IN_SESSION_KEY,
  });
  return {
    publish: placeholder(permissions.publish),
    subscribe: placeholder(permissions.subscribe.filter((rule) => rule.surface.kind !== "inbox")),
  };
}

/** Builds the scope summary of a manifest; `resolveContract` finds the contracts it uses. */
export function scopeSummary(
  manifest: ContractManifest,
  digest: string,
  resolveContract: ContractResolver,
): ScopeSummary {
  const participant = participantSubjects(manifest, resolveContract);
  const callers = callerSubjects(manifest);
  const rules = [
    ...participant.publish,
    ...participant.subscribe,
    ...(callers?.publish ?? []),
    ...(callers?.subscribe ?? []),
  ];
  const definers = [
    manifest,
    ...Object.values({ ...manifest.uses?.optional, ...manifest.uses?.required })
      .map((use) => resolveContract(use.contract))
      .filter((used): used is ContractManifest => used !== undefined),
  ];
  const capabilities: Record<string, ScopeCapability> = {};
  for (const key of sortedUnique([
    ...Object.keys(manifest.capabilities ?? {}),
    ...rules.flatMap((rule) => rule.requiredCapabilities),
  ])) {
    const definer = definers.find((contract) => contract.capabilities?.[key] !== undefined);
    const metadata = definer?.capabilities?.[key] ?? PLATFORM_CAPABILITIES[key];
    capabilities[key] = metadata
      ? { ...metadata, definedBy: definer?.id ?? "platform" }
      : {
          displayName: key,
          description: "Not defined by this contract or the contracts it uses.",
          definedBy: "",
        };
  }
  return {
    format: SCOPES_FORMAT,
    contractId: manifest.id,
    contractDigest: digest,
    kind: manifest.kind,
    displayName: manifest.displayName,
    description: manifest.description,
    capabilities,
    participant,
    ...(callers && { callers }),
  };
}
