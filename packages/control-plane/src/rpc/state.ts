/**
 * `trellis.state@v1` served by the control plane (runtime spec §5.5): the runtime's `StateServer`
 * mounted on a `TrellisService` of the state contract, over the `trellis_state` bucket.
 *
 * - **Bucket.** `trellis_state` lives in the AUTH account next to the other auth buckets (created by
 *   `ensureAuthBuckets`), so no TRELLIS-account principal — service or user — can reach it directly;
 *   the `StateServer` binds it through the control plane's AUTH connection while its RPCs are served
 *   on the TRELLIS connection.
 * - **Namespace.** The caller record of a user session carries the session's contract lineage id and
 *   digest (`callerOf` in `session-authority.ts`), and its `id` is the user id.
 * - **Stores.** A store's kind and state version come from the contract the session presented at
 *   sign-in (stored by digest in `contracts`), or — for an administrator's explicit target whose digest
 *   is unknown — from the newest stored manifest of the lineage.
 * - **Admin targets** name a user by identity (`origin` = provider, `id` = subject, e.g.
 *   `local` / username), resolved through `user_identities`.
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { trellisState } from "@trellis/builtin-contracts";
import {
  DEFAULT_STATE_VERSION,
  type Logger,
  StateServer,
  type StateStoreResolver,
  type TrellisService,
} from "@trellis/runtime";
import type { ControlPlaneStore } from "../store/store.js";

/** Resolves state stores from the manifests in the control plane's `contracts` table. */
export function storedStateStores(store: ControlPlaneStore): StateStoreResolver {
  return ({ contractId, contractDigest, store: name }) => {
    const stored = store.contracts.get(contractDigest) ?? store.contracts.listByContractId(contractId)[0];
    if (stored === undefined || stored.contractId !== contractId) return undefined;
    const declared = stored.manifest.state?.[name];
    if (declared === undefined) return undefined;
    return { kind: declared.kind, stateVersion: declared.stateVersion ?? DEFAULT_STATE_VERSION };
  };
}

/** What {@link mountStateRpcs} needs. */
export interface StateRpcOptions {
  /** The control-plane store (contracts, identities). */
  store: ControlPlaneStore;
  /** A connection of the account holding `trellis_state` (the AUTH account). */
  bucketConnection: NatsConnection;
  /** Logger. */
  logger: Logger;
}

/** Mounts `State.*` and `State.Admin.*` on `service` (a `TrellisService` of `trellis.state@v1`). */
export function mountStateRpcs(service: TrellisService<typeof trellisState>, options: StateRpcOptions): void {
  const { store } = options;
  const state = new StateServer({
    nc: options.bucketConnection,
    resolveStore: storedStateStores(store),
    resolveUserId: ({ origin, id }) => store.identities.find(origin, id)?.userId,
    logger: options.logger,
  });
  const rpc = service.handle.rpc.state;
  const h = state.handlers;
  rpc.get(h["State.Get"]);
  rpc.put(h["State.Put"]);
  rpc.delete(h["State.Delete"]);
  rpc.list(h["State.List"]);
  rpc.adminGet(h["State.Admin.Get"]);
  rpc.adminList(h["State.Admin.List"]);
  rpc.adminDelete(h["State.Admin.Delete"]);
}
