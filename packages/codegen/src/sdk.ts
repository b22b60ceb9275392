/**
 * The npm SDK package of a contract (contracts spec §11): TypeScript sources written with ts-morph
 * from the canonical manifest, and compiled to ESM JavaScript and declarations. The package is
 * interchangeable with the source module: its JavaScript rebuilds the module from the embedded
 * manifest with `contractModuleFromManifest`, and its declarations carry the payload types generated
 * from the manifest's JSON Schemas, in the phantom-typed shape `define*Contract` gives a source module.
 */
import {
  type ContractManifest,
  type ContractUse,
  canonicalizeJson,
  type JsonSchema,
} from "@trellis/contracts";
import {
  IndentationText,
  NewLineKind,
  Project,
  QuoteKind,
  type SourceFile,
  ts,
  VariableDeclarationKind,
} from "ts-morph";
import { identifier, keyToPascal, NameAllocator } from "./naming.js";
import { schemaToTs } from "./schema-to-ts.js";

/** The module that provides the Trellis-owned contracts to SDKs. */
export const BUILTIN_CONTRACTS_PACKAGE = "@trellis/builtin-contracts";
/** The package SDKs build their modules with. */
export const CONTRACTS_PACKAGE = "@trellis/contracts";

/** Where a dependency's module comes from. */
export type DependencyRef =
  /** A Trellis-owned contract, exported by `@trellis/builtin-contracts` under `exportName`. */
  | { kind: "builtin"; exportName: string }
  /** Another generated SDK package. */
  | { kind: "sdk"; packageName: string; version: string };

/** Input of {@link generateSdkPackage}. */
export interface SdkPackageInput {
  /** The validated, normalized manifest. */
  manifest: ContractManifest;
  /** Its digest. */
  digest: string;
  /** The package version (the artifact version). */
  version: string;
  /** The package name. */
  packageName: string;
  /** Where each used contract's module comes from. */
  resolveDependency(contractId: string): DependencyRef;
  /** Version ranges of the peer packages. */
  peerVersions: { contracts: string; builtins: string };
}

/** Fixed names every SDK defines or imports. */
const RESERVED = [
  "Trellis",
  "CONTRACT",
  "CONTRACT_ID",
  "CONTRACT_DIGEST",
  "API",
  "DEPENDENCIES",
  "use",
  "sdk",
  "default",
  "OwnedApi",
  "UsedApi",
  "Jobs",
  "ContractModule",
  "contractModuleFromManifest",
  "errorClassFromManifest",
];

const ENVELOPE_FIELDS = new Set(["id", "type", "message", "context", "traceId"]);
const EMPTY = "Record<never, never>";
const SURFACE_KINDS = ["rpc", "operations", "events", "feeds"] as const;

/** Whether a schema is an object schema with properties (the only kind reused by name). */
function isNameableObject(schema: JsonSchema): boolean {
  return (
    typeof schema === "object" &&
    typeof schema.properties === "object" &&
    schema.properties !== null &&
    Object.keys(schema.properties).length > 0
  );
}

function sortedKeys(record: Readonly<Record<string, unknown>> | undefined): string[] {
  return Object.keys(record ?? {}).sort();
}

function docLines(text: string): string {
  return text.replaceAll("*/", "*\\/");
}

/** One entry per `uses` alias (required wins over a same-named optional alias), sorted by alias. */
function usesEntries(manifest: ContractManifest): [string, ContractUse][] {
  const all = { ...manifest.uses?.optional, ...manifest.uses?.required };
  return sortedKeys(all).map((alias) => [alias, all[alias] as ContractUse]);
}

/** The surfaces of a `uses` entry by kind. */
function selectedKeys(use: ContractUse): Record<(typeof SURFACE_KINDS)[number], string[]> {
  return {
    rpc: [...(use.rpc?.call ?? [])],
    operations: [...(use.operations?.call ?? [])],
    events: [...new Set([...(use.events?.publish ?? []), ...(use.events?.subscribe ?? [])])].sort(),
    feeds: [...(use.feeds?.subscribe ?? [])],
  };
}

