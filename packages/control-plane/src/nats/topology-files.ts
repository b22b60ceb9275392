/**
 * Writes a {@link Topology} to a folder and reads it back. Every secret (seed or creds) lives in
 * exactly one file with mode 0600; `topology.json` holds the public parts and the file names
 * (relative to the folder), so it can be shown or copied freely.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseCreds } from "@nats-io/jwt";
import { fromSeed } from "@nats-io/nkeys";
import { z } from "zod";
import { type NatsConfOptions, renderFullResolverConf, renderNatsConf } from "./nats-conf.js";
import {
  type AccountMaterial,
  type AccountName,
  type NkeyMaterial,
  TOPOLOGY_USERS,
  type Topology,
  type TopologyUserKey,
  type UserMaterial,
} from "./topology.js";

/** File names inside a topology folder. */
export const TOPOLOGY_FILE_NAMES = {
  manifest: "topology.json",
  natsConf: "nats.conf",
  fullResolverConfExample: "nats.full-resolver.conf.example",
  fullResolverDir: "jwt",
  operatorSeed: "operator.seed",
  accountSeeds: { SYS: "sys-account.seed", AUTH: "auth-account.seed", TRELLIS: "trellis-account.seed" },
  signingSeeds: {
    SYS: "sys-signing.seed",
    AUTH: "auth-issuer-signing.seed",
    TRELLIS: "auth-target-signing.seed",
  },
  xkeySeed: "auth-sx.seed",
  creds: {
    sysSystem: "sys-system.creds",
    authAuth: "auth-auth.creds",
    trellisAuth: "trellis-auth.creds",
    sentinel: "sentinel.creds",
  },
} as const satisfies {
  accountSeeds: Record<AccountName, string>;
  signingSeeds: Record<AccountName, string>;
  creds: Record<TopologyUserKey, string>;
  [other: string]: unknown;
};

/** Absolute paths of the files {@link writeTopology} writes. */
export interface TopologyFiles {
  /** The folder itself. */
  dir: string;
  /** `topology.json`: public keys, JWTs of operator and accounts, file names. */
  manifest: string;
  /** `nats.conf` (MEMORY resolver). */
  natsConf: string;
  /** `nats.full-resolver.conf.example` (full resolver, for production). */
  fullResolverConfExample: string;
  /** Operator seed. */
  operatorSeed: string;
  /** Account identity seeds. */
  accountSeeds: Record<AccountName, string>;
  /** Account signing-key seeds; AUTH's is the callout issuer key, TRELLIS's the callout target key. */
  signingSeeds: Record<AccountName, string>;
  /** Callout xkey seed (`SX…`). */
  xkeySeed: string;
  /** User `.creds` files. */
  creds: Record<TopologyUserKey, string>;
}

/** Options for {@link writeTopology}. */
export interface WriteTopologyOptions {
  /** Runtime settings added to `nats.conf` and the full-resolver example (default: none, pass them on the command line). */
  natsConf?: NatsConfOptions;
}

/** A topology folder is missing a file, holds malformed data, or a seed does not match its public key. */
export class TopologyFileError extends Error {
  override readonly name = "TopologyFileError";
}

const ACCOUNT_NAMES: readonly AccountName[] = ["SYS", "AUTH", "TRELLIS"];
const USER_KEYS: readonly TopologyUserKey[] = ["sysSystem", "authAuth", "trellisAuth", "sentinel"];

/** Absolute paths of the topology files in `dir`. */
export function topologyFiles(dir: string): TopologyFiles {
  const root = resolve(dir);
  const at = (name: string) => join(root, name);
  const perAccount = (names: Record<AccountName, string>): Record<AccountName, string> => ({
    SYS: at(names.SYS),
    AUTH: at(names.AUTH),
    TRELLIS: at(names.TRELLIS),
  });
  const names = TOPOLOGY_FILE_NAMES;
  return {
    dir: root,
    manifest: at(names.manifest),
    natsConf: at(names.natsConf),
    fullResolverConfExample: at(names.fullResolverConfExample),
    operatorSeed: at(names.operatorSeed),
    accountSeeds: perAccount(names.accountSeeds),
    signingSeeds: perAccount(names.signingSeeds),
    xkeySeed: at(names.xkeySeed),
    creds: {
      sysSystem: at(names.creds.sysSystem),
      authAuth: at(names.creds.authAuth),
      trellisAuth: at(names.creds.trellisAuth),
      sentinel: at(names.creds.sentinel),
    },
  };
}

