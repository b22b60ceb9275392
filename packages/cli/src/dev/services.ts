/**
 * The services `trellis dev` runs. A service is a package folder whose `package.json` declares it:
 *
 * ```json
 * "trellis": { "service": { "name": "orders", "main": "dist/main-service.js", "contract": "dist/contract.js" },
 *              "demo": "dist/demo.js" }
 * ```
 *
 * `contract` is a module exporting exactly one service contract module; `main` is started with
 * `node` and reads `TRELLIS_URL` and `TRELLIS_SESSION_KEY_SEED`; the optional `demo` module exports
 * `runDemo` (see `demo.ts`). Each service gets a `mutable-dev` deployment named after it and one
 * instance whose seed is generated once into `<dir>/services/<name>.seed`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { analyzeContract, type ContractManifest, ContractManifestSchema } from "@trellis/contracts";
import type { ControlPlaneStore } from "@trellis/control-plane";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { z } from "zod";
import { CliError } from "../errors.js";

/** A service folder's declaration, resolved to absolute paths. */
export interface DevServiceSpec {
  /** Deployment id and output label. */
  name: string;
  /** The package folder. */
  dir: string;
  /** The service's entry point (run with `node`). */
  main: string;
  /** The module exporting its contract. */
  contract: string;
  /** The module exporting `runDemo`, when it has a demo. */
  demo?: string;
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

const PackageSchema = z.object({
  trellis: z.object({
    service: z.object({
      name: z.string().regex(NAME, "lowercase letters, digits and '-', starting with a letter"),
      main: z.string().min(1),
      contract: z.string().min(1),
    }),
    demo: z.string().min(1).optional(),
  }),
});

/** Reads the `trellis` declaration of the package in `dir`; refuses a folder that is not a service. */
export function readServiceSpec(dir: string): DevServiceSpec {
  const folder = resolve(dir);
  const file = join(folder, "package.json");
  if (!existsSync(file)) {
    throw new CliError("invalid-service", `'${folder}' is not a service folder: it has no package.json`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new CliError("invalid-service", `'${file}' is not valid JSON: ${String(error)}`);
  }
  const parsed = PackageSchema.safeParse(json);
  if (!parsed.success) {
    throw new CliError("invalid-service", `'${file}' does not declare a Trellis service`, {
      lines: [
        ...parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`),
        `  expected "trellis": { "service": { "name", "main", "contract" }, "demo"? }`,
      ],
    });
  }
  const { service, demo } = parsed.data.trellis;
  const spec: DevServiceSpec = {
    name: service.name,
    dir: folder,
    main: resolve(folder, service.main),
    contract: resolve(folder, service.contract),
    ...(demo !== undefined && { demo: resolve(folder, demo) }),
  };
  for (const path of [spec.main, spec.contract, ...(spec.demo === undefined ? [] : [spec.demo])]) {
    if (!existsSync(path)) {
      throw new CliError("invalid-service", `service '${spec.name}': '${path}' does not exist`, {
        lines: ["  build it first (npm run build)"],
      });
    }
  }
  return spec;
}

/** The service contract manifest the spec's contract module exports (exactly one). */
export async function loadServiceContract(spec: DevServiceSpec): Promise<ContractManifest> {
  const module: Record<string, unknown> = await import(pathToFileURL(spec.contract).href);
  const manifests: ContractManifest[] = [];
  for (const value of Object.values(module)) {
    if (typeof value !== "object" || value === null || !("CONTRACT" in value)) continue;
    const manifest = ContractManifestSchema.safeParse(value.CONTRACT);
    if (manifest.success && manifest.data.kind === "service") manifests.push(manifest.data);
  }
  const [manifest, ...others] = manifests;
  if (manifest === undefined || others.length > 0) {
    throw new CliError(
      "invalid-service",
      `service '${spec.name}': '${spec.contract}' must export exactly one service contract module (found ${manifests.length})`,
    );
  }
  return manifest;
}

/** The instance's session key seed: read from `<dir>/services/<name>.seed`, or generated once (0600). */
export function instanceSeed(dir: string, name: string): string {
  const folder = join(dir, "services");
  const file = join(folder, `${name}.seed`);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const seed = generateSessionSeed();
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  return seed;
}

/** What {@link ensureDeployment} set up. */
export interface DevDeployment {
  deploymentId: string;
  instanceId: string;
  instanceKey: string;
}

/**
 * Ensures the service's `mutable-dev` deployment (namespaces from its contract) and its instance for
 * `seed`. Refuses a deployment or instance that exists in a state `trellis dev` did not leave it in.
 */
export function ensureDeployment(
  store: ControlPlaneStore,
  name: string,
  manifest: ContractManifest,
  seed: string,
): DevDeployment {
  const deploymentId = name;
  const instanceKey = sessionKeyFromSeed(seed);
  const existing = store.serviceDeployments.get(deploymentId);
  if (existing === undefined) {
    store.serviceDeployments
      .create({
        deploymentId,
        namespaces: analyzeContract(manifest).namespaces,
        contractCompatibilityMode: "mutable-dev",
      })
      .unwrap();
  } else if (existing.disabled || existing.contractCompatibilityMode !== "mutable-dev") {
    throw new CliError(
      "dev-deployment-changed",
      `deployment '${deploymentId}' exists but is ${existing.disabled ? "disabled" : `in '${existing.contractCompatibilityMode}' mode`}; trellis dev needs an enabled mutable-dev deployment`,
    );
  }
  let instance = store.serviceInstances.getByKey(instanceKey);
  if (instance === undefined) {
    instance = store.serviceInstances.provision({ deploymentId, instanceKey }).unwrap();
  } else if (instance.deploymentId !== deploymentId || instance.disabled) {
    throw new CliError(
      "dev-deployment-changed",
      `instance '${instance.instanceId}' of service '${name}' is ${instance.disabled ? "disabled" : `in deployment '${instance.deploymentId}'`}`,
    );
  }
  return { deploymentId, instanceId: instance.instanceId, instanceKey };
}

/** Adds `capabilities` to the local user `username` (the dev admin may use every dev service). */
export function grantCapabilities(
  store: ControlPlaneStore,
  username: string,
  capabilities: readonly string[],
): void {
  const identity = store.identities.findLocal(username);
  const user = identity === undefined ? undefined : store.users.get(identity.userId);
  if (user === undefined) throw new Error(`local user '${username}' does not exist`);
  const missing = capabilities.filter((capability) => !user.capabilities.includes(capability));
  if (missing.length === 0) return;
  store.users.update(user.userId, { capabilities: [...user.capabilities, ...missing] }).unwrap();
}