function record(entries: [string, string][], indent = ""): string {
  if (entries.length === 0) return EMPTY;
  const inner = `${indent}  `;
  return `{\n${entries.map(([key, type]) => `${inner}${JSON.stringify(key)}: ${type};`).join("\n")}\n${indent}}`;
}

interface Context {
  input: SdkPackageInput;
  manifest: ContractManifest;
  names: NameAllocator;
  header: string;
}

function schemaOf(context: Context, name: string): JsonSchema {
  return context.manifest.schemas?.[name] ?? true;
}

/** `schemas.ts`: one `as const` constant per manifest schema; returns their names by schema. */
function writeSchemas(context: Context, file: SourceFile): Map<string, string> {
  const constants = new Map<string, string>();
  for (const name of sortedKeys(context.manifest.schemas)) {
    const constant = context.names.allocate(identifier(`${keyToPascal(name)}Schema`));
    constants.set(name, constant);
    file.addVariableStatement({
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: [`JSON Schema \`${docLines(name)}\`.`],
      declarations: [
        { name: constant, initializer: `${JSON.stringify(schemaOf(context, name), null, 2)} as const` },
      ],
    });
  }
  return constants;
}

/** `contract.ts`: `CONTRACT_ID`, `CONTRACT_DIGEST` and `CONTRACT` (the canonical manifest). */
function writeContract(context: Context, file: SourceFile, constants: Map<string, string>): void {
  const { manifest } = context;
  file.addImportDeclaration({
    moduleSpecifier: CONTRACTS_PACKAGE,
    namespaceImport: "Trellis",
    isTypeOnly: true,
  });
  if (constants.size > 0) {
    file.addImportDeclaration({
      moduleSpecifier: "./schemas.js",
      namedImports: [...constants.values()].sort(),
    });
  }
  const { schemas: _schemas, ...rest } = manifest;
  let literal = JSON.stringify(rest, null, 2);
  if (constants.size > 0) {
    const entries = [...constants].map(([name, constant]) => `    ${JSON.stringify(name)}: ${constant}`);
    literal = `${literal.slice(0, -2)},\n  "schemas": {\n${entries.join(",\n")}\n  }\n}`;
  }
  file.addVariableStatements([
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["The contract id."],
      declarations: [{ name: "CONTRACT_ID", initializer: JSON.stringify(manifest.id) }],
    },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["The contract digest."],
      declarations: [{ name: "CONTRACT_DIGEST", initializer: JSON.stringify(context.input.digest) }],
    },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["The canonical manifest."],
      declarations: [{ name: "CONTRACT", type: "Trellis.ContractManifest", initializer: literal }],
    },
  ]);
}

interface TypeNames {
  /** Data types of declared errors, by error type. */
  errorData: Map<string, string>;
}

