/**
 * How sessions and live connections are listed: the participant behind each, with a short principal
 * summary and the display name of the contract it was bound with.
 */
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import { UserSessionDocumentSchema } from "../auth/user-session.js";
import { base64url } from "../store/codec.js";
import type { StoredSession } from "../store/sessions-repository.js";
import type { ControlPlaneStore } from "../store/store.js";

type UserSummary = {
  type: "user";
  userId: string;
  identity: { identityId: string; provider: string; subject: string };
  name: string;
};
type DeviceSummary = {
  type: "device";
  deviceId: string;
  deviceType: string;
  runtimePublicKey: string;
  deploymentId: string;
};
type ServiceSummary = { type: "service"; id: string; name: string; instanceId: string; deploymentId: string };

/** The participant-specific part of a session or connection entry. */
export type ParticipantView =
  | {
      participantKind: "app" | "agent";
      principal: UserSummary;
      contractId: string;
      contractDisplayName: string;
    }
  | { participantKind: "device"; principal: DeviceSummary; contractId: string; contractDisplayName: string }
  | { participantKind: "service"; principal: ServiceSummary };

/** Display names of contracts by digest (stored or builtin), memoized for one listing. */
export class ContractNames {
  private readonly byDigest = new Map<string, string | undefined>();

  constructor(private readonly store: ControlPlaneStore) {}

  /** The contract's display name, else its id, else `""`. */
  displayName(digest: string | null, contractId: string | null): string {
    if (digest !== null) {
      if (!this.byDigest.has(digest)) {
        const builtin = BUILTIN_CONTRACTS.find((module) => module.CONTRACT_DIGEST === digest);
        this.byDigest.set(
          digest,
          builtin?.CONTRACT.displayName ?? this.store.contracts.get(digest)?.displayName,
        );
      }
      const name = this.byDigest.get(digest);
      if (name) return name;
    }
    const builtin = BUILTIN_CONTRACTS.find((module) => module.CONTRACT_ID === contractId);
    return builtin?.CONTRACT.displayName ?? contractId ?? "";
  }
}

/** `<sessionKey>.b64_<base64url(principal id)>`, the key sessions are listed under. */
export function sessionListKey(session: Pick<StoredSession, "sessionKey" | "trellisId">): string {
  return `${session.sessionKey}.b64_${base64url(session.trellisId)}`;
}

/** The participant behind a session, as listings show it. */
export function participantView(
  store: ControlPlaneStore,
  names: ContractNames,
  session: StoredSession,
): ParticipantView {
  const contractId = session.contractId ?? "";
  const contractDisplayName = names.displayName(session.contractDigest, session.contractId);
  switch (session.type) {
    case "user": {
      const parsed = UserSessionDocumentSchema.safeParse(session.session);
      const document = parsed.success ? parsed.data : undefined;
      const participantKind =
        session.participantKind === "app" || session.participantKind === "agent"
          ? session.participantKind
          : (document?.participantKind ?? "app");
      return {
        participantKind,
        principal: {
          type: "user",
          userId: session.trellisId,
          identity: document?.identity ?? {
            identityId: "",
            provider: session.origin ?? "",
            subject: session.externalId ?? "",
          },
          name: store.users.get(session.trellisId)?.name ?? session.trellisId,
        },
        contractId,
        contractDisplayName,
      };
    }
    case "device": {
      const deploymentId = session.deploymentId ?? "";
      return {
        participantKind: "device",
        principal: {
          type: "device",
          deviceId: session.instanceId ?? session.trellisId,
          deviceType: deploymentId.split(".")[0] ?? deploymentId,
          runtimePublicKey: session.publicIdentityKey ?? session.sessionKey,
          deploymentId,
        },
        contractId,
        contractDisplayName,
      };
    }
    case "service": {
      const id = session.deploymentId ?? session.trellisId;
      return {
        participantKind: "service",
        principal: {
          type: "service",
          id,
          name: id,
          instanceId: session.instanceId ?? "",
          deploymentId: session.deploymentId ?? "",
        },
      };
    }
  }
}
