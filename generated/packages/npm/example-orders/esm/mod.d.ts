import type * as Trellis from "@trellis/contracts";
import type { Jobs, OwnedApi, UsedApi, OrderNotFoundErrorData } from "./types.js";
export * from "./contract.js";
export * from "./schemas.js";
export type * from "./types.js";
/** The class of error `OrderNotFoundError`: `fromSerializable` validates a payload against its schema. */
export declare const OrderNotFoundError: Trellis.DefinedErrorClass<"OrderNotFoundError", OrderNotFoundErrorData>;
/** An `OrderNotFoundError` error. */
export type OrderNotFoundError = Trellis.TrellisError<OrderNotFoundErrorData>;
/** The contract module type of `example.orders@v1`. */
export type ContractModule = Trellis.ContractModule<"example.orders@v1", OwnedApi, UsedApi> & Trellis.TypedJobs<Jobs>;
/** The contract module of `example.orders@v1`, interchangeable with the module its source defines: pass it to `TrellisClient` or `TrellisService`, or call `use()` to depend on it. */
export declare const sdk: ContractModule;
/** Runtime descriptors of the owned and used surfaces. */
export declare const API: ContractModule["API"];
/** The modules of the contracts it uses, by `uses` alias. */
export declare const DEPENDENCIES: ContractModule["DEPENDENCIES"];
/** Declares a dependency on this contract; unknown keys are refused. */
export declare const use: ContractModule["use"];
export default sdk;