/** `types.ts`: payload types, the owned and used API types and the job types. */
function writeTypes(context: Context, file: SourceFile): TypeNames {
  const { manifest, names } = context;
  file.addImportDeclaration({
    moduleSpecifier: CONTRACTS_PACKAGE,
    namespaceImport: "Trellis",
    isTypeOnly: true,
  });

  // Exported schemas get a type alias each (unless the name is taken), reused wherever an identical
  // object schema appears.
  const exported = new Map<string, string>();
  const byStructure = new Map<string, string>();
  for (const schemaName of [...new Set(manifest.exports?.schemas ?? [])].sort()) {
    const typeName = identifier(keyToPascal(schemaName));
    if (names.has(typeName)) continue;
    names.reserve(typeName);
    exported.set(schemaName, typeName);
    const schema = schemaOf(context, schemaName);
    if (isNameableObject(schema)) byStructure.set(canonicalizeJson(schema), typeName);
  }
  const named = (schema: JsonSchema) =>
    isNameableObject(schema) ? byStructure.get(canonicalizeJson(schema)) : undefined;
  for (const [schemaName, typeName] of exported) {
    file.addTypeAlias({
      isExported: true,
      name: typeName,
      type: schemaToTs(schemaOf(context, schemaName), { named }),
      docs: [docLines(`Exported schema \`${schemaName}\`.`)],
    });
  }
  const alias = (typeName: string, schemaName: string | undefined, doc: string) => {
    const schema = schemaName === undefined ? false : schemaOf(context, schemaName);
    const type = named(schema) ?? schemaToTs(schema, { named });
    file.addTypeAlias({ isExported: true, name: typeName, type, docs: [docLines(doc)] });
    return typeName;
  };
  const allocate = (base: string) => names.allocate(identifier(base));

  const owned: Record<(typeof SURFACE_KINDS)[number], [string, string][]> = {
    rpc: [],
    operations: [],
    events: [],
    feeds: [],
  };
  for (const key of sortedKeys(manifest.rpc)) {
    const rpc = manifest.rpc?.[key];
    if (!rpc) continue;
    const base = keyToPascal(key);
    const input = alias(allocate(`${base}Input`), rpc.input.schema, `Input of RPC \`${key}\`.`);
    const output = alias(allocate(`${base}Output`), rpc.output.schema, `Output of RPC \`${key}\`.`);
    const errors = [...new Set((rpc.errors ?? []).map((error) => JSON.stringify(error.type)))].sort();
    owned.rpc.push([
      key,
      `Trellis.RpcDescriptor<${input}, ${output}, ${errors.length > 0 ? errors.join(" | ") : "never"}>`,
    ]);
  }
  for (const key of sortedKeys(manifest.operations)) {
    const op = manifest.operations?.[key];
    if (!op) continue;
    const base = keyToPascal(key);
    const input = alias(allocate(`${base}Input`), op.input.schema, `Input of operation \`${key}\`.`);
    const progress = op.progress
      ? alias(allocate(`${base}Progress`), op.progress.schema, `Progress of operation \`${key}\`.`)
      : "never";
    const output = alias(allocate(`${base}Output`), op.output.schema, `Output of operation \`${key}\`.`);
    const signals = sortedKeys(op.signals).map((signal): [string, string] => [
      signal,
      alias(
        allocate(`${base}${keyToPascal(signal)}Signal`),
        op.signals?.[signal]?.input.schema,
        `Input of signal \`${signal}\` of operation \`${key}\`.`,
      ),
    ]);
    owned.operations.push([
      key,
      `Trellis.OperationDescriptor<${input}, ${progress}, ${output}, ${record(signals, "    ")}>`,
    ]);
  }
  for (const key of sortedKeys(manifest.events)) {
    const event = manifest.events?.[key];
    if (!event) continue;
    const payload = alias(
      allocate(`${keyToPascal(key)}Event`),
      event.event.schema,
      `Payload of event \`${key}\`.`,
    );
    owned.events.push([key, `Trellis.EventRuntimeDescriptor<${payload}>`]);
  }
  for (const key of sortedKeys(manifest.feeds)) {
    const feed = manifest.feeds?.[key];
    if (!feed) continue;
    const base = keyToPascal(key);
    const input = alias(allocate(`${base}Input`), feed.input.schema, `Input of feed \`${key}\`.`);
    const frame = alias(allocate(`${base}Event`), feed.event.schema, `Frame of feed \`${key}\`.`);
    owned.feeds.push([key, `Trellis.FeedDescriptor<${input}, ${frame}>`]);
  }

  const errorData = new Map<string, string>();
  for (const local of sortedKeys(manifest.errors)) {
    const declaration = manifest.errors?.[local];
    if (!declaration || errorData.has(declaration.type)) continue;
    const schema = declaration.schema ? schemaOf(context, declaration.schema.schema) : true;
    const fields =
      typeof schema === "object" && typeof schema.properties === "object" && schema.properties !== null
        ? {
            type: "object",
            properties: Object.fromEntries(
              Object.entries(schema.properties).filter(([field]) => !ENVELOPE_FIELDS.has(field)),
            ),
            required: (Array.isArray(schema.required) ? (schema.required as string[]) : []).filter(
              (field) => !ENVELOPE_FIELDS.has(field),
            ),
          }
        : { type: "object" };
    const typeName = allocate(`${keyToPascal(declaration.type)}Data`);
    file.addTypeAlias({
      isExported: true,
      name: typeName,
      type: schemaToTs(fields, { named }),
      docs: [`Declared fields of error \`${declaration.type}\`.`],
    });
    errorData.set(declaration.type, typeName);
  }

  const jobs: [string, string][] = [];
  for (const queue of sortedKeys(manifest.jobs)) {
    const job = manifest.jobs?.[queue];
    if (!job) continue;
    const base = keyToPascal(queue);
    const payload = alias(
      allocate(`${base}JobPayload`),
      job.payload.schema,
      `Payload of job queue \`${queue}\`.`,
    );
    const result = job.result
      ? alias(allocate(`${base}JobResult`), job.result.schema, `Result of job queue \`${queue}\`.`)
      : "unknown";
    jobs.push([queue, `Trellis.JobQueueTypes<${payload}, ${payload}, ${result}>`]);
  }

  const used: Record<(typeof SURFACE_KINDS)[number], string[]> = {
    rpc: [],
    operations: [],
    events: [],
    feeds: [],
  };
  const dependencyTypes = new Map<string, string>();
  for (const [, use] of usesEntries(manifest)) {
    let owner = dependencyTypes.get(use.contract);
    if (!owner) {
      const ref = context.input.resolveDependency(use.contract);
      if (ref.kind === "builtin") {
        const local = names.allocate(`${keyToPascal(ref.exportName)}Module`);
        file.addImportDeclaration({
          moduleSpecifier: BUILTIN_CONTRACTS_PACKAGE,
          namedImports: [{ name: ref.exportName, alias: local }],
          isTypeOnly: true,
        });
        owner = `(typeof ${local})["API"]["owned"]`;
      } else {
        const local = names.allocate(`${keyToPascal(ref.packageName.replace(/^@[^/]+\//, ""))}OwnedApi`);
        file.addImportDeclaration({
          moduleSpecifier: ref.packageName,
          namedImports: [{ name: "OwnedApi", alias: local }],
          isTypeOnly: true,
        });
        owner = local;
      }
      dependencyTypes.set(use.contract, owner);
    }
    const selected = selectedKeys(use);
    for (const kind of SURFACE_KINDS) {
      const keys = selected[kind];
      if (keys.length > 0) {
        used[kind].push(`Pick<${owner}["${kind}"], ${keys.map((key) => JSON.stringify(key)).join(" | ")}>`);
      }
    }
  }

  const surfaces = (entries: Record<(typeof SURFACE_KINDS)[number], string>) =>
    `{\n${SURFACE_KINDS.map((kind) => `  ${kind}: ${entries[kind]};`).join("\n")}\n}`;
  file.addTypeAlias({
    isExported: true,
    name: "OwnedApi",
    docs: ["The surfaces this contract owns, with their payload types."],
    type: surfaces({
      rpc: record(owned.rpc, "  "),
      operations: record(owned.operations, "  "),
      events: record(owned.events, "  "),
      feeds: record(owned.feeds, "  "),
    }),
  });
  file.addTypeAlias({
    isExported: true,
    name: "UsedApi",
    docs: ["The surfaces this contract uses, typed by the contracts that own them."],
    type: surfaces({
      rpc: used.rpc.join(" & ") || EMPTY,
      operations: used.operations.join(" & ") || EMPTY,
      events: used.events.join(" & ") || EMPTY,
      feeds: used.feeds.join(" & ") || EMPTY,
    }),
  });
  file.addTypeAlias({
    isExported: true,
    name: "Jobs",
    docs: ["The job queues of this contract."],
    type: record(jobs),
  });
  return { errorData };
}

