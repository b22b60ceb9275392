/**
 * The built-in login portal in a real browser: a headless Chromium plays the person in the detached
 * (CLI) login flow — signs in through the HTML form, reads the consent page, approves or denies — while
 * `TrellisClient.connect` waits for the flow like a command-line tool would.
 *
 * Needs a Chromium binary (`TRELLIS_CHROMIUM`, else `/usr/bin/chromium`); without one the suite is
 * skipped with a warning. `playwright-core` never downloads a browser.
 */
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trellisAuth, trellisCore, trellisJobs } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";
import { AuthError, type AuthRequiredInfo, TrellisClient, waitForDetachedFlow } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Where Chromium is, or why the suite is skipped. */
function findChromium(): { executablePath: string } | { skip: string } {
  const named = process.env.TRELLIS_CHROMIUM;
  const candidate = named !== undefined && named !== "" ? named : "/usr/bin/chromium";
  try {
    accessSync(candidate, constants.X_OK);
    return { executablePath: candidate };
  } catch {
    return {
      skip:
        named !== undefined && named !== ""
          ? `TRELLIS_CHROMIUM=${named} is not an executable file`
          : "no Chromium (set TRELLIS_CHROMIUM or install chromium)",
    };
  }
}

const found = findChromium();
if ("skip" in found) console.warn(`portal browser test skipped: ${found.skip}`);
const suite = "skip" in found ? describe.skip : describe;

/** Bounds of every browser step and of each test as a whole. */
const STEP_MS = 10_000;
const TEST_MS = 60_000;

const CATALOG_READ = "trellis.core::catalog.read";
const JOBS_MUTATE = "trellis.jobs::admin.mutate";

const agent = defineAgentContract({}, () => ({
  id: "portal-browser-test-agent@v1",
  displayName: "Portal browser test agent",
  description: "Signs in through the portal in a real browser.",
  uses: {
    required: {
      auth: trellisAuth.use({ rpc: { call: ["Auth.Sessions.Me"] } }),
      core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }),
      // A capability with a consequence, so the consent page has one to show.
      jobs: trellisJobs.use({ rpc: { call: ["Jobs.Retry"] } }),
    },
  },
}));

/** The display metadata the consent page must show, taken from the contract that defines the capability. */
function capabilityMetadata(key: string): { displayName: string; consequence?: string } {
  for (const module of [trellisCore, trellisJobs]) {
    const metadata = module.CONTRACT.capabilities?.[key];
    if (metadata !== undefined) return metadata;
  }
  throw new Error(`no contract defines capability ${key}`);
}

