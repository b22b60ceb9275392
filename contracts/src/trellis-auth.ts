/**
 * `trellis.auth@v1`, loaded from the Trellis 0.10 reference manifest (a verbatim copy of
 * `conformance/reference-manifests/trellis.auth@v1.json`).
 *
 * This is a stand-in used until the auth contract is authored in TypeScript with the same helpers as
 * the other builtin contracts; it lets those contracts declare their dependency on auth RPCs today.
 * Its `API.used` view is empty because a manifest alone does not carry its dependencies' modules.
 */
import { contractModuleFromManifest, parseContractManifest } from "@trellis/contracts";
import json from "./reference/trellis.auth@v1.json" with { type: "json" };

/** The `trellis.auth@v1` contract module (Trellis 0.10 reference manifest). */
export const trellisAuth = contractModuleFromManifest(parseContractManifest(json));