const publicKey = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}[A-Z2-7]{55}$`), `must be a public key starting with ${prefix}`);
/** A plain file name inside the topology folder (no separators, so the manifest cannot point elsewhere). */
const fileName = z.string().regex(/^[\w][\w.-]*$/, "must be a plain file name inside the topology folder");
const jwt = z.string().regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, "must be a JWT");

const ManifestAccountSchema = z.object({
  name: z.enum(["SYS", "AUTH", "TRELLIS"]),
  publicKey: publicKey("A"),
  seedFile: fileName,
  signingKey: z.object({ publicKey: publicKey("A"), seedFile: fileName }),
  jwt,
});

const ManifestUserSchema = z.object({
  account: z.enum(["SYS", "AUTH", "TRELLIS"]),
  name: z.string().min(1),
  publicKey: publicKey("U"),
  credsFile: fileName,
});

/** Schema of `topology.json`. */
const TopologyManifestSchema = z.object({
  version: z.literal(1),
  operator: z.object({ name: z.string().min(1), publicKey: publicKey("O"), seedFile: fileName, jwt }),
  accounts: z.object({
    SYS: ManifestAccountSchema,
    AUTH: ManifestAccountSchema,
    TRELLIS: ManifestAccountSchema,
  }),
  users: z.object({
    sysSystem: ManifestUserSchema,
    authAuth: ManifestUserSchema,
    trellisAuth: ManifestUserSchema,
    sentinel: ManifestUserSchema,
  }),
  xkey: z.object({ publicKey: publicKey("X"), seedFile: fileName }),
  natsConf: fileName,
  fullResolverConfExample: fileName,
});

/** Contents of `topology.json`: public parts plus the names of the files holding the secrets. */
export type TopologyManifest = z.infer<typeof TopologyManifestSchema>;

function toManifest(topology: Topology): TopologyManifest {
  const names = TOPOLOGY_FILE_NAMES;
  const account = (name: AccountName): TopologyManifest["accounts"][AccountName] => {
    const a = topology.accounts[name];
    return {
      name,
      publicKey: a.publicKey,
      seedFile: names.accountSeeds[name],
      signingKey: { publicKey: a.signingKey.publicKey, seedFile: names.signingSeeds[name] },
      jwt: a.jwt,
    };
  };
  const user = (key: TopologyUserKey): TopologyManifest["users"][TopologyUserKey] => {
    const u = topology.users[key];
    return { account: u.account, name: u.name, publicKey: u.publicKey, credsFile: names.creds[key] };
  };
  return {
    version: 1,
    operator: {
      name: topology.operator.name,
      publicKey: topology.operator.publicKey,
      seedFile: names.operatorSeed,
      jwt: topology.operator.jwt,
    },
    accounts: { SYS: account("SYS"), AUTH: account("AUTH"), TRELLIS: account("TRELLIS") },
    users: {
      sysSystem: user("sysSystem"),
      authAuth: user("authAuth"),
      trellisAuth: user("trellisAuth"),
      sentinel: user("sentinel"),
    },
    xkey: { publicKey: topology.xkey.publicKey, seedFile: names.xkeySeed },
    natsConf: names.natsConf,
    fullResolverConfExample: names.fullResolverConfExample,
  };
}

/** Writes `content`, then forces `mode` (writeFile's mode only applies when the file is created). */
async function writeWithMode(path: string, content: string, mode: number): Promise<void> {
  await writeFile(path, content, { mode });
  await chmod(path, mode);
}

const SECRET = 0o600;
const PUBLIC = 0o644;

/**
 * Writes the topology into `dir` (created with mode 0700 if missing; existing files are
 * overwritten): seeds and creds with mode 0600, `nats.conf`, the full-resolver example and
 * `topology.json` with mode 0644. Returns the absolute paths.
 */
export async function writeTopology(
  dir: string,
  topology: Topology,
  options: WriteTopologyOptions = {},
): Promise<TopologyFiles> {
  const files = topologyFiles(dir);
  await mkdir(files.dir, { recursive: true, mode: 0o700 });

  await writeWithMode(files.operatorSeed, `${topology.operator.seed}\n`, SECRET);
  for (const name of ACCOUNT_NAMES) {
    const account = topology.accounts[name];
    await writeWithMode(files.accountSeeds[name], `${account.seed}\n`, SECRET);
    await writeWithMode(files.signingSeeds[name], `${account.signingKey.seed}\n`, SECRET);
  }
  await writeWithMode(files.xkeySeed, `${topology.xkey.seed}\n`, SECRET);
  for (const key of USER_KEYS) {
    await writeWithMode(files.creds[key], topology.users[key].creds, SECRET);
  }

  const natsConfOptions = options.natsConf ?? {};
  await writeWithMode(files.natsConf, renderNatsConf(topology, natsConfOptions), PUBLIC);
  await writeWithMode(
    files.fullResolverConfExample,
    renderFullResolverConf(topology, {
      ...natsConfOptions,
      resolverDir: join(files.dir, TOPOLOGY_FILE_NAMES.fullResolverDir),
    }),
    PUBLIC,
  );
  await writeWithMode(files.manifest, `${JSON.stringify(toManifest(topology), null, 2)}\n`, PUBLIC);
  return files;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new TopologyFileError(`Cannot read '${path}': ${(cause as Error).message}`, { cause });
  }
}

const encoder = new TextEncoder();

/** Reads a seed file and checks that it belongs to `expectedPublicKey`. */
async function readSeed(path: string, expectedPublicKey: string): Promise<string> {
  const seed = (await readText(path)).trim();
  let actual: string;
  try {
    actual = fromSeed(encoder.encode(seed)).getPublicKey();
  } catch (cause) {
    throw new TopologyFileError(`'${path}' does not hold a valid nkey seed`, { cause });
  }
  if (actual !== expectedPublicKey) {
    throw new TopologyFileError(`The seed in '${path}' is for ${actual}, expected ${expectedPublicKey}`);
  }
  return seed;
}

async function readAccount(
  dir: string,
  entry: TopologyManifest["accounts"][AccountName],
): Promise<AccountMaterial> {
  const signingKey: NkeyMaterial = {
    publicKey: entry.signingKey.publicKey,
    seed: await readSeed(join(dir, entry.signingKey.seedFile), entry.signingKey.publicKey),
  };
  return {
    name: entry.name,
    publicKey: entry.publicKey,
    seed: await readSeed(join(dir, entry.seedFile), entry.publicKey),
    signingKey,
    jwt: entry.jwt,
  };
}

async function readUser(
  dir: string,
  entry: TopologyManifest["users"][TopologyUserKey],
): Promise<UserMaterial> {
  const path = join(dir, entry.credsFile);
  const creds = await readText(path);
  let parsed: { key: string; jwt: string; uc: { sub: string } };
  try {
    parsed = await parseCreds(encoder.encode(creds));
  } catch (cause) {
    throw new TopologyFileError(`'${path}' is not a valid creds file`, { cause });
  }
  if (parsed.uc.sub !== entry.publicKey) {
    throw new TopologyFileError(`The JWT in '${path}' is for ${parsed.uc.sub}, expected ${entry.publicKey}`);
  }
  let seedKey: string;
  try {
    seedKey = fromSeed(encoder.encode(parsed.key)).getPublicKey();
  } catch (cause) {
    throw new TopologyFileError(`'${path}' does not hold a valid user seed`, { cause });
  }
  if (seedKey !== entry.publicKey) {
    throw new TopologyFileError(`The seed in '${path}' is for ${seedKey}, expected ${entry.publicKey}`);
  }
  return {
    account: entry.account,
    name: entry.name,
    publicKey: entry.publicKey,
    seed: parsed.key,
    jwt: parsed.jwt,
    creds,
  };
}

/** Reads `topology.json` from `dir` without touching the secret files. */
export async function readTopologyManifest(dir: string): Promise<TopologyManifest> {
  const path = topologyFiles(dir).manifest;
  let raw: unknown;
  try {
    raw = JSON.parse(await readText(path));
  } catch (cause) {
    if (cause instanceof TopologyFileError) throw cause;
    throw new TopologyFileError(`'${path}' is not valid JSON`, { cause });
  }
  const parsed = TopologyManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new TopologyFileError(`'${path}' is not a valid topology manifest:\n  ${problems.join("\n  ")}`);
  }
  for (const key of USER_KEYS) {
    const user = parsed.data.users[key];
    const expected = TOPOLOGY_USERS[key];
    if (user.account !== expected.account || user.name !== expected.name) {
      throw new TopologyFileError(
        `'${path}': users.${key} must be ${expected.account}/${expected.name}, found ${user.account}/${user.name}`,
      );
    }
  }
  for (const name of ACCOUNT_NAMES) {
    if (parsed.data.accounts[name].name !== name) {
      throw new TopologyFileError(`'${path}': accounts.${name} is named ${parsed.data.accounts[name].name}`);
    }
  }
  return parsed.data;
}

/** Reads a topology written by {@link writeTopology}, checking every seed and creds file against `topology.json`. */
export async function readTopology(dir: string): Promise<Topology> {
  const root = resolve(dir);
  const manifest = await readTopologyManifest(root);
  return {
    version: 1,
    operator: {
      name: manifest.operator.name,
      publicKey: manifest.operator.publicKey,
      seed: await readSeed(join(root, manifest.operator.seedFile), manifest.operator.publicKey),
      jwt: manifest.operator.jwt,
    },
    accounts: {
      SYS: await readAccount(root, manifest.accounts.SYS),
      AUTH: await readAccount(root, manifest.accounts.AUTH),
      TRELLIS: await readAccount(root, manifest.accounts.TRELLIS),
    },
    users: {
      sysSystem: await readUser(root, manifest.users.sysSystem),
      authAuth: await readUser(root, manifest.users.authAuth),
      trellisAuth: await readUser(root, manifest.users.trellisAuth),
      sentinel: await readUser(root, manifest.users.sentinel),
    },
    xkey: {
      publicKey: manifest.xkey.publicKey,
      seed: await readSeed(join(root, manifest.xkey.seedFile), manifest.xkey.publicKey),
    },
  };
}
