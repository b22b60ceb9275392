import type * as Trellis from "@trellis/contracts";
/** The contract id. */
export declare const CONTRACT_ID = "example.orders@v1";
/** The contract digest. */
export declare const CONTRACT_DIGEST = "rUaAchrlVctDsp3bVJsl_xfJD-A_oXMluXK0TS7x89s";
/** The canonical manifest. */
export declare const CONTRACT: Trellis.ContractManifest;
