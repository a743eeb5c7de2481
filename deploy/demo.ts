/**
 * `deno task demo`: the whole system on loopback. A hub, and two agents (sites `north` and `south`)
 * enrolled with it, each with its data under `.demo/` (fresh on every run). North's archive is
 * seeded with generated studies (several patients, CT and MR series) through the hub's STOW-RS.
 * Prints how to query and move studies, and writes the same to `.demo/demo.json`. Ctrl-C stops it all.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Logger } from "@conduit/shared/log";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { startHub } from "../hub/app.ts";
import { hubConfigSchema } from "../hub/config.ts";
import { buildConsole } from "./build_ui.ts";
import { viewerReady } from "./viewer.ts";
import { type DemoPacs, logTo, startDemoPacs, which } from "./demo_pacs.ts";
import { banner, denoCommand, moveTs, nextSteps, shellPath, shownDir, shownPath } from "./demo_text.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEMO = Deno.env.get("CONDUIT_DEMO_DIR") ?? path.join(ROOT, ".demo");

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function pickPort(preferred: number): number {
  if (portFree(preferred)) return preferred;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface SiteInfo {
  aet: string;
  host: string;
  dimsePort: number;
  httpPort: number;
}

async function startAgent(
  site: string,
  aet: string,
  hubUrl: string,
  token: string,
  ports: SiteInfo,
  nodes: Record<string, unknown> = {},
) {
  const data = path.join(DEMO, site);
  await Deno.mkdir(data, { recursive: true });
  const logPath = path.join(DEMO, `${site}.log`);
  await Deno.writeTextFile(logPath, "");
  // Both sites share one project key (.demo/project.key), so "Pseudonymize at the source" works and their
  // pseudonyms agree.
  const config = path.join(DEMO, `${site}.yaml`);
  await Deno.writeTextFile(
    config,
    `deid: { keyFile: ${JSON.stringify(path.join(DEMO, "project.key"))} }\n` +
      (Object.keys(nodes).length ? `nodes: ${JSON.stringify(nodes)}\n` : ""),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-code-cache",
      "--v8-flags=--expose-gc,--max-semi-space-size=1",
      path.join(ROOT, "agent/main.ts"),
      "--config",
      config,
      "--site",
      site,
      "--aet",
      aet,
      "--host",
      "127.0.0.1",
      "--port",
      String(ports.dimsePort),
      "--http-port",
      String(ports.httpPort),
      "--data",
      data,
      "--hub",
      hubUrl,
      "--enroll",
      token,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await logTo(child, logPath);
  return child;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`demo: timed out waiting for ${what} (logs in ${shownDir(DEMO)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Seeds a site through STOW-RS, one request per study. */
async function seed(dicomwebUrl: string, token: string): Promise<{ studies: number; objects: number }> {
  const byStudy = new Map<string, Uint8Array[]>();
  const specs = generateStudies({
    seed: "conduit-demo",
    patients: 4,
    studiesPerPatient: 2,
    series: [{ modality: "CT", instances: 30 }, { modality: "MR", instances: 20 }],
    rows: 256,
    columns: 256,
  });
  for (const spec of specs) {
    const list = byStudy.get(spec.studyInstanceUid) ?? [];
    list.push(generateInstance(spec));
    byStudy.set(spec.studyInstanceUid, list);
  }
  const enc = new TextEncoder();
  let objects = 0;
  for (const [, parts] of byStudy) {
    const boundary = `demo-${crypto.randomUUID()}`;
    const body: BlobPart[] = [];
    for (const p of parts) {
      body.push(
        enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        p as Uint8Array<ArrayBuffer>,
        enc.encode("\r\n"),
      );
    }
    body.push(enc.encode(`--${boundary}--\r\n`));
    const res = await fetch(`${dicomwebUrl}/sites/north/studies`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
      },
      body: new Blob(body),
    });
    if (res.status !== 200) throw new Error(`demo: seeding north failed: ${res.status} ${await res.text()}`);
    await res.body?.cancel();
    objects += parts.length;
  }
  return { studies: byStudy.size, objects };
}

