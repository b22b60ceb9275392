/**
 * `trellis.auth@v1`: the platform's authentication and authorization API — the caller's own session,
 * request validation for services, user accounts, capabilities and capability groups, identity
 * grants, live connections and the auth lifecycle events.
 *
 * This module declares the surfaces the control plane serves today (including service deployments,
 * service instances and deployment authority); devices, portals, grant overrides and the other
 * reference surfaces are added as they are implemented.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";
import { TrellisBindingsGetResponse } from "./trellis-core.js";
import { HealthCheckResult } from "./trellis-health.js";

const NonEmpty = z.string().min(1);
const Timestamp = z.iso.datetime({ offset: true });
/** A base64url digest (of a contract manifest). */
const Digest = z.string().regex(/^[A-Za-z0-9_-]+$/);
const NonNegativeInt = z.int().min(0);
const Capabilities = z.array(z.string());

/** Paging fields of list requests: `limit` is 0..500. */
const PageRequest = { offset: NonNegativeInt.optional(), limit: z.int().min(0).max(500) };
/** Paging fields of list responses; `nextOffset` is present when more entries follow. */
const PageResponse = {
  count: NonNegativeInt,
  offset: NonNegativeInt,
  limit: NonNegativeInt,
  nextOffset: NonNegativeInt.optional(),
};

/** `{ success }`, the answer of commands that report nothing else. */
const Success = z.object({ success: z.boolean() });

/** Participant kinds acting for a user. */
const UserParticipantKind = z.enum(["app", "agent"]);

/** The provider identity a user signed in with. */
const Identity = z.object({ identityId: NonEmpty, provider: NonEmpty, subject: NonEmpty });

/** A user caller as services see it. */
const UserCaller = z.object({
  type: z.literal("user"),
  participantKind: UserParticipantKind,
  userId: NonEmpty,
  identity: Identity,
  active: z.boolean(),
  name: z.string(),
  email: z.string(),
  image: z.string().optional(),
  /** Capabilities delegated to the session. */
  capabilities: Capabilities,
  /** When the session last authenticated. */
  lastAuth: Timestamp,
});

/** A service caller. */
const ServiceCaller = z.object({
  type: z.literal("service"),
  id: z.string(),
  name: z.string(),
  active: z.boolean(),
  capabilities: Capabilities,
});

/** A device caller. */
const DeviceCaller = z.object({
  type: z.literal("device"),
  deviceId: NonEmpty,
  /** The device deployment id up to its first `.`. */
  deviceType: NonEmpty,
  runtimePublicKey: NonEmpty,
  deploymentId: NonEmpty,
  active: z.boolean(),
  capabilities: Capabilities,
});

/** The `header` every event carries (added by the publisher). */
const EventHeader = z.object({ id: z.string(), time: Timestamp });

// ---------------------------------------------------------------------------------------------
// Auth.Sessions.*

export const AuthSessionsMeRequest = z.object({});
export const AuthSessionsMeResponse = z.object({
  participantKind: z.enum(["app", "agent", "device", "service"]),
  user: z
    .object({
      userId: NonEmpty,
      active: z.boolean(),
      name: z.string(),
      email: z.string(),
      image: z.string().optional(),
      capabilities: Capabilities,
      identity: Identity,
      lastLogin: Timestamp.optional(),
    })
    .nullable(),
  device: DeviceCaller.nullable(),
  service: ServiceCaller.nullable(),
});

/** Logging out takes no arguments; anything sent is ignored. */
export const AuthSessionsLogoutRequest = z.looseObject({});
export const AuthSessionsLogoutResponse = z.strictObject({ success: z.boolean() });

/** A user principal in session and connection listings. */
const UserPrincipalSummary = z.object({
  type: z.literal("user"),
  userId: z.string(),
  identity: z.object({ identityId: z.string(), provider: z.string(), subject: z.string() }),
  name: z.string(),
});
/** A device principal in session and connection listings. */
const DevicePrincipalSummary = z.object({
  type: z.literal("device"),
  deviceId: z.string(),
  deviceType: z.string(),
  runtimePublicKey: z.string(),
  deploymentId: z.string(),
});
/** A service principal in session and connection listings. */
const ServicePrincipalSummary = z.object({
  type: z.literal("service"),
  id: z.string(),
  name: z.string(),
  instanceId: z.string(),
  deploymentId: z.string(),
});

/** Fields every session entry has. */
const SessionEntryBase = {
  /** `<sessionKey>.b64_<base64url(principal id)>`. */
  key: z.string(),
  sessionKey: z.string(),
  createdAt: z.string(),
  lastAuth: z.string(),
};
const userSessionEntry = <K extends "app" | "agent">(kind: K) =>
  z.object({
    ...SessionEntryBase,
    participantKind: z.literal(kind),
    principal: UserPrincipalSummary,
    contractId: z.string(),
    contractDisplayName: z.string(),
  });

export const AuthSessionsListRequest = z.object({
  ...PageRequest,
  /** Only the sessions of this user id. */
  user: z.string().optional(),
});
export const AuthSessionsListResponse = z.object({
  entries: z.array(
    z.union([
      userSessionEntry("app"),
      userSessionEntry("agent"),
      z.object({
        ...SessionEntryBase,
        participantKind: z.literal("device"),
        principal: DevicePrincipalSummary,
        contractId: z.string(),
        contractDisplayName: z.string().optional(),
      }),
      z.object({
        ...SessionEntryBase,
        participantKind: z.literal("service"),
        principal: ServicePrincipalSummary,
      }),
    ]),
  ),
  ...PageResponse,
});

export const AuthSessionsRevokeRequest = z.object({ sessionKey: z.string() });
export const AuthSessionsRevokeResponse = Success;

// ---------------------------------------------------------------------------------------------
// Auth.Requests.Validate

