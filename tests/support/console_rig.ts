/**
 * The console tests' rig: the console built once per test process, a real hub (in this process), a
 * Chromium (Playwright) and the agents a test starts for its sites, all torn down whatever the test
 * does (browser first, then the agents in reverse order, then the hub). A test that restarts the hub on
 * the same data and port sets `rig.hub` to the new one, so the tear-down stops that one.
 */
import type { BrowserContext, Page } from "playwright-core";
import { launchBrowser, logIn } from "./browser.ts";
import { type AgentProcess, type AgentProcessOptions, startAgentProcess } from "./agent.ts";
import { eventually, siteArgs, startTestHub, type TestHub, type TestHubOptions } from "./hub.ts";
import { buildConsole } from "../../deploy/build_ui.ts";
import { startTogether } from "./processes.ts";

export type { TestHubOptions };

export interface ConsoleRigOptions {
  /** Build the console only if ui/dist has none (`buildConsole({ ifMissing: true })`); default: build it. */
  buildIfMissing?: boolean;
  /** What `startTestHub` is given. */
  hub?: TestHubOptions;
  /** The browser's viewport and extra Chromium flags (`launchBrowser`). */
  viewport?: { width: number; height: number };
  browserArgs?: string[];
  /** Chromium itself rather than its headless shell (`launchBrowser`'s `full`): its PDF viewer. */
  fullBrowser?: boolean;
  /**
   * Agents started as soon as the hub is up, while Chromium launches, instead of after it (each takes a second
   * or more): site name → its options, as `startAgent` takes them (or a promise of them, awaited then). The
   * rig holds them in `sites`; one that fails to start fails the rig, which stops what came up.
   */
  sites?: Record<string, AgentProcessOptions | Promise<AgentProcessOptions>>;
}

/** A console user a test logs in as. */
export interface ConsoleUser {
  name: string;
  role: "admin" | "operator" | "viewer";
  password: string;
}

/** The user most console tests log in as: an operator. */
export const OPS: ConsoleUser = { name: "ops", role: "operator", password: "operator password" };

export interface ConsoleRig {
  /** The running hub; settable (a test that restarts the hub puts the new one here). */
  hub: TestHub;
  browser: BrowserContext;
  /** The agents started with `startAgent` (or pushed by the test), stopped in reverse order. */
  agents: AgentProcess[];
  /** The agents of `ConsoleRigOptions.sites`, by site name (also in `agents`). */
  sites: Record<string, AgentProcess>;
  /** The console's address, `http://127.0.0.1:PORT/`, of the current hub. */
  readonly url: string;
  /** Starts an agent connected to the hub as `site` (its args after the hub's), kept for tear-down. */
  startAgent(site: string, options?: AgentProcessOptions): Promise<AgentProcess>;
  /**
   * The two sites most console tests use, started together with `startAgent`: south (AE title SOUTH) and
   * north (NORTH, with `north`'s options); resolves once the hub has both online. When the rig's `sites`
   * started them (`northAndSouthSites`), only waits for both online (`north` is then not used).
   */
  northAndSouth(north?: AgentProcessOptions): Promise<{ north: AgentProcess; south: AgentProcess }>;
  /** Adds `user` to the hub and opens a page at `path` of the console (`/transfers`, say), logged in as it. */
  pageAs(path: string, user?: ConsoleUser): Promise<Page>;
}

/** The build of this process (`fresh`: a full one, not only one made if ui/dist had none). */
let built: { fresh: boolean; done: Promise<void> } | undefined;

/**
 * Builds the console once per process (a failed build is tried again by the next caller); with
 * `ifMissing`, any build of this process will do, and none if ui/dist has one.
 */
export function buildConsoleOnce(options: { ifMissing?: boolean } = {}): Promise<void> {
  const ifMissing = options.ifMissing ?? false;
  if (built && (built.fresh || ifMissing)) return built.done;
  const build = {
    fresh: !ifMissing,
    done: buildConsole({ ifMissing }).catch((e) => {
      if (built === build) built = undefined;
      throw e;
    }),
  };
  built = build;
  return build.done;
}

/**
 * A directory for the hub's viewer files (`TestHubOptions.viewerDir`), so that a test does not depend on
 * whether ui/viewer was built in the checkout: empty (no viewer), or with a stand-in `index.html` (a viewer
 * the console may link to; nothing in it runs).
 */
export async function viewerDirFor(installed: boolean): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-viewer-" });
  if (installed) await installViewerStandIn(dir);
  return dir;
}

/** Writes the stand-in `index.html` into `dir` (a viewer that appears while the hub runs). */
export async function installViewerStandIn(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html><title>viewer stand-in</title>");
}

/** `ConsoleRigOptions.sites` for `northAndSouth`: south (AE title SOUTH) and north (NORTH, with `north`'s options). */
export function northAndSouthSites(north: AgentProcessOptions = {}): Record<string, AgentProcessOptions> {
  return { south: { aet: "SOUTH" }, north: { aet: "NORTH", ...north } };
}

/** Starts the agents of `sites` together on `hub` (`startTogether`: one that fails stops those that started). */
async function startSites(
  hub: TestHub,
  sites: Record<string, AgentProcessOptions | Promise<AgentProcessOptions>>,
): Promise<[string, AgentProcess][]> {
  const names = Object.keys(sites);
  const agents = await startTogether<AgentProcess[]>(names.map(async (site) => {
    const options = await sites[site];
    return await startAgentProcess({
      ...options,
      args: [...await siteArgs(hub, site), ...options.args ?? []],
    });
  }));
  return names.map((site, i) => [site, agents[i]]);
}