async function main(): Promise<number> {
  await Deno.remove(DEMO, { recursive: true }).catch(() => {});
  await buildConsole({ ifMissing: true }).catch((err) => console.error(`demo: ${(err as Error).message}`));
  await Deno.mkdir(DEMO, { recursive: true });
  const port = pickPort(8080);
  const hubLog = await Deno.open(path.join(DEMO, "hub.log"), { write: true, create: true, truncate: true });
  const log = new Logger({ app: "hub" }, "info", {
    write: (line) => hubLog.writeSync(new TextEncoder().encode(line + "\n")),
  });
  const hub = await startHub(hubConfigSchema.parse({ port, data: path.join(DEMO, "hub") }), log);
  const hubUrl = `http://127.0.0.1:${hub.port}`;
  const tunnelUrl = `ws://127.0.0.1:${hub.port}/tunnel`;
  const apiToken = (await hub.tokens.create("demo", "admin")).token;
  const admin = { user: "admin", password: crypto.randomUUID().slice(0, 18) };
  await hub.users.add(admin.user, "admin", admin.password);
  const sites: Record<string, SiteInfo> = {
    north: { aet: "NORTH", host: "127.0.0.1", dimsePort: pickPort(11112), httpPort: pickPort(8181) },
    south: { aet: "SOUTH", host: "127.0.0.1", dimsePort: pickPort(11113), httpPort: pickPort(8182) },
  };
  const children: Deno.ChildProcess[] = [];
  let pacs: DemoPacs | undefined;
  const stop = async () => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.allSettled(children.map((c) => c.status));
    await pacs?.stop();
    await hub.stop();
  };
  try {
    await Deno.writeFile(path.join(DEMO, "project.key"), crypto.getRandomValues(new Uint8Array(32)), {
      mode: 0o600,
    });
    // A PACS beside south, so C-MOVE, node echo and the dead letter can be tried.
    const started = await startDemoPacs(
      path.join(DEMO, "pacs"),
      { dimse: pickPort(4242), http: pickPort(8042) },
      { aet: sites.south.aet, port: sites.south.dimsePort },
    );
    pacs = typeof started === "string" ? undefined : started;
    for (const [site, info] of Object.entries(sites)) {
      const { enrollmentToken } = await hub.registry.add(site);
      const nodes = site === "south" && pacs ? { pacs: pacs.node } : {};
      children.push(await startAgent(site, info.aet, tunnelUrl, enrollmentToken, info, nodes));
    }
    await until("both sites online", () => Boolean(hub.sessions.get("north") && hub.sessions.get("south")));
    const seeded = await seed(`${hubUrl}/dicomweb`, apiToken);
    const demo = {
      hubUrl,
      dicomwebUrl: `${hubUrl}/dicomweb`,
      trpcUrl: `${hubUrl}/trpc`,
      apiToken,
      admin,
      sites,
      ...(pacs
        ? { pacs: { site: "south", node: "pacs", kind: pacs.kind, aet: pacs.aet, port: pacs.port } }
        : {}),
    };
    const moveScript = path.join(DEMO, "move.ts");
    await Deno.writeTextFile(moveScript, moveTs(hubUrl, apiToken, DEMO));
    const rel = (p: string) => shownPath(p);
    const deno = denoCommand(
      which("deno", shellPath(Deno.env.get("PATH") ?? "")) !== undefined,
      Deno.version.deno,
    );
    await Deno.writeTextFile(path.join(DEMO, "demo.json"), JSON.stringify(demo, null, 2) + "\n");
    console.log(
      banner({
        dir: DEMO,
        hubUrl,
        admin,
        sites,
        seeded,
        apiToken,
        pacs,
        pacsNote: typeof started === "string" ? started : "",
        viewerBuilt: await viewerReady(),
        deno,
      }),
    );
    console.log(nextSteps({
      deno,
      moveScript: rel(moveScript),
      denoJson: rel(path.join(ROOT, "deno.json")),
      hubData: rel(path.join(DEMO, "hub")),
      projectKey: rel(path.join(DEMO, "project.key")),
      north: sites.north,
    }));
    await new Promise<void>((resolve) => {
      Deno.addSignalListener("SIGINT", resolve);
      Deno.addSignalListener("SIGTERM", resolve);
    });
    console.log("\nstopping...");
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    await stop();
  }
}

if (import.meta.main) Deno.exit(await main());