export const AuthRequestsValidateRequest = z.object({
  /** The caller's session key (`session-key` header). */
  sessionKey: NonEmpty,
  /** The caller's proof (`proof` header). */
  proof: NonEmpty,
  /** The subject the request arrived on. */
  subject: NonEmpty,
  /** base64url SHA-256 of the raw request body. */
  payloadHash: NonEmpty,
  /** `iat` header, unix seconds. */
  iat: z.int(),
  /** `request-id` header. */
  requestId: NonEmpty,
  /** Capabilities the surface requires (all of them). */
  capabilities: z.array(NonEmpty).optional(),
});
export const AuthRequestsValidateResponse = z.object({
  allowed: z.boolean(),
  /** The inbox prefix replies to this caller must start with. */
  inboxPrefix: z.string(),
  caller: z.union([UserCaller, ServiceCaller, DeviceCaller]),
});

// ---------------------------------------------------------------------------------------------
// Auth.Users.*

/** A provider identity linked to an account. */
const UserIdentityView = z.object({
  identityId: NonEmpty,
  provider: NonEmpty,
  subject: NonEmpty,
  displayName: NonEmpty.nullable(),
  email: NonEmpty.nullable(),
  emailVerified: z.boolean(),
  linkedAt: Timestamp,
  lastLoginAt: Timestamp.nullable(),
});

/** A Trellis account with its direct capabilities, groups and identities. */
const UserView = z.object({
  userId: NonEmpty,
  active: z.boolean(),
  name: z.string().optional(),
  email: z.string().optional(),
  capabilities: Capabilities,
  capabilityGroups: z.array(z.string()),
  identities: z.array(UserIdentityView),
});

export const AuthUsersListRequest = z.object({ ...PageRequest });
export const AuthUsersListResponse = z.object({ entries: z.array(UserView), ...PageResponse });
export const AuthUsersGetRequest = z.object({ userId: NonEmpty });
export const AuthUsersGetResponse = z.object({ user: UserView });
export const AuthUsersCreateRequest = z.object({
  name: NonEmpty.optional(),
  email: NonEmpty.optional(),
  /** Reserves a local username for the account; its password is set through a reset flow. */
  username: NonEmpty.optional(),
  active: z.boolean().optional(),
  capabilities: z.array(NonEmpty).optional(),
  capabilityGroups: z.array(NonEmpty).optional(),
});
export const AuthUsersCreateResponse = z.object({ user: UserView });
export const AuthUsersUpdateRequest = z.object({
  userId: NonEmpty,
  name: z.string().optional(),
  /** An empty string clears the email. */
  email: z.string().optional(),
  active: z.boolean().optional(),
  capabilities: z.array(z.string()).optional(),
  capabilityGroups: z.array(NonEmpty).optional(),
});
export const AuthUsersUpdateResponse = Success;

export const AuthUsersPasswordChangeRequest = z.object({ currentPassword: NonEmpty, newPassword: NonEmpty });
export const AuthUsersPasswordChangeResponse = Success;
export const AuthUsersPasswordResetCreateRequest = z.object({
  userId: NonEmpty,
  /** Lifetime of the link, 60 s to 30 days (default 24 h). */
  expiresInSeconds: z.int().min(60).max(2_592_000).optional(),
});
/** A one-time account link to hand to the user. */
export const AuthUsersAccountFlowCreateResponse = z.object({
  flowId: NonEmpty,
  url: NonEmpty,
  expiresAt: Timestamp,
});

// ---------------------------------------------------------------------------------------------
// Auth.Capabilities.*, Auth.CapabilityGroups.*

export const AuthCapabilitiesListRequest = z.object({ ...PageRequest });
export const AuthCapabilitiesListResponse = z.object({
  entries: z.array(
    z.object({
      /** Global key: `admin`, `service` or `<namespace>::<local>`. */
      key: NonEmpty,
      displayName: NonEmpty,
      description: NonEmpty,
      consequence: NonEmpty.optional(),
      source: z.enum(["platform", "contract"]),
      contractId: NonEmpty.optional(),
      contractDigest: Digest.optional(),
      contractDisplayName: NonEmpty.optional(),
      deploymentId: NonEmpty.optional(),
      direction: z.enum(["creates", "given"]).optional(),
    }),
  ),
  ...PageResponse,
});

