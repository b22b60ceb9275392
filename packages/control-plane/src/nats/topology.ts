/**
 * The NATS operator-mode topology Trellis runs on, generated in-process (no `nsc`): an operator
 * with system account `SYS`; accounts `AUTH` (callout account, its callout targets `TRELLIS`
 * through an xkey) and `TRELLIS` (all runtime traffic); users `SYS/system`, `AUTH/auth` (the
 * callout's own user), `TRELLIS/auth` (the control plane) and `AUTH/sentinel` (denied everything,
 * handed to every client so that it lands in `AUTH`, where the callout fires).
 *
 * User JWTs are signed by their account's generated signing key with `issuer_account` set to the
 * account, the same scheme the auth callout uses for the user JWTs it mints.
 */
import { type Account, encodeAccount, encodeOperator, encodeUser, fmtCreds, type User } from "@nats-io/jwt";
import { createAccount, createCurve, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { jetStreamDisabledLimits, unlimitedAccountLimits } from "./account-limits.js";

/** Names of the three accounts, as they appear in the account JWTs. */
export type AccountName = "SYS" | "AUTH" | "TRELLIS";

/** Keys of {@link Topology.users}: `sysSystem` = SYS/system, `authAuth` = AUTH/auth, `trellisAuth` = TRELLIS/auth, `sentinel` = AUTH/sentinel. */
export type TopologyUserKey = "sysSystem" | "authAuth" | "trellisAuth" | "sentinel";

/** An nkey pair in its text forms. */
export interface NkeyMaterial {
  /** Public key (`O…`, `A…`, `U…` or `X…`). */
  publicKey: string;
  /** Seed (`SO…`, `SA…`, `SU…` or `SX…`); a secret. */
  seed: string;
}

/** The operator: trust root of the server configuration. */
export interface OperatorMaterial extends NkeyMaterial {
  /** Operator name (the JWT's `name`). */
  name: string;
  /** Self-signed operator JWT naming the system account. */
  jwt: string;
}

/** An account: identity key, generated signing key and operator-signed JWT. */
export interface AccountMaterial extends NkeyMaterial {
  /** Account name. */
  name: AccountName;
  /** Signing key listed in the account JWT; signs the account's user JWTs (and, for AUTH/TRELLIS, the callout's JWTs). */
  signingKey: NkeyMaterial;
  /** Account JWT signed by the operator. */
  jwt: string;
}

/** A user: nkey, account-signed JWT and the `.creds` text built from both. */
export interface UserMaterial extends NkeyMaterial {
  /** Account the user belongs to. */
  account: AccountName;
  /** User name (the JWT's `name`). */
  name: string;
  /** User JWT, issued by the account's signing key with `issuer_account` = the account. */
  jwt: string;
  /** Decorated credentials file text (JWT + seed); a secret. */
  creds: string;
}

/** Everything needed to run NATS for Trellis and to connect to it; plain JSON-serializable data. */
export interface Topology {
  /** Format version of this object. */
  version: 1;
  /** The operator (system account = `accounts.SYS`). */
  operator: OperatorMaterial;
  /** The accounts by name. */
  accounts: Record<AccountName, AccountMaterial>;
  /** The fixed users. */
  users: Record<TopologyUserKey, UserMaterial>;
  /** Curve (xkey) pair of the AUTH account's callout: requests are sealed to `publicKey`, the callout opens them with `seed`. */
  xkey: NkeyMaterial;
}

/** Options for {@link generateTopology}. */
export interface GenerateTopologyOptions {
  /** Operator name (default `trellis`). */
  operatorName?: string;
}

/** Account and user name of every fixed user. */
export const TOPOLOGY_USERS: Readonly<Record<TopologyUserKey, { account: AccountName; name: string }>> = {
  sysSystem: { account: "SYS", name: "system" },
  authAuth: { account: "AUTH", name: "auth" },
  trellisAuth: { account: "TRELLIS", name: "auth" },
  sentinel: { account: "AUTH", name: "sentinel" },
};

const decoder = new TextDecoder();

function material(kp: KeyPair): NkeyMaterial {
  return { publicKey: kp.getPublicKey(), seed: decoder.decode(kp.getSeed()) };
}

const allowEverything: Partial<User> = { pub: { allow: [">"] }, sub: { allow: [">"] } };
const denyEverything: Partial<User> = { pub: { deny: [">"] }, sub: { deny: [">"] } };

async function makeAccount(
  name: AccountName,
  operator: KeyPair,
  claims: Partial<Account>,
): Promise<{ account: AccountMaterial; identity: KeyPair; signer: KeyPair }> {
  const identity = createAccount();
  const signer = createAccount();
  const jwt = await encodeAccount(
    name,
    identity.getPublicKey(),
    { ...claims, signing_keys: [signer.getPublicKey()] },
    { signer: operator },
  );
  return { account: { name, ...material(identity), signingKey: material(signer), jwt }, identity, signer };
}

async function makeUser(
  key: TopologyUserKey,
  account: { identity: KeyPair; signer: KeyPair },
  permissions: Partial<User>,
  user: KeyPair = createUser(),
): Promise<UserMaterial> {
  const spec = TOPOLOGY_USERS[key];
  // With a `signer`, encodeUser sets `issuer_account` to the account's identity key.
  const jwt = await encodeUser(spec.name, user, account.identity.getPublicKey(), permissions, {
    signer: account.signer,
  });
  return {
    account: spec.account,
    name: spec.name,
    ...material(user),
    jwt,
    creds: decoder.decode(fmtCreds(jwt, user)),
  };
}

/** Generates fresh keys and JWTs for the whole topology (nothing touches disk). */
export async function generateTopology(options: GenerateTopologyOptions = {}): Promise<Topology> {
  const operatorName = options.operatorName ?? "trellis";
  const operatorKp = createOperator();
  const xkeyKp = createCurve();

  const sys = await makeAccount("SYS", operatorKp, { limits: jetStreamDisabledLimits() });
  const trellis = await makeAccount("TRELLIS", operatorKp, { limits: unlimitedAccountLimits() });

  // AUTH's callout admits only AUTH/auth without asking; its JWT therefore needs that user's key up front.
  const authAuthKp = createUser();
  const auth = await makeAccount("AUTH", operatorKp, {
    limits: unlimitedAccountLimits(),
    authorization: {
      auth_users: [authAuthKp.getPublicKey()],
      allowed_accounts: [trellis.account.publicKey],
      xkey: xkeyKp.getPublicKey(),
    },
  });

  const operatorJwt = await encodeOperator(operatorName, operatorKp, {
    system_account: sys.account.publicKey,
  });

  return {
    version: 1,
    operator: { name: operatorName, ...material(operatorKp), jwt: operatorJwt },
    accounts: { SYS: sys.account, AUTH: auth.account, TRELLIS: trellis.account },
    users: {
      sysSystem: await makeUser("sysSystem", sys, allowEverything),
      authAuth: await makeUser("authAuth", auth, allowEverything, authAuthKp),
      trellisAuth: await makeUser("trellisAuth", trellis, allowEverything),
      sentinel: await makeUser("sentinel", auth, denyEverything),
    },
    xkey: material(xkeyKp),
  };
}