/** Runs `fn` with a console rig and always tears it down. */
export async function withConsole(
  options: ConsoleRigOptions,
  fn: (rig: ConsoleRig) => Promise<void>,
): Promise<void> {
  const { rig, stop } = await startConsole(options);
  let failed: { error: unknown } | undefined;
  try {
    await fn(rig);
  } catch (error) {
    failed = { error };
  }
  const failures = await stop();
  // A failing test's own error is the one reported; otherwise a tear-down that failed fails the test.
  if (failed) {
    if (failures.length) console.warn(`console rig: tear-down: ${failures.map(String).join("; ")}`);
    const said = hubLogTail(rig.hub.lines);
    if (said.length) {
      console.warn(`console rig: the hub's last log lines (info and above):\n${said.join("\n")}`);
    }
    throw failed.error;
  }
  if (failures.length) throw failures[0];
}

/**
 * The hub's last 80 log lines at info or above, for a failed test's output: what the hub met (its database
 * away and back, a session closed) is often why the page did not show what the test waited for. The hub logs
 * no patient data.
 */
export function hubLogTail(lines: string[]): string[] {
  return lines.filter((l) => /^\{"t":"[^"]*","level":"(info|warn|error)"/.test(l)).slice(-80);
}

/**
 * A console rig, as `withConsole` gives it, for a rig shared by a file's tests (tests/support/shared_rig.ts):
 * `stop` tears it down (browser, agents in reverse order, the hub in `rig.hub`) and resolves with what failed.
 */
export async function startConsole(
  options: ConsoleRigOptions,
): Promise<{ rig: ConsoleRig; stop(): Promise<unknown[]> }> {
  // The build, the hub then its `sites`, and Chromium start together (each takes a second or more); one that
  // fails stops the others that came up.
  const hubStarting = startTestHub(options.hub);
  const [built, started, launched, agents] = await Promise.allSettled([
    buildConsoleOnce({ ifMissing: options.buildIfMissing }),
    hubStarting,
    launchBrowser(options.viewport, options.browserArgs, options.fullBrowser),
    hubStarting.then((hub) => startSites(hub, options.sites ?? {})),
  ]);
  if (
    built.status === "rejected" || started.status === "rejected" || launched.status === "rejected" ||
    agents.status === "rejected"
  ) {
    if (launched.status === "fulfilled") await launched.value.close().catch(() => {});
    if (agents.status === "fulfilled") {
      for (const [, agent] of agents.value.reverse()) await agent.stop().catch(() => {});
    }
    if (started.status === "fulfilled") await started.value.stop().catch(() => {});
    throw [built, started, launched, agents].find((r) => r.status === "rejected")!.reason;
  }
  const hub = started.value;
  const browser = launched.value;
  const sites = Object.fromEntries(agents.value);
  const rig: ConsoleRig = {
    hub,
    browser,
    agents: agents.value.map(([, agent]) => agent),
    sites,
    get url() {
      return `http://127.0.0.1:${rig.hub.port}/`;
    },
    async startAgent(site, agentOptions = {}) {
      const agent = await startAgentProcess({
        ...agentOptions,
        args: [...await siteArgs(rig.hub, site), ...agentOptions.args ?? []],
      });
      rig.agents.push(agent);
      return agent;
    },
    async northAndSouth(north = {}) {
      // Started together; one that fails is stopped with the rest at tear-down (startAgent keeps it).
      const [south, northAgent] = sites.north && sites.south
        ? [sites.south, sites.north]
        : await Promise.all([
          rig.startAgent("south", { aet: "SOUTH" }),
          rig.startAgent("north", { aet: "NORTH", ...north }),
        ]);
      const started = { south, north: northAgent };
      await eventually(
        "north and south online",
        () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"),
      );
      return started;
    },
    async pageAs(path, user = OPS) {
      await rig.hub.users.add(user.name, user.role, user.password);
      const page = await browser.newPage();
      await page.goto(new URL(path, rig.url).href);
      await logIn(page, user.name, user.password);
      return page;
    },
  };
  const stop = async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (e) {
        failures.push(e);
      }
    };
    // Bounded: a browser that will not close is a failure with this message, and the agents and the hub still
    // stop (two fresh-clone CI runs hung in this file with no Chromium left, its agents never stopped: a SIGHUP
    // from another test file had closed the browser, which launchBrowser now prevents).
    await attempt(() => closeWithin(browser, 30_000));
    for (const agent of [...rig.agents].reverse()) await attempt(() => agent.stop());
    await attempt(() => rig.hub.stop());
    return failures;
  };
  return { rig, stop };
}

/**
 * The console built once per process and a browser, closed whatever `fn` does: for a test whose hub and
 * agents come from another rig (tests/transfers/_rig.ts).
 */
export async function withConsoleBrowser(
  options: Omit<ConsoleRigOptions, "hub">,
  fn: (browser: BrowserContext) => Promise<void>,
): Promise<void> {
  await buildConsoleOnce({ ifMissing: options.buildIfMissing });
  const browser = await launchBrowser(options.viewport, options.browserArgs, options.fullBrowser);
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

/** `browser.close()`, or an error naming the wait once `ms` have passed without it ending. */
async function closeWithin(browser: BrowserContext, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      browser.close(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`console rig: the browser did not close within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