/** `mod.ts`: error classes, the contract module and the package's root exports. */
function writeModule(context: Context, file: SourceFile, types: TypeNames): void {
  const { manifest, names } = context;
  file.addImportDeclaration({
    moduleSpecifier: CONTRACTS_PACKAGE,
    namedImports: [
      "contractModuleFromManifest",
      ...(types.errorData.size > 0 ? ["errorClassFromManifest"] : []),
    ],
  });
  file.addImportDeclaration({
    moduleSpecifier: CONTRACTS_PACKAGE,
    namespaceImport: "Trellis",
    isTypeOnly: true,
  });

  const dependencies: string[] = [];
  const imported = new Map<string, string>();
  for (const [alias, use] of usesEntries(manifest)) {
    let local = imported.get(use.contract);
    if (!local) {
      const ref = context.input.resolveDependency(use.contract);
      if (ref.kind === "builtin") {
        local = names.allocate(`${ref.exportName}Contract`);
        file.addImportDeclaration({
          moduleSpecifier: BUILTIN_CONTRACTS_PACKAGE,
          namedImports: [{ name: ref.exportName, alias: local }],
        });
      } else {
        local = names.allocate(`${keyToPascal(ref.packageName.replace(/^@[^/]+\//, ""))}Sdk`);
        file.addImportDeclaration({
          moduleSpecifier: ref.packageName,
          namedImports: [{ name: "sdk", alias: local }],
        });
      }
      imported.set(use.contract, local);
    }
    dependencies.push(`${JSON.stringify(alias)}: ${local}`);
  }
  file.addImportDeclaration({ moduleSpecifier: "./contract.js", namedImports: ["CONTRACT"] });
  file.addImportDeclaration({
    moduleSpecifier: "./types.js",
    namedImports: ["Jobs", "OwnedApi", "UsedApi", ...[...types.errorData.values()].sort()],
    isTypeOnly: true,
  });
  file.addExportDeclaration({ moduleSpecifier: "./contract.js" });
  file.addExportDeclaration({ moduleSpecifier: "./schemas.js" });
  file.addExportDeclaration({ moduleSpecifier: "./types.js", isTypeOnly: true });

  const errorClasses: string[] = [];
  for (const [type, data] of [...types.errorData].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = names.allocate(identifier(keyToPascal(type)));
    errorClasses.push(name);
    file.addVariableStatement({
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: [`The class of error \`${type}\`: \`fromSerializable\` validates a payload against its schema.`],
      declarations: [
        {
          name,
          type: `Trellis.DefinedErrorClass<${JSON.stringify(type)}, ${data}>`,
          initializer: `errorClassFromManifest(CONTRACT, ${JSON.stringify(type)})`,
        },
      ],
    });
    file.addTypeAlias({
      isExported: true,
      name,
      type: `Trellis.TrellisError<${data}>`,
      docs: [`An \`${type}\` error.`],
    });
  }

  file.addTypeAlias({
    isExported: true,
    name: "ContractModule",
    docs: [`The contract module type of \`${manifest.id}\`.`],
    type: `Trellis.ContractModule<${JSON.stringify(manifest.id)}, OwnedApi, UsedApi> & Trellis.TypedJobs<Jobs>`,
  });
  const options = [
    `dependencies: {${dependencies.length > 0 ? ` ${dependencies.join(", ")} ` : ""}}`,
    ...(errorClasses.length > 0 ? [`errors: [${errorClasses.join(", ")}]`] : []),
  ];
  file.addVariableStatements([
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: [
        `The contract module of \`${manifest.id}\`, interchangeable with the module its source defines: pass it to \`TrellisClient\` or \`TrellisService\`, or call \`use()\` to depend on it.`,
      ],
      declarations: [
        {
          name: "sdk",
          type: "ContractModule",
          initializer: `contractModuleFromManifest(CONTRACT, { ${options.join(", ")} }) as unknown as ContractModule`,
        },
      ],
    },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["Runtime descriptors of the owned and used surfaces."],
      declarations: [{ name: "API", type: 'ContractModule["API"]', initializer: "sdk.API" }],
    },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["The modules of the contracts it uses, by `uses` alias."],
      declarations: [
        { name: "DEPENDENCIES", type: 'ContractModule["DEPENDENCIES"]', initializer: "sdk.DEPENDENCIES" },
      ],
    },
    {
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: ["Declares a dependency on this contract; unknown keys are refused."],
      declarations: [{ name: "use", type: 'ContractModule["use"]', initializer: "sdk.use" }],
    },
  ]);
  file.addExportAssignment({ expression: "sdk", isExportEquals: false });
}

