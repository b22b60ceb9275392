/** Problems found in a manifest, each with the JSON path and the rule it breaks. */
import { BaseError } from "@trellis/result";
import { escapePointerToken } from "./canonical.js";

/** One problem in a manifest. */
export interface ContractProblem {
  /** JSON Pointer of the offending value (`""` for the whole manifest). */
  path: string;
  /** Stable identifier of the broken rule, e.g. `schema-ref`, `event-template`, `shape`. */
  rule: string;
  /** What is wrong, in words a person understands. */
  message: string;
}

/** A manifest or contract definition broke one or more rules; `problems` lists every one of them. */
export class ContractValidationError extends BaseError {
  /** Every problem found, in document order. */
  readonly problems: ContractProblem[];

  constructor(problems: ContractProblem[], heading = "Invalid contract") {
    const lines = problems.map((problem) => `${problem.path || "#"}: ${problem.message} [${problem.rule}]`);
    super(`${heading}:\n${lines.join("\n")}`, { context: { problems } });
    this.problems = problems;
  }
}

/** A contract definition written with the authoring helpers is wrong (unknown schema, undeclared capability, …). */
export class ContractDefinitionError extends BaseError {}

/** Builds a JSON Pointer from path segments. */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((segment) => `/${escapePointerToken(String(segment))}`).join("");
}
