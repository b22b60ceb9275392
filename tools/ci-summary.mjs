// Prints the CI's closing line, "N passed, N failed", from vitest's JSON report.
// Usage: node tools/ci-summary.mjs [report.json] [exit status of `npm test`]
// Exits 1 when the run failed: non-zero test status, failed tests, or no usable report.
import { readFileSync } from "node:fs";

const [reportPath = ".vitest-report.json", testStatusArg = "0"] = process.argv.slice(2);
const testStatus = Number(testStatusArg) || 0;

/** Reads a non-negative integer field, treating anything else as 0. */
const count = (value) => (Number.isInteger(value) && value > 0 ? value : 0);

let passed = 0;
let failed = 1;
try {
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  passed = count(report.numPassedTests);
  failed = count(report.numFailedTests);
  // A test file that fails to load (or an unhandled error) fails the run without failing a test.
  const runFailed = testStatus !== 0 || report.success === false || count(report.numFailedTestSuites) > 0;
  if (runFailed && failed === 0) failed = Math.max(1, count(report.numFailedTestSuites));
} catch (err) {
  // Missing or unreadable report: tsc or vitest crashed before writing it.
  console.error(
    `ci-summary: no usable test report at ${reportPath}: ${err instanceof Error ? err.message : err}`,
  );
  passed = 0;
  failed = 1;
}

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = testStatus !== 0 || failed > 0 ? 1 : 0;