/** A named, reusable set of capabilities that may include other groups. */
const CapabilityGroupView = z.object({
  groupKey: NonEmpty,
  displayName: NonEmpty,
  description: NonEmpty,
  capabilities: z.array(NonEmpty),
  includedGroups: z.array(NonEmpty),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const AuthCapabilityGroupsListRequest = z.object({ ...PageRequest });
export const AuthCapabilityGroupsListResponse = z.object({
  entries: z.array(CapabilityGroupView),
  ...PageResponse,
});
export const AuthCapabilityGroupsGetRequest = z.object({ groupKey: NonEmpty });
export const AuthCapabilityGroupsGetResponse = z.object({ group: CapabilityGroupView });
export const AuthCapabilityGroupsPutRequest = z.object({
  groupKey: NonEmpty,
  displayName: NonEmpty,
  description: NonEmpty,
  capabilities: z.array(NonEmpty).optional(),
  includedGroups: z.array(NonEmpty).optional(),
});
export const AuthCapabilityGroupsPutResponse = z.object({ group: CapabilityGroupView });
export const AuthCapabilityGroupsDeleteRequest = z.object({ groupKey: NonEmpty });
export const AuthCapabilityGroupsDeleteResponse = Success;

// ---------------------------------------------------------------------------------------------
// Auth.IdentityGrants.*

/** What a grant is keyed by: a web app at an origin, or a session key of a CLI/native/device user. */
const IdentityAnchor = z.union([
  z.object({ kind: z.literal("web"), contractId: NonEmpty, origin: NonEmpty }),
  z.object({ kind: z.literal("cli"), contractId: NonEmpty, sessionPublicKey: NonEmpty }),
  z.object({ kind: z.literal("native"), contractId: NonEmpty, sessionPublicKey: NonEmpty }),
  z.object({ kind: z.literal("device-user"), contractId: NonEmpty, devicePublicKey: NonEmpty }),
]);

export const AuthIdentityGrantsListRequest = z.object({
  ...PageRequest,
  /** Another user's id (administrators only). */
  user: NonEmpty.optional(),
});
export const AuthIdentityGrantsListResponse = z.object({
  entries: z.array(
    z.object({
      identityGrantId: NonEmpty,
      identityAnchor: IdentityAnchor,
      contractEvidence: z.object({ contractDigest: Digest, contractId: NonEmpty }),
      displayName: NonEmpty,
      description: NonEmpty,
      participantKind: UserParticipantKind,
      capabilities: Capabilities,
      grantedAt: Timestamp,
      updatedAt: Timestamp,
    }),
  ),
  ...PageResponse,
});
export const AuthIdentityGrantsRevokeRequest = z.object({
  identityGrantId: NonEmpty,
  /** Another user's id (administrators only). */
  user: NonEmpty.optional(),
});
export const AuthIdentityGrantsRevokeResponse = Success;

// ---------------------------------------------------------------------------------------------
// Auth.Connections.*

/** Fields every connection entry has. */
const ConnectionEntryBase = {
  /** `<sessionKey>.b64_<base64url(principal id)>.<userNkey>`. */
  key: z.string(),
  userNkey: z.string(),
  sessionKey: z.string(),
  serverId: z.string(),
  clientId: z.number(),
  connectedAt: z.string(),
};
const userConnectionEntry = <K extends "app" | "agent">(kind: K) =>
  z.object({
    ...ConnectionEntryBase,
    participantKind: z.literal(kind),
    principal: UserPrincipalSummary,
    contractId: z.string(),
    contractDisplayName: z.string(),
  });

export const AuthConnectionsListRequest = z.object({
  ...PageRequest,
  sessionKey: z.string().optional(),
  /** Only the connections of this user id. */
  user: z.string().optional(),
});
export const AuthConnectionsListResponse = z.object({
  entries: z.array(
    z.union([
      userConnectionEntry("app"),
      userConnectionEntry("agent"),
      z.object({
        ...ConnectionEntryBase,
        participantKind: z.literal("device"),
        principal: DevicePrincipalSummary,
        contractId: z.string(),
        contractDisplayName: z.string().optional(),
      }),
      z.object({
        ...ConnectionEntryBase,
        participantKind: z.literal("service"),
        principal: ServicePrincipalSummary,
      }),
    ]),
  ),
  ...PageResponse,
});
export const AuthConnectionsKickRequest = z.object({ userNkey: z.string() });
export const AuthConnectionsKickResponse = Success;

// ---------------------------------------------------------------------------------------------
// Auth.Deployments.*, Auth.ServiceInstances.*

const DeploymentKind = z.enum(["service", "device"]);
const ContractCompatibilityMode = z.enum(["strict", "mutable-dev"]);
const DeviceReviewMode = z.enum(["none", "required"]);
const Namespaces = z.array(NonEmpty);

/** A deployment boundary: services (with their namespaces) or devices. */
const DeploymentView = z.union([
  z.object({
    kind: z.literal("service"),
    deploymentId: NonEmpty,
    namespaces: Namespaces,
    contractCompatibilityMode: ContractCompatibilityMode.optional(),
    disabled: z.boolean(),
  }),
  z.object({
    kind: z.literal("device"),
    deploymentId: NonEmpty,
    reviewMode: DeviceReviewMode.optional(),
    disabled: z.boolean(),
  }),
]);
const DeploymentResponse = z.object({ deployment: DeploymentView });
/** Names one deployment of a kind. */
const DeploymentRef = { kind: DeploymentKind, deploymentId: NonEmpty };

export const AuthDeploymentsCreateRequest = z.union([
  z.object({
    kind: z.literal("service"),
    deploymentId: NonEmpty,
    namespaces: Namespaces,
    contractCompatibilityMode: ContractCompatibilityMode.optional(),
  }),
  z.object({
    kind: z.literal("device"),
    deploymentId: NonEmpty,
    reviewMode: DeviceReviewMode.optional(),
  }),
]);
export const AuthDeploymentsCreateResponse = DeploymentResponse;
export const AuthDeploymentsListRequest = z.object({
  ...PageRequest,
  kind: DeploymentKind.optional(),
  disabled: z.boolean().optional(),
});
export const AuthDeploymentsListResponse = z.object({ entries: z.array(DeploymentView), ...PageResponse });
export const AuthDeploymentsDisableRequest = z.object(DeploymentRef);
export const AuthDeploymentsDisableResponse = DeploymentResponse;
export const AuthDeploymentsEnableRequest = z.object(DeploymentRef);
export const AuthDeploymentsEnableResponse = DeploymentResponse;
export const AuthDeploymentsRemoveRequest = z.object({
  ...DeploymentRef,
  /** Also remove the deployment's instances (otherwise a deployment with instances is kept). */
  cascade: z.boolean().optional(),
  purgeUnusedContracts: z.boolean().optional(),
});
export const AuthDeploymentsRemoveResponse = Success;

/** Physical resources bound to a service instance (the same shape `Trellis.Bindings.Get` answers). */
const ResourceBindings = TrellisBindingsGetResponse.shape.binding.unwrap().shape.resources;

/** A provisioned service instance; `instanceKey` is the service's public session key. */
const ServiceInstanceView = z.object({
  instanceId: NonEmpty,
  deploymentId: NonEmpty,
  instanceKey: NonEmpty,
  disabled: z.boolean(),
  capabilities: Capabilities,
  resourceBindings: ResourceBindings.optional(),
  createdAt: Timestamp,
});
const ServiceInstanceResponse = z.object({ instance: ServiceInstanceView });
const ServiceInstanceRef = z.object({ instanceId: NonEmpty });

export const AuthServiceInstancesProvisionRequest = z.object({
  deploymentId: NonEmpty,
  instanceKey: NonEmpty,
});
export const AuthServiceInstancesProvisionResponse = ServiceInstanceResponse;
export const AuthServiceInstancesListRequest = z.object({
  ...PageRequest,
  deploymentId: NonEmpty.optional(),
  disabled: z.boolean().optional(),
});
export const AuthServiceInstancesListResponse = z.object({
  entries: z.array(ServiceInstanceView),
  ...PageResponse,
});
export const AuthServiceInstancesDisableRequest = ServiceInstanceRef;
export const AuthServiceInstancesDisableResponse = ServiceInstanceResponse;
export const AuthServiceInstancesEnableRequest = ServiceInstanceRef;
export const AuthServiceInstancesEnableResponse = ServiceInstanceResponse;
export const AuthServiceInstancesRemoveRequest = ServiceInstanceRef;
export const AuthServiceInstancesRemoveResponse = Success;

// ---------------------------------------------------------------------------------------------
// Auth.DeploymentAuthority.*

const AuthorityKind = z.enum(["service", "device", "app", "cli", "native", "device-user"]);
const AuthoritySurfaceKind = z.enum(["rpc", "operation", "event", "feed"]);
const AuthoritySurfaceAction = z.enum(["call", "publish", "subscribe", "observe", "cancel"]);
const AuthorityResourceKind = z.enum(["kv", "store", "jobs", "event-consumer", "transfer"]);
/** A free-form JSON object. */
const JsonRecord = z.record(z.string(), z.unknown());

/** A contract (lineage) the deployment may use. */
const AuthorityContractNeed = z.object({ contractId: NonEmpty, required: z.boolean() });
/** A surface of another contract the deployment may use, with its action. */
const AuthoritySurfaceNeed = z.object({
  contractId: NonEmpty,
  kind: AuthoritySurfaceKind,
  name: NonEmpty,
  action: AuthoritySurfaceAction.optional(),
  required: z.boolean(),
});
/** A capability the deployment's instances hold. */
const AuthorityCapabilityNeed = z.object({ capability: NonEmpty, required: z.boolean() });
/** A resource with its contract definition. */
const AuthorityResourceNeed = z.object({
  kind: AuthorityResourceKind,
  alias: NonEmpty,
  required: z.boolean(),
  definition: JsonRecord.optional(),
});
/** Grouped needs. */
const AuthorityNeeds = z.object({
  contracts: z.array(AuthorityContractNeed),
  surfaces: z.array(AuthoritySurfaceNeed),
  capabilities: z.array(AuthorityCapabilityNeed),
  resources: z.array(AuthorityResourceNeed),
});
/** A surface the deployment provides. */
const AuthoritySurface = z.object({
  contractId: NonEmpty,
  kind: AuthoritySurfaceKind,
  name: NonEmpty,
  action: AuthoritySurfaceAction.optional(),
});
/** The admin-owned desired authority of one deployment. */
const DeploymentAuthorityView = z.object({
  deploymentId: NonEmpty,
  kind: AuthorityKind,
  disabled: z.boolean(),
  desiredState: z.object({
    needs: AuthorityNeeds,
    capabilities: z.array(NonEmpty),
    resources: z.array(AuthorityResourceNeed),
    surfaces: z.array(AuthoritySurface),
  }),
  /** Changes on every accepted plan. */
  version: NonEmpty,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
/** What a presented contract asks of its deployment. */
const AuthorityProposalView = z.object({
  proposalId: NonEmpty.optional(),
  deploymentId: NonEmpty,
  contractId: NonEmpty,
  contractDigest: Digest,
  contract: JsonRecord.optional(),
  requestedNeeds: AuthorityNeeds,
  providedSurfaces: z.array(AuthoritySurface),
  summary: JsonRecord.optional(),
});
const PlanFields = {
  planId: NonEmpty,
  deploymentId: NonEmpty,
  state: z.enum(["pending", "accepted", "rejected", "expired"]).optional(),
  proposal: AuthorityProposalView,
  /** `{added, removed}` needs, surfaces, resources and capabilities. */
  desiredChange: JsonRecord,
  /** The grants the accepted desired state would materialize. */
  materializationPreview: JsonRecord,
  warnings: z.array(NonEmpty),
  createdAt: Timestamp,
  expiresAt: Timestamp.optional(),
  decisionAt: Timestamp.nullable().optional(),
  /** `{kind: "user", userId}` or `{kind: "system", mode: "mutable-dev", serviceInstanceId}`. */
  decisionBy: JsonRecord.nullable().optional(),
  decisionReason: NonEmpty.nullable().optional(),
};
/** An authority plan: an additive update, or a migration that needs an acknowledgement. */
const AuthorityPlanView = z.union([
  z.object({ ...PlanFields, classification: z.literal("update") }),
  z.object({ ...PlanFields, classification: z.literal("migration"), acknowledgementRequired: z.boolean() }),
]);
/** A surface as materialized grants name it. */
const MaterializedSurfaceView = z.object({
  contractId: NonEmpty,
  kind: AuthoritySurfaceKind,
  name: NonEmpty,
  action: AuthoritySurfaceAction.optional(),
});
/** What reconciliation granted the deployment's instances. */
const MaterializationView = z.object({
  deploymentId: NonEmpty,
  desiredVersion: NonEmpty,
  status: z.enum(["current", "pending", "failed"]),
  resourceBindings: z.array(
    z.object({
      deploymentId: NonEmpty,
      kind: AuthorityResourceKind,
      alias: NonEmpty,
      binding: JsonRecord,
      limits: JsonRecord.nullable(),
      createdAt: Timestamp,
      updatedAt: Timestamp,
    }),
  ),
  grants: z.object({
    capabilities: z.array(z.object({ capability: NonEmpty })),
    surfaces: z.array(
      z.object({
        contractId: NonEmpty,
        surfaceKind: AuthoritySurfaceKind,
        name: NonEmpty,
        action: AuthoritySurfaceAction.optional(),
      }),
    ),
    nats: z.array(
      z.object({
        direction: z.enum(["publish", "subscribe"]),
        subject: NonEmpty,
        requiredCapabilities: z.array(NonEmpty),
        grantSource: z.enum([
          "owned-surface",
          "used-surface",
          "resource-binding",
          "platform-service",
          "transfer",
        ]),
        surface: MaterializedSurfaceView.optional(),
      }),
    ),
  }),
  reconciledAt: Timestamp.nullable(),
  error: NonEmpty.optional(),
});
/** A deployment's portal route (deployment portals are not served yet: always `null`). */
const DeploymentPortalRouteView = z.object({
  deploymentId: NonEmpty,
  portalId: NonEmpty.nullable(),
  entryUrl: NonEmpty.nullable(),
  disabled: z.boolean(),
  updatedAt: Timestamp,
});
const GrantOverrideFields = { deploymentId: NonEmpty, contractId: NonEmpty };
const WebOverride = { identityKind: z.literal("web"), origin: NonEmpty, sessionPublicKey: z.null() };
const SessionOverride = { identityKind: z.literal("session"), origin: z.null(), sessionPublicKey: NonEmpty };
const CapabilityOverride = {
  grantKind: z.literal("capability"),
  capability: NonEmpty,
  capabilityGroupKey: z.null(),
};
const GroupOverride = {
  grantKind: z.literal("capability-group"),
  capability: z.null(),
  capabilityGroupKey: NonEmpty,
};
/** A deployment-owned consent pre-approval (grant overrides are not served yet: always empty). */
const GrantOverrideView = z.union([
  z.object({ ...GrantOverrideFields, ...WebOverride, ...CapabilityOverride }),
  z.object({ ...GrantOverrideFields, ...WebOverride, ...GroupOverride }),
  z.object({ ...GrantOverrideFields, ...SessionOverride, ...CapabilityOverride }),
  z.object({ ...GrantOverrideFields, ...SessionOverride, ...GroupOverride }),
]);
const AuthorityRef = z.object({ deploymentId: NonEmpty });
const PlanRef = z.object({ planId: NonEmpty });
const AcceptResponse = z.object({ authority: DeploymentAuthorityView });

export const AuthDeploymentAuthorityListRequest = z.object({
  ...PageRequest,
  kind: AuthorityKind.optional(),
  disabled: z.boolean().optional(),
});
export const AuthDeploymentAuthorityListResponse = z.object({
  entries: z.array(DeploymentAuthorityView),
  ...PageResponse,
});
export const AuthDeploymentAuthorityGetRequest = AuthorityRef;
export const AuthDeploymentAuthorityGetResponse = z.object({
  authority: DeploymentAuthorityView,
  materializedAuthority: MaterializationView.nullable(),
  portalRoute: DeploymentPortalRouteView.nullable(),
  grantOverrides: z.array(GrantOverrideView),
});
export const AuthDeploymentAuthorityPlanRequest = z.object({
  deploymentId: NonEmpty,
  /** The manifest to plan for. */
  contract: JsonRecord,
  /** Its digest; a manifest digesting differently is refused. */
  expectedDigest: Digest,
});
export const AuthDeploymentAuthorityPlanResponse = z.object({ plan: AuthorityPlanView });
export const AuthDeploymentAuthorityPlansListRequest = z.object({
  ...PageRequest,
  deploymentId: NonEmpty.optional(),
  kind: AuthorityKind.optional(),
  state: z.enum(["pending", "accepted", "rejected", "expired"]).optional(),
  classification: z.enum(["update", "migration"]).optional(),
});
export const AuthDeploymentAuthorityPlansListResponse = z.object({
  entries: z.array(AuthorityPlanView),
  ...PageResponse,
});
export const AuthDeploymentAuthorityPlansGetRequest = PlanRef;
export const AuthDeploymentAuthorityPlansGetResponse = z.object({ plan: AuthorityPlanView });
export const AuthDeploymentAuthorityAcceptUpdateRequest = z.object({
  planId: NonEmpty,
  /** Refuse (`desired_version_conflict`) when the desired state moved past this version. */
  expectedDesiredVersion: NonEmpty.optional(),
});
export const AuthDeploymentAuthorityAcceptMigrationRequest = z.object({
  planId: NonEmpty,
  expectedDesiredVersion: NonEmpty.optional(),
  /** Why the admin accepts dropping what the migration removes. */
  acknowledgement: NonEmpty,
});
export const AuthDeploymentAuthorityAcceptResponse = AcceptResponse;
export const AuthDeploymentAuthorityRejectRequest = z.object({
  planId: NonEmpty,
  reason: NonEmpty.optional(),
});
export const AuthDeploymentAuthorityRejectResponse = Success;
export const AuthDeploymentAuthorityReconcileRequest = z.object({
  deploymentId: NonEmpty,
  /** Refuse (`desired_version_conflict`) unless the desired state is at this version. */
  desiredVersion: NonEmpty.optional(),
});
export const AuthDeploymentAuthorityReconcileResponse = z.object({
  authority: DeploymentAuthorityView,
  materializedAuthority: MaterializationView,
  reconciliation: z
    .object({
      deploymentId: NonEmpty,
      desiredVersion: NonEmpty,
      state: z.enum(["idle", "running", "succeeded", "failed"]),
      startedAt: Timestamp.nullable(),
      finishedAt: Timestamp.nullable(),
      message: NonEmpty.optional(),
    })
    .optional(),
});

// ---------------------------------------------------------------------------------------------
// Auth.Health

export const HealthRequest = z.object({});
export const HealthResponse = z.object({
  status: z.enum(["healthy", "unhealthy", "degraded"]),
  service: z.string(),
  timestamp: Timestamp,
  checks: z.array(HealthCheckResult),
});

// ---------------------------------------------------------------------------------------------
// Events

export const AuthConnectionsOpenedEvent = z.object({
  header: EventHeader,
  origin: z.string(),
  id: z.string(),
  sessionKey: z.string(),
  userNkey: z.string(),
});
export const AuthConnectionsClosedEvent = AuthConnectionsOpenedEvent;
export const AuthConnectionsKickedEvent = z.object({
  header: EventHeader,
  origin: z.string(),
  id: z.string(),
  userNkey: z.string(),
  /** Who asked for the kick (a user id). */
  kickedBy: z.string(),
});
export const AuthSessionsRevokedEvent = z.object({
  header: EventHeader,
  origin: z.string(),
  id: z.string(),
  sessionKey: z.string(),
  /** Who revoked the session (a user id). */
  revokedBy: z.string(),
});

const RPC_ERRORS = ["AuthError", "UnexpectedError", "ValidationError"] as const;

/** The `trellis.auth@v1` contract module. */
export const trellisAuth = defineServiceContract(
  {
    schemas: {
      AuthSessionsMeRequest,
      AuthSessionsMeResponse,
      AuthSessionsLogoutRequest,
      AuthSessionsLogoutResponse,
      AuthSessionsListRequest,
      AuthSessionsListResponse,
      AuthSessionsRevokeRequest,
      AuthSessionsRevokeResponse,
      AuthRequestsValidateRequest,
      AuthRequestsValidateResponse,
      AuthUsersListRequest,
      AuthUsersListResponse,
      AuthUsersGetRequest,
      AuthUsersGetResponse,
      AuthUsersCreateRequest,
      AuthUsersCreateResponse,
      AuthUsersUpdateRequest,
      AuthUsersUpdateResponse,
      AuthUsersPasswordChangeRequest,
      AuthUsersPasswordChangeResponse,
      AuthUsersPasswordResetCreateRequest,
      AuthUsersAccountFlowCreateResponse,
      AuthCapabilitiesListRequest,
      AuthCapabilitiesListResponse,
      AuthCapabilityGroupsListRequest,
      AuthCapabilityGroupsListResponse,
      AuthCapabilityGroupsGetRequest,
      AuthCapabilityGroupsGetResponse,
      AuthCapabilityGroupsPutRequest,
      AuthCapabilityGroupsPutResponse,
      AuthCapabilityGroupsDeleteRequest,
      AuthCapabilityGroupsDeleteResponse,
      AuthIdentityGrantsListRequest,
      AuthIdentityGrantsListResponse,
      AuthIdentityGrantsRevokeRequest,
      AuthIdentityGrantsRevokeResponse,
      AuthConnectionsListRequest,
      AuthConnectionsListResponse,
      AuthConnectionsKickRequest,
      AuthConnectionsKickResponse,
      AuthDeploymentsCreateRequest,
      AuthDeploymentsCreateResponse,
      AuthDeploymentsListRequest,
      AuthDeploymentsListResponse,
      AuthDeploymentsDisableRequest,
      AuthDeploymentsDisableResponse,
      AuthDeploymentsEnableRequest,
      AuthDeploymentsEnableResponse,
      AuthDeploymentsRemoveRequest,
      AuthDeploymentsRemoveResponse,
      AuthServiceInstancesProvisionRequest,
      AuthServiceInstancesProvisionResponse,
      AuthServiceInstancesListRequest,
      AuthServiceInstancesListResponse,
      AuthServiceInstancesDisableRequest,
      AuthServiceInstancesDisableResponse,
      AuthServiceInstancesEnableRequest,
      AuthServiceInstancesEnableResponse,
      AuthServiceInstancesRemoveRequest,
      AuthServiceInstancesRemoveResponse,
      AuthDeploymentAuthorityListRequest,
      AuthDeploymentAuthorityListResponse,
      AuthDeploymentAuthorityGetRequest,
      AuthDeploymentAuthorityGetResponse,
      AuthDeploymentAuthorityPlanRequest,
      AuthDeploymentAuthorityPlanResponse,
      AuthDeploymentAuthorityPlansListRequest,
      AuthDeploymentAuthorityPlansListResponse,
      AuthDeploymentAuthorityPlansGetRequest,
      AuthDeploymentAuthorityPlansGetResponse,
      AuthDeploymentAuthorityAcceptUpdateRequest,
      AuthDeploymentAuthorityAcceptMigrationRequest,
      AuthDeploymentAuthorityAcceptResponse,
      AuthDeploymentAuthorityRejectRequest,
      AuthDeploymentAuthorityRejectResponse,
      AuthDeploymentAuthorityReconcileRequest,
      AuthDeploymentAuthorityReconcileResponse,
      HealthRequest,
      HealthResponse,
      AuthConnectionsOpenedEvent,
      AuthConnectionsClosedEvent,
      AuthConnectionsKickedEvent,
      AuthSessionsRevokedEvent,
    },
    // Only builtin error types; an explicit empty registry keeps the error type names literal.
    errors: {},
  },
  (ref) => ({
    id: "trellis.auth@v1",
    displayName: "Trellis Auth",
    description: "Provide Trellis authentication, session, deployment, instance, and admin RPCs.",
    docs: {
      summary: "Authentication and authorization APIs.",
      markdown:
        "Answers who a caller is and what it may do: the caller's own session, request validation for " +
        "services, user accounts, capabilities and capability groups, identity grants and live " +
        "connections, plus events about connections and revoked sessions.",
    },
    capabilities: {
      "device.review": {
        displayName: "Review device activations",
        description: "See pending device activation requests and approve or reject them.",
      },
      "events.auth": {
        displayName: "Auth lifecycle events",
        description: "Publish or subscribe to the events about connections and revoked sessions.",
      },
    },
    rpc: {
      "Auth.Sessions.Me": {
        version: "v1",
        input: ref.schema("AuthSessionsMeRequest"),
        output: ref.schema("AuthSessionsMeResponse"),
        capabilities: { call: [] },
        errors: ["AuthError", "UnexpectedError"],
        docs: {
          summary: "Describe the caller's session.",
          markdown: "Returns who the calling session belongs to and the capabilities it was granted.",
        },
      },
      "Auth.Sessions.Logout": {
        version: "v1",
        input: ref.schema("AuthSessionsLogoutRequest"),
        output: ref.schema("AuthSessionsLogoutResponse"),
        capabilities: { call: [] },
        errors: ["AuthError", "UnexpectedError"],
        docs: {
          summary: "End the caller's session.",
          markdown: "Deletes the calling user session and disconnects its live connections.",
        },
      },
      "Auth.Sessions.List": {
        version: "v1",
        input: ref.schema("AuthSessionsListRequest"),
        output: ref.schema("AuthSessionsListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List sessions.",
          markdown: "Pages through live sessions of users, services and devices, optionally of one user.",
        },
      },
      "Auth.Sessions.Revoke": {
        version: "v1",
        input: ref.schema("AuthSessionsRevokeRequest"),
        output: ref.schema("AuthSessionsRevokeResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Revoke a session.",
          markdown:
            "Deletes a session and disconnects it; for a user session the identity grant it was bound " +
            "to is revoked too, with every other session of that grant.",
        },
      },
      "Auth.Requests.Validate": {
        version: "v1",
        input: ref.schema("AuthRequestsValidateRequest"),
        output: ref.schema("AuthRequestsValidateResponse"),
        capabilities: { call: ["service"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Check an inbound request.",
          markdown:
            "Lets a service verify the proof of a request it received and learn whether the calling " +
            "session may publish to the subject with the required capabilities.",
        },
      },
      "Auth.Users.List": {
        version: "v1",
        input: ref.schema("AuthUsersListRequest"),
        output: ref.schema("AuthUsersListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: { summary: "List users.", markdown: "Pages through user accounts with their identities." },
      },
      "Auth.Users.Get": {
        version: "v1",
        input: ref.schema("AuthUsersGetRequest"),
        output: ref.schema("AuthUsersGetResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: { summary: "Read a user.", markdown: "Returns one user account with its identities." },
      },
      "Auth.Users.Create": {
        version: "v1",
        input: ref.schema("AuthUsersCreateRequest"),
        output: ref.schema("AuthUsersCreateResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Create a user.",
          markdown:
            "Creates a user account, optionally reserving a local username whose password is then set " +
            "through a password reset link.",
        },
      },
      "Auth.Users.Update": {
        version: "v1",
        input: ref.schema("AuthUsersUpdateRequest"),
        output: ref.schema("AuthUsersUpdateResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Change a user.",
          markdown:
            "Changes a user's profile, activity, capabilities or groups; the last active administrator " +
            "cannot be demoted or deactivated.",
        },
      },
      "Auth.Users.Password.Change": {
        version: "v1",
        input: ref.schema("AuthUsersPasswordChangeRequest"),
        output: ref.schema("AuthUsersPasswordChangeResponse"),
        capabilities: { call: [] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Change one's own password.",
          markdown:
            "Changes the calling user's local password after checking the current one, and ends the " +
            "user's other sessions.",
        },
      },
      "Auth.Users.PasswordReset.Create": {
        version: "v1",
        input: ref.schema("AuthUsersPasswordResetCreateRequest"),
        output: ref.schema("AuthUsersAccountFlowCreateResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Issue a password reset link.",
          markdown: "Creates a one-time link with which a user with a local username sets a new password.",
        },
      },
      "Auth.Capabilities.List": {
        version: "v1",
        input: ref.schema("AuthCapabilitiesListRequest"),
        output: ref.schema("AuthCapabilitiesListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List known capabilities.",
          markdown: "Pages through the platform capabilities and those declared by known contracts.",
        },
      },
      "Auth.CapabilityGroups.List": {
        version: "v1",
        input: ref.schema("AuthCapabilityGroupsListRequest"),
        output: ref.schema("AuthCapabilityGroupsListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List capability groups.",
          markdown: "Pages through capability groups, the built-in ones first.",
        },
      },
      "Auth.CapabilityGroups.Get": {
        version: "v1",
        input: ref.schema("AuthCapabilityGroupsGetRequest"),
        output: ref.schema("AuthCapabilityGroupsGetResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: { summary: "Read a capability group.", markdown: "Returns one capability group by key." },
      },
      "Auth.CapabilityGroups.Put": {
        version: "v1",
        input: ref.schema("AuthCapabilityGroupsPutRequest"),
        output: ref.schema("AuthCapabilityGroupsPutResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Create or replace a capability group.",
          markdown:
            "Writes a capability group made of known capabilities and existing groups; built-in groups " +
            "are read-only.",
        },
      },
      "Auth.CapabilityGroups.Delete": {
        version: "v1",
        input: ref.schema("AuthCapabilityGroupsDeleteRequest"),
        output: ref.schema("AuthCapabilityGroupsDeleteResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Delete a capability group.",
          markdown: "Removes a stored capability group; built-in groups cannot be deleted.",
        },
      },
      "Auth.IdentityGrants.List": {
        version: "v1",
        input: ref.schema("AuthIdentityGrantsListRequest"),
        output: ref.schema("AuthIdentityGrantsListResponse"),
        capabilities: { call: [] },
        errors: ["AuthError", "UnexpectedError"],
        docs: {
          summary: "List identity grants.",
          markdown:
            "Pages through the apps and agents the caller has approved; administrators may name another user.",
        },
      },
      "Auth.IdentityGrants.Revoke": {
        version: "v1",
        input: ref.schema("AuthIdentityGrantsRevokeRequest"),
        output: ref.schema("AuthIdentityGrantsRevokeResponse"),
        capabilities: { call: [] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Revoke an identity grant.",
          markdown:
            "Withdraws an approval and ends every session bound to it, so the app or agent must ask again.",
        },
      },
      "Auth.Connections.List": {
        version: "v1",
        input: ref.schema("AuthConnectionsListRequest"),
        output: ref.schema("AuthConnectionsListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List live connections.",
          markdown: "Pages through the NATS connections admitted by the auth callout that are still open.",
        },
      },
      "Auth.Connections.Kick": {
        version: "v1",
        input: ref.schema("AuthConnectionsKickRequest"),
        output: ref.schema("AuthConnectionsKickResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Disconnect a connection.",
          markdown: "Asks the NATS server holding a live connection to drop it.",
        },
      },
      "Auth.Deployments.Create": {
        version: "v1",
        input: ref.schema("AuthDeploymentsCreateRequest"),
        output: ref.schema("AuthDeploymentsCreateResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Create deployment.",
          markdown:
            "Creates a service deployment: the boundary its instances run in and the namespaces it owns.",
        },
      },
      "Auth.Deployments.List": {
        version: "v1",
        input: ref.schema("AuthDeploymentsListRequest"),
        output: ref.schema("AuthDeploymentsListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List deployments.",
          markdown: "Pages through deployments, optionally of one kind or only the (not) disabled ones.",
        },
      },
      "Auth.Deployments.Disable": {
        version: "v1",
        input: ref.schema("AuthDeploymentsDisableRequest"),
        output: ref.schema("AuthDeploymentsDisableResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Disable deployment.",
          markdown: "Marks a deployment disabled, keeping it and its instances for later.",
        },
      },
      "Auth.Deployments.Enable": {
        version: "v1",
        input: ref.schema("AuthDeploymentsEnableRequest"),
        output: ref.schema("AuthDeploymentsEnableResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: { summary: "Enable deployment.", markdown: "Lifts the disabled mark of a deployment." },
      },
      "Auth.Deployments.Remove": {
        version: "v1",
        input: ref.schema("AuthDeploymentsRemoveRequest"),
        output: ref.schema("AuthDeploymentsRemoveResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Remove deployment.",
          markdown:
            "Deletes a deployment; one that still has instances is kept unless `cascade` removes them too.",
        },
      },
      "Auth.ServiceInstances.Provision": {
        version: "v1",
        input: ref.schema("AuthServiceInstancesProvisionRequest"),
        output: ref.schema("AuthServiceInstancesProvisionResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Provision service instance.",
          markdown:
            "Registers a service public session key as an instance of a deployment; its id is derived from the key.",
        },
      },
      "Auth.ServiceInstances.List": {
        version: "v1",
        input: ref.schema("AuthServiceInstancesListRequest"),
        output: ref.schema("AuthServiceInstancesListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List service instances.",
          markdown: "Pages through service instances, optionally of one deployment or by disabled state.",
        },
      },
      "Auth.ServiceInstances.Disable": {
        version: "v1",
        input: ref.schema("AuthServiceInstancesDisableRequest"),
        output: ref.schema("AuthServiceInstancesDisableResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Disable service instance.",
          markdown: "Marks an instance disabled and disconnects its live connections.",
        },
      },
      "Auth.ServiceInstances.Enable": {
        version: "v1",
        input: ref.schema("AuthServiceInstancesEnableRequest"),
        output: ref.schema("AuthServiceInstancesEnableResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: { summary: "Enable service instance.", markdown: "Lifts the disabled mark of an instance." },
      },
      "Auth.ServiceInstances.Remove": {
        version: "v1",
        input: ref.schema("AuthServiceInstancesRemoveRequest"),
        output: ref.schema("AuthServiceInstancesRemoveResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Remove service instance.",
          markdown: "Deletes an instance, its session and its live connections.",
        },
      },
      "Auth.DeploymentAuthority.List": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityListRequest"),
        output: ref.schema("AuthDeploymentAuthorityListResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "List deployment authority.",
          markdown: "Pages through the desired authority of deployments.",
        },
      },
      "Auth.DeploymentAuthority.Get": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityGetRequest"),
        output: ref.schema("AuthDeploymentAuthorityGetResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Read deployment authority.",
          markdown: "Returns a deployment's desired authority and its materialized authority.",
        },
      },
      "Auth.DeploymentAuthority.Plan": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityPlanRequest"),
        output: ref.schema("AuthDeploymentAuthorityPlanResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Plan deployment authority.",
          markdown: "Records the update or migration plan a contract needs before the deployment may run it.",
        },
      },
      "Auth.DeploymentAuthority.Plans.List": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityPlansListRequest"),
        output: ref.schema("AuthDeploymentAuthorityPlansListResponse"),
        capabilities: { call: ["admin"] },
        errors: ["AuthError", "UnexpectedError"],
        docs: {
          summary: "List authority plans.",
          markdown: "Pages through pending and decided authority plans, newest first, with optional filters.",
        },
      },
      "Auth.DeploymentAuthority.Plans.Get": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityPlansGetRequest"),
        output: ref.schema("AuthDeploymentAuthorityPlansGetResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Read authority plan.",
          markdown: "Returns one authority plan.",
        },
      },
      "Auth.DeploymentAuthority.AcceptUpdate": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityAcceptUpdateRequest"),
        output: ref.schema("AuthDeploymentAuthorityAcceptResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Accept authority update.",
          markdown:
            "Accepts an additive update plan: its needs join the desired state and its contract becomes runnable.",
        },
      },
      "Auth.DeploymentAuthority.AcceptMigration": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityAcceptMigrationRequest"),
        output: ref.schema("AuthDeploymentAuthorityAcceptResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Accept authority migration.",
          markdown:
            "Accepts an acknowledged migration plan: the contract's lineage moves to the new digest and what it no longer needs is dropped.",
        },
      },
      "Auth.DeploymentAuthority.Reject": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityRejectRequest"),
        output: ref.schema("AuthDeploymentAuthorityRejectResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Reject authority plan.",
          markdown: "Rejects a pending plan; the desired state is left as it is.",
        },
      },
      "Auth.DeploymentAuthority.Reconcile": {
        version: "v1",
        input: ref.schema("AuthDeploymentAuthorityReconcileRequest"),
        output: ref.schema("AuthDeploymentAuthorityReconcileResponse"),
        capabilities: { call: ["admin"] },
        errors: RPC_ERRORS,
        docs: {
          summary: "Reconcile deployment authority.",
          markdown: "Converges the deployment's resources and grants onto its desired authority.",
        },
      },
      "Auth.Health": {
        version: "v1",
        input: ref.schema("HealthRequest"),
        output: ref.schema("HealthResponse"),
        capabilities: { call: [] },
        errors: ["UnexpectedError"],
        docs: {
          summary: "Report auth health.",
          markdown: "Runs the control plane's health checks and reports the aggregate.",
        },
      },
    },
    events: {
      "Auth.Connections.Opened": {
        version: "v1",
        event: ref.schema("AuthConnectionsOpenedEvent"),
        capabilities: { publish: ["events.auth"], subscribe: ["events.auth"] },
        docs: {
          summary: "A connection opened.",
          markdown: "Published when the auth callout admits a connection.",
        },
      },
      "Auth.Connections.Closed": {
        version: "v1",
        event: ref.schema("AuthConnectionsClosedEvent"),
        capabilities: { publish: ["events.auth"], subscribe: ["events.auth"] },
        docs: {
          summary: "A connection closed.",
          markdown: "Published when an admitted connection goes away.",
        },
      },
      "Auth.Connections.Kicked": {
        version: "v1",
        event: ref.schema("AuthConnectionsKickedEvent"),
        capabilities: { publish: ["events.auth"], subscribe: ["events.auth"] },
        docs: {
          summary: "A connection was kicked.",
          markdown: "Published when an administrator disconnects a connection.",
        },
      },
      "Auth.Sessions.Revoked": {
        version: "v1",
        event: ref.schema("AuthSessionsRevokedEvent"),
        capabilities: { publish: ["events.auth"], subscribe: ["events.auth"] },
        docs: {
          summary: "A session was revoked.",
          markdown:
            "Published when a session ends by logout or revocation, so services drop what they cached about it.",
        },
      },
    },
  }),
);