suite("the login portal in headless Chromium", () => {
  let platform: PlatformHandle;
  let browser: Browser;
  let screenshotDir: string;
  const keepScreenshots = process.env.TRELLIS_PORTAL_SCREENSHOT_DIR;
  const clients: TrellisClient<typeof agent>[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if ("skip" in found) return;
    screenshotDir = keepScreenshots ?? (await mkdtemp(join(tmpdir(), "trellis-portal-screens-")));
    platform = await startPlatform();
    browser = await chromium.launch({
      executablePath: found.executablePath,
      headless: true,
      timeout: 30_000,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.nc.close().catch(() => undefined)));
    await Promise.all(contexts.map((context) => context.close().catch(() => undefined)));
    await browser?.close().catch(() => undefined);
    await platform?.stop();
    if (keepScreenshots === undefined && screenshotDir !== undefined) {
      await rm(screenshotDir, { recursive: true, force: true });
    }
  }, 30_000);

  /** A fresh, isolated browser context (own cookies and storage) with bounded timeouts. */
  async function freshPage(): Promise<Page> {
    const context = await browser.newContext({ locale: "en-US", viewport: { width: 900, height: 900 } });
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    context.setDefaultNavigationTimeout(STEP_MS);
    return context.newPage();
  }

  /**
   * The URL the browser opens: `loginUrl` itself, except that a control plane started on `httpPort: 0`
   * without a `publicOrigin` (as `startPlatform()` does) advertises port 0, which no browser can open
   * (`net::ERR_UNSAFE_PORT`); then the same path and query on the address it really listens on.
   */
  function browserUrl(info: AuthRequiredInfo): string {
    const url = new URL(info.loginUrl);
    if (url.port !== "0") return info.loginUrl;
    const base = new URL(info.trellisUrl);
    url.host = base.host;
    return url.toString();
  }

  /**
   * Clicks a form's submit button and expects the portal's post/redirect/get answer (303); anything else
   * fails with the status, the `Origin` the browser sent and the body, which name the refusal.
   */
  async function submitForm(page: Page, button: Locator): Promise<void> {
    const [answer] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === "POST"),
      button.click(),
    ]);
    if (answer.status() !== 303) {
      const origin = await answer.request().headerValue("origin");
      const body = await answer.text().catch(() => "");
      expect.fail(
        `the portal answered the form post to ${answer.url()} with ${answer.status()} ` +
          `(the browser sent Origin: ${origin ?? "none"}): ${body.slice(0, 300)}`,
      );
    }
    await page.waitForLoadState("load");
  }

  /** Opens the login URL and signs in with the form, reaching the consent page. */
  async function signInAt(page: Page, info: AuthRequiredInfo, username: string, password: string) {
    const response = await page.goto(browserUrl(info));
    expect(response?.status()).toBe(200);
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await page.getByLabel("Username", { exact: true }).fill(username);
    await page.getByLabel("Password", { exact: true }).fill(password);
    await submitForm(page, page.getByRole("button", { name: "Sign in" }));
    await page.getByRole("heading", { level: 1, name: /allow portal browser test agent\?/i }).waitFor();
  }

  it(
    "signs in, shows the consent page, approves, and the client connects as the user",
    async () => {
      await platform.createUser({
        username: "portal-approver",
        password: "portal-approver-password-1",
        name: "Portal Approver",
        capabilities: [CATALOG_READ, JOBS_MUTATE],
      });
      const page = await freshPage();
      let screenshot: string | undefined;

      const client = await TrellisClient.connect({
        trellisUrl: platform.url,
        contract: agent,
        logger: false,
        onAuthRequired: async (info) => {
          await signInAt(page, info, "portal-approver", "portal-approver-password-1");

          const main = page.getByRole("main");
          // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what the person reads
          const text = await main.innerText();
          expect(text).toContain("Portal browser test agent");
          expect(text).toContain("Signed in as Portal Approver.");
          expect(text).toContain("Signs in through the portal in a real browser.");
          await page.getByRole("heading", { level: 2, name: /act on your behalf/i }).waitFor();
          const items = main.getByRole("listitem");
          await expect(items.count()).resolves.toBe(2);
          for (const key of [CATALOG_READ, JOBS_MUTATE]) {
            const metadata = capabilityMetadata(key);
            const item = items.filter({ hasText: key });
            await expect(item.count()).resolves.toBe(1);
            // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what the person reads
            const itemText = await item.innerText();
            expect(itemText).toContain(metadata.displayName);
            if (metadata.consequence !== undefined) expect(itemText).toContain(metadata.consequence);
          }
          expect(capabilityMetadata(JOBS_MUTATE).consequence).toBeDefined();

          screenshot = join(screenshotDir, "consent.png");
          await page.screenshot({ path: screenshot, fullPage: true });

          await submitForm(page, page.getByRole("button", { name: /approve/i }));
          await page.getByRole("heading", { level: 1, name: "You are signed in" }).waitFor();
          await waitForDetachedFlow(info, { pollIntervalMs: 200, timeoutMs: STEP_MS });
        },
      });
      clients.push(client);
      expect(screenshot).toBeDefined();

      const me = await client.rpc.auth.sessionsMe({});
      if (me.isErr()) throw me.error;
      expect(me.value.participantKind).toBe("agent");
      expect(me.value.user?.name).toBe("Portal Approver");
      expect(JSON.stringify(me.value.user?.identity)).toContain("portal-approver");
    },
    TEST_MS,
  );

  it(
    "denying at the consent page makes connect reject with approval_denied",
    async () => {
      await platform.createUser({
        username: "portal-denier",
        password: "portal-denier-password-1",
        capabilities: [CATALOG_READ, JOBS_MUTATE],
      });
      const page = await freshPage();
      let sawDeniedPage = false;

      const connecting = TrellisClient.connect({
        trellisUrl: platform.url,
        contract: agent,
        logger: false,
        onAuthRequired: async (info) => {
          await signInAt(page, info, "portal-denier", "portal-denier-password-1");
          await submitForm(page, page.getByRole("button", { name: /deny/i }));
          await page.getByRole("heading", { level: 1, name: "Access denied" }).waitFor();
          sawDeniedPage = true;
          await waitForDetachedFlow(info, { pollIntervalMs: 200, timeoutMs: STEP_MS });
        },
      });

      const error = await connecting.then(
        (client) => {
          clients.push(client);
          return undefined;
        },
        (rejection: unknown) => rejection,
      );
      // Anything but the runtime's AuthError (a failed browser step, a resolved connect) is the cause.
      if (!(error instanceof AuthError)) throw error ?? new Error("connect resolved after a denial");
      expect(error.reason).toBe("approval_denied");
      expect(sawDeniedPage).toBe(true);
    },
    TEST_MS,
  );

  it(
    "the sign-in page loads its stylesheet under the CSP without console errors",
    async () => {
      const page = await freshPage();
      const problems: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") {
          problems.push(`console.${message.type()}: ${message.text()}`);
        }
      });
      page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
      page.on("requestfailed", (request) =>
        problems.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? "?"})`),
      );
      const stylesheets: string[] = [];
      page.on("response", (response) => {
        if (response.request().resourceType() === "stylesheet" && response.ok()) {
          stylesheets.push(response.url());
        }
      });

      const inspected = new Error("sign-in page inspected");
      const connecting = TrellisClient.connect({
        trellisUrl: platform.url,
        contract: agent,
        logger: false,
        onAuthRequired: async (info) => {
          const response = await page.goto(browserUrl(info), { waitUntil: "load" });
          expect(response?.status()).toBe(200);
          expect(response?.headers()["content-security-policy"]).toContain("default-src 'self'");
          await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
          // The stylesheet loaded and applies (the CSP allows it): the card's border radius is set.
          const radius = await page.evaluate(
            "getComputedStyle(document.querySelector('main')).borderTopLeftRadius",
          );
          expect(radius).toBe("8px");
          // Give late console messages (e.g. CSP reports) a moment to arrive.
          await page.waitForTimeout(300);
          throw inspected;
        },
      });

      await expect(connecting).rejects.toBe(inspected);
      expect(stylesheets).toHaveLength(1);
      expect(problems).toEqual([]);
    },
    TEST_MS,
  );
});