/** The `package.json` of the SDK. */
function packageJson(input: SdkPackageInput): string {
  const { manifest } = input;
  const dependencies: Record<string, string> = {};
  let builtins = false;
  for (const [, use] of usesEntries(manifest)) {
    const ref = input.resolveDependency(use.contract);
    if (ref.kind === "builtin") builtins = true;
    else dependencies[ref.packageName] = ref.version;
  }
  const sorted = (value: Record<string, string>) =>
    Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const pkg = {
    name: input.packageName,
    version: input.version,
    description: `Generated Trellis SDK of ${manifest.id} (${manifest.displayName}): ${manifest.description}`,
    type: "module",
    sideEffects: false,
    exports: { ".": { types: "./esm/mod.d.ts", import: "./esm/mod.js" } },
    files: ["esm"],
    trellis: { contractId: manifest.id, contractDigest: input.digest },
    ...(Object.keys(dependencies).length > 0 && { dependencies: sorted(dependencies) }),
    peerDependencies: sorted({
      [CONTRACTS_PACKAGE]: input.peerVersions.contracts,
      ...(builtins && { [BUILTIN_CONTRACTS_PACKAGE]: input.peerVersions.builtins }),
    }),
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/**
 * Generates the SDK package of a service or app contract: `package.json` and `esm/*.js` + `esm/*.d.ts`,
 * by path relative to the package folder. The output depends only on the input.
 */
export function generateSdkPackage(input: SdkPackageInput): Map<string, string> {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      declaration: true,
      // Emit only: no type checking, so no lib files or type packages to parse.
      noCheck: true,
      noLib: true,
      types: [],
      strict: true,
      skipLibCheck: true,
      rootDir: "/src",
      outDir: "/esm",
      newLine: ts.NewLineKind.LineFeed,
    },
    manipulationSettings: {
      indentationText: IndentationText.TwoSpaces,
      quoteKind: QuoteKind.Double,
      newLineKind: NewLineKind.LineFeed,
    },
  });
  const names = new NameAllocator();
  names.reserve(...RESERVED);
  const context: Context = {
    input,
    // The canonical form (sorted keys): the output depends on the manifest's content, not its key order.
    manifest: JSON.parse(canonicalizeJson(input.manifest)) as ContractManifest,
    names,
    header: `// Generated by trellis prepare from ${input.manifest.id} (${input.digest}). Do not edit.`,
  };
  const schemas = project.createSourceFile("/src/schemas.ts");
  const contract = project.createSourceFile("/src/contract.ts");
  const typesFile = project.createSourceFile("/src/types.ts");
  const mod = project.createSourceFile("/src/mod.ts");
  writeContract(context, contract, writeSchemas(context, schemas));
  writeModule(context, mod, writeTypes(context, typesFile));
  for (const file of [schemas, contract, typesFile, mod]) file.insertStatements(0, context.header);

  const files = new Map<string, string>([["package.json", packageJson(input)]]);
  const emitted = project.emitToMemory();
  const problems = emitted.getDiagnostics().map((diagnostic) => {
    const message = diagnostic.getMessageText();
    return typeof message === "string" ? message : message.getMessageText();
  });
  if (emitted.getEmitSkipped() || problems.length > 0) {
    throw new Error(`SDK of ${input.manifest.id} could not be compiled: ${problems.join("; ")}`);
  }
  for (const output of emitted.getFiles()) {
    files.set(output.filePath.replace(/^\/esm\//, "esm/"), output.text);
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
