/** Wire schemas of the JSON routes' request bodies (auth spec §5.1). */
import { z } from "zod";

/** A public session key: raw Ed25519 key, base64url (43 characters). */
export const SessionKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be a 43-character base64url key");

/** An Ed25519 signature, base64url (86 characters). */
export const SignatureSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{86}$/, "must be an 86-character base64url signature");

/** Issued-at, unix seconds. */
export const IatSchema = z.number().int().refine(Number.isSafeInteger, "must be a safe integer");

/** A contract digest (base64url). */
export const DigestSchema = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be a base64url digest");

/** `POST /auth/requests`. */
export const AuthRequestBodySchema = z
  .object({
    provider: z.string().min(1).optional(),
    redirectTo: z.string().min(1).max(4096),
    sessionKey: SessionKeySchema,
    sig: SignatureSchema,
    contractDigest: DigestSchema.optional(),
    contract: z.record(z.string(), z.json()).optional(),
    context: z.json().optional(),
  })
  .refine((body) => body.contract !== undefined || body.contractDigest !== undefined, {
    message: "contract or contractDigest is required",
    path: ["contract"],
  });

/** `POST /auth/login/local`. */
export const LocalLoginBodySchema = z.object({
  flowId: z.string().min(1).max(64),
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(4096),
});

/** `POST /auth/flow/:flowId/approval`: exactly `{approved: boolean}`. */
export const ApprovalBodySchema = z.strictObject({ approved: z.boolean() });

/** `POST /auth/flow/:flowId/bind`. */
export const BindBodySchema = z.object({ sessionKey: SessionKeySchema, sig: SignatureSchema });

/** `POST /bootstrap/client`. */
export const BootstrapClientBodySchema = z.object({
  sessionKey: SessionKeySchema,
  iat: IatSchema,
  sig: SignatureSchema,
});

/** `POST /auth/sessions/logout`. */
export const LogoutBodySchema = z.object({
  sessionKey: SessionKeySchema,
  iat: IatSchema,
  sig: SignatureSchema,
  providerLogout: z.boolean().optional(),
  federatedProviderLogout: z.boolean().optional(),
  returnTo: z.string().min(1).max(4096).optional(),
  responseMode: z.enum(["json", "redirect"]).optional(),
});

/** `POST /auth/account-flow/:flowId/local-password`. */
export const AccountPasswordBodySchema = z.object({ password: z.string().min(1).max(4096) });
