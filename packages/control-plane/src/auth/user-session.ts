/**
 * The document stored with a user session at bind time (auth spec §1.5, §3.3): what the session was
 * approved for. The callout and `Auth.Requests.Validate` grant exactly this, re-checked against the
 * user's current capabilities.
 */
import { z } from "zod";

/** What a bound user session may do. */
export const UserSessionDocumentSchema = z.object({
  /** The account. */
  userId: z.string(),
  /** The identity the user signed in with. */
  identity: z.object({ identityId: z.string(), provider: z.string(), subject: z.string() }),
  /** `app` or `agent`. */
  participantKind: z.enum(["app", "agent"]),
  /** Capabilities approved for the session (the contract's required ones). */
  delegatedCapabilities: z.array(z.string()),
  /** Subjects the session may publish to. */
  delegatedPublishSubjects: z.array(z.string()),
  /** Subjects the session may subscribe to (the inbox is added at connect). */
  delegatedSubscribeSubjects: z.array(z.string()),
  /** Where the flow redirected to. */
  redirectTo: z.string().optional(),
  /** Origin of a web app session. */
  appOrigin: z.string().optional(),
});

/** What a bound user session may do. */
export type UserSessionDocument = z.infer<typeof UserSessionDocumentSchema>;
