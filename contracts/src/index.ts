/** The contracts Trellis itself owns, as contract modules. */
import type { AnyContractModule } from "@trellis/contracts";
import { trellisAuth } from "./trellis-auth.js";
import { trellisCore } from "./trellis-core.js";
import { trellisHealth } from "./trellis-health.js";
import { trellisJobs } from "./trellis-jobs.js";
import { trellisState } from "./trellis-state.js";

/** The `Trellis.Bindings.Get` response schema (its `binding.resources` is what reconciliation materializes). */
export { TrellisBindingsGetResponse } from "./trellis-core.js";
/**
 * `trellis.jobs@v1`'s job schemas (the runtime's job model is their output) and the `NotFoundError` it
 * declares (an unknown job id).
 */
export {
  Job as JobSchema,
  JobContext as JobContextSchema,
  JobLogEntry as JobLogEntrySchema,
  JobProgress as JobProgressSchema,
  JobState as JobStateSchema,
  NotFoundError as JobsNotFoundError,
} from "./trellis-jobs.js";
export { trellisAuth, trellisCore, trellisHealth, trellisJobs, trellisState };

/** Every builtin contract module. */
export const BUILTIN_CONTRACTS: readonly AnyContractModule[] = [
  trellisCore,
  trellisHealth,
  trellisState,
  trellisJobs,
  trellisAuth,
];
