/** Typing of the `trellis.auth@v1` RPC handlers and what every handler module is given. */
import type { trellisAuth } from "@trellis/builtin-contracts";
import type { RpcInput, RpcOutput } from "@trellis/contracts";
import type { BaseError, Result } from "@trellis/result";
import type { RpcContext } from "@trellis/runtime";
import type { ControlPlaneContext } from "../context.js";
import type { ControlPlaneSessionAuthority } from "./session-authority.js";

/** The auth contract module. */
export type AuthContract = typeof trellisAuth;

/** Logical names of the auth RPCs. */
export type AuthRpcName = keyof AuthContract["API"]["owned"]["rpc"] & string;

/** Input of auth RPC `K`. */
export type AuthRpcInput<K extends AuthRpcName> = RpcInput<AuthContract, K>;

/** Output of auth RPC `K`. */
export type AuthRpcOutput<K extends AuthRpcName> = RpcOutput<AuthContract, K>;

/** A handler of auth RPC `K`. */
export type AuthRpcHandler<K extends AuthRpcName> = (args: {
  input: AuthRpcInput<K>;
  context: RpcContext;
}) => Promise<Result<AuthRpcOutput<K>, BaseError>>;

/** Handlers of some auth RPCs, by logical name. */
export type AuthRpcHandlers<K extends AuthRpcName> = { [P in K]: AuthRpcHandler<P> };

/** What the handler modules work with. */
export interface AuthRpcDeps {
  /** The control-plane context. */
  ctx: ControlPlaneContext;
  /** Looks sessions up and tells caches when they end. */
  authority: ControlPlaneSessionAuthority;
}
