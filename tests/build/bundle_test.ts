/**
 * `deno compile` needs a runtime download that this machine cannot make, so the build falls back to
 * bundles: both artifacts must start from their own directories, through their launchers, with
 * `--cached-only` (no registry fetch) and from another working directory. The hub's serves its console
 * and viewer and adds a site with its admin CLI; the agent's enrolls with it, shows online, answers
 * C-ECHO and stores an object sent with C-STORE. Each says which build it is from the stamp the build wrote
 * (no `.git` beside it): the commit, its date and whether the tree had changes, as the checkout's own.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { existsSync } from "node:fs";
import { bundleAgent, bundleHub } from "../../deploy/build.ts";
import { buildConsole } from "../../deploy/build_ui.ts";
import { prepareViewer } from "../../deploy/viewer.ts";
import {
  answersOk,
  freePort,
  type Managed,
  onFreePorts,
  runDcmtk,
  skipReason,
  spawnLogged,
  waitReady,
} from "../support/peers.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { responseParts } from "../support/multipart.ts";
import { storescuProposal } from "../support/send.ts";
import { encodingOf, instanceAttributes, parseDataSet, readPart10Header } from "@conduit/shared/dicom";
import { buildJson } from "@conduit/shared/build";
import { BUILD } from "../../agent/version.ts";

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory) yield* walkFiles(p);
    else if (e.isFile) yield p;
  }
}

/**
 * Starts a built artifact's `launcher` with `args(ports)` on free ports (`what` names them; the HTTP one
 * last), drawn again when another process takes one first; ready once it listens on them itself and its
 * /healthz answers 2xx (or a status of `also`).
 */
function startBundled(
  label: string,
  launcher: string,
  what: string[],
  args: (ports: number[]) => string[],
  opts: { cwd: string; env: Record<string, string>; also?: number[] },
): Promise<{ proc: Managed; ports: number[] }> {
  return onFreePorts(what, [], async (ports) => {
    const proc = await spawnLogged(label, launcher, args(ports), opts.cwd, opts.env);
    const healthz = answersOk(`http://127.0.0.1:${ports.at(-1)}/healthz`, opts.also);
    await waitReady(proc, label, healthz, 60_000, ports);
    return { proc, ports };
  });
}

const skip = skipReason("echoscu");

Deno.test({
  name: "bundleHub() and bundleAgent() start on their own: the hub serves the console and enrolls the agent",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await buildConsole({ ifMissing: true });
    await prepareViewer();
    const dir = await Deno.makeTempDir({ prefix: "bundle-" });
    const built = await Promise.all([
      bundleHub(path.join(dir, "built", "hub")),
      bundleAgent(path.join(dir, "built", "agent")),
    ]);
    // As docs/operations.md says: put anywhere (here /opt/conduit would be), then run from there. Moved, not
    // copied (the viewer alone is about 50 MB): nothing is left where it was built.
    const [hubLauncher, agentLauncher] = await Promise.all(built.map(async (launcher) => {
      const name = path.basename(path.dirname(launcher));
      await Deno.rename(path.dirname(launcher), path.join(dir, name));
      await Deno.chmod(path.join(dir, name, path.basename(launcher)), 0o755);
      return path.join(dir, name, path.basename(launcher));
    }));
    await Deno.remove(path.join(dir, "built"));
    const elsewhere = await Deno.makeTempDir({ prefix: "bundle-cwd-" });
    const env = { DENO: Deno.execPath() };
    /** Runs an artifact's `launcher` with `args` from `elsewhere` to its end: exit code and output. */
    const launch = async (launcher: string, args: string[]) => {
      const out = await new Deno.Command(launcher, {
        args,
        cwd: elsewhere,
        env,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      const text = new TextDecoder();
      return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
    };
    /** {@link launch} that must exit 0, with its JSON answer on stdout. */
    const run = async (launcher: string, args: string[]) => {
      const out = await launch(launcher, args);
      assert.equal(out.code, 0, out.stderr);
      return JSON.parse(out.stdout);
    };
    // Stamped at build time: the same build as this checkout, and not "unknown commit" (no .git there).
    // Asked while the hub starts (each launch is a process of its own).
    const versions = Promise.all([hubLauncher, agentLauncher].map(async (launcher) => {
      assert.deepEqual(await run(launcher, ["--version", "--json"]), buildJson(BUILD), launcher);
    }));
    versions.catch(() => {}); // thrown below, once the hub is up
    const hubData = path.join(elsewhere, "hub-data");
    const { proc: hub, ports: [hubPort] } = await startBundled(
      "hub-bundle",
      hubLauncher,
      ["bundled hub"],
      ([port]) => ["--port", String(port), "--data", hubData],
      { cwd: elsewhere, env },
    );
    let agent: Managed | undefined;
    try {
      await versions;
      const base = `http://127.0.0.1:${hubPort}`;
      const page = await fetch(`${base}/explorer`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="root">/, "the console is inside the artifact");
      const init = await fetch(`${base}/viewer/conduit-init.js`);
      assert.equal(init.status, 200, "the viewer is inside the artifact");
      await init.body?.cancel();

      const { enrollmentToken } = await run(hubLauncher, [
        "admin",
        "site",
        "add",
        "north",
        "--data",
        hubData,
        "--json",
      ]);

      const started = await startBundled(
        "agent-bundle",
        agentLauncher,
        ["bundled agent DICOM", "bundled agent HTTP"],
        ([port, httpPort]) => [
          "--site",
          "north",
          "--data",
          path.join(elsewhere, "agent-data"),
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "--http-port",
          String(httpPort),
          "--hub",
          `ws://127.0.0.1:${hubPort}/tunnel`,
          // Started again on other ports after it enrolled: the token is spent, the credential kept.
          ...(existsSync(path.join(elsewhere, "agent-data", "hub-credential.json"))
            ? []
            : ["--enroll", enrollmentToken]),
        ],
        { cwd: elsewhere, env, also: [503] },
      );
      agent = started.proc;
      const [port] = started.ports;
      const echo = await runDcmtk("echoscu", ["-aec", "CONDUIT", "127.0.0.1", String(port)]);
      assert.equal(echo.code, 0, echo.stderr);
      // The split bundle's receive path (the DICOM library's chunk and the CommonJS it carries).
      const ct = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      const store = await runDcmtk("storescu", ["-aec", "CONDUIT", "127.0.0.1", String(port), ct]);
      assert.equal(store.code, 0, store.stderr);
      const stored: string[] = [];
      for await (const f of walkFiles(path.join(elsewhere, "agent-data", "archive"))) stored.push(f);
      assert.equal(stored.filter((f) => f.endsWith(".dcm")).length, 1, "the object is in the archive");
      const deadline = Date.now() + 20_000;
      let state = "";
      while (Date.now() < deadline && state !== "online") {
        const list = await run(hubLauncher, ["admin", "site", "list", "--data", hubData, "--json"]);
        state = list.sites[0]?.state ?? "";
        if (state !== "online") await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(state, "online", "the bundled agent enrolled with the bundled hub");

      // Transcoding in the bundle: its worker and the codecs' WebAssembly beside the chunks. An RLE object
      // asked through the hub as Explicit VR Little Endian (before: 406, no codec in the bundle).
      const rle = path.join(PYDICOM_TEST_FILES_DIR, "MR_small_RLE.dcm");
      const sent = await runDcmtk("storescu", [
        ...storescuProposal(rle)!,
        "-aec",
        "CONDUIT",
        "127.0.0.1",
        String(port),
        rle,
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const bytes = await Deno.readFile(rle);
      const header = readPart10Header(bytes);
      const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
        start: header.datasetOffset,
      });
      const a = instanceAttributes(bytes, dataset, header);
      const { token } = await run(hubLauncher, [
        "admin",
        "token",
        "create",
        "bundle-test",
        "--role",
        "operator",
        "--data",
        hubData,
        "--json",
      ]);
      const url = `${base}/dicomweb/sites/north/studies/${a.studyInstanceUid}/series/${a.seriesInstanceUid}` +
        `/instances/${a.sopInstanceUid}`;
      const res = await fetch(url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
        },
      });
      assert.equal(res.status, 200, await res.clone().text());
      const parts = await responseParts(res);
      assert.equal(parts.length, 1);
      assert.equal(readPart10Header(parts[0].body).transferSyntax, "1.2.840.10008.1.2.1");

      // The checks below are launches of the artifacts that change nothing the others read: they run side by
      // side. The hub's writes (a second site, a user) follow its backup, which counts one site.
      const hubSide = async () => {
        // Online backups from the artifacts, beside the running programs: each finds its migrations'
        // journal (the schema it names) where the bundle put them.
        const hubBackup = await run(hubLauncher, [
          "admin",
          "backup",
          "--out",
          path.join(elsewhere, "hub-backup.db"),
          "--data",
          hubData,
          "--json",
        ]);
        assert.equal(hubBackup.tables.sites, 1);
        assert.match(hubBackup.schema, /^\d{4}_/);

        // The hub's bundle tells the operator to start the agent by the agent bundle's launcher, which
        // sits beside it, not by `deno task agent`, which needs the repository the bundles replace.
        const south = await launch(hubLauncher, ["admin", "site", "add", "south", "--data", hubData]);
        assert.equal(south.code, 0, south.stderr);
        const told = south.stdout;
        assert.ok(told.includes(`On the site: ${agentLauncher} --site south --hub `), told);
        assert.ok(told.includes(`service: ${agentLauncher} enroll --site south --hub `), told);
        assert.doesNotMatch(told, /deno task/);

        // The console's hints name the commands as built: those the hub tells it at login and in /auth/me.
        const user = new Deno.Command(hubLauncher, {
          args: ["admin", "user", "add", "ops", "--role", "admin", "--password-stdin", "--data", hubData],
          cwd: elsewhere,
          env,
          stdin: "piped",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const writer = user.stdin.getWriter();
        await writer.write(new TextEncoder().encode("a long enough password\n"));
        await writer.close();
        const added = await user.output();
        assert.equal(added.code, 0, new TextDecoder().decode(added.stderr));
        const login = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "ops", password: "a long enough password" }),
        });
        const me = await login.json();
        assert.equal(login.status, 200, JSON.stringify(me));
        assert.deepEqual(me.commands, {
          agent: agentLauncher,
          hub: "conduit-hub",
          tunnel: "wss://HUB/tunnel",
        });
      };
      const agentBackup = async () => {
        const made = await run(agentLauncher, [
          "backup",
          "--out",
          path.join(elsewhere, "agent-backup"),
          "--data",
          path.join(elsewhere, "agent-data"),
          "--json",
        ]);
        assert.equal(made.counts.instances, 2);
        assert.match(made.schema.migration, /^\d{4}_/);
      };

      // Every usage line and hint names the command as built (conduit-agent, conduit-hub): `deno task`
      // needs the repository the artifacts replace.
      const said = async (launcher: string, args: string[]) => {
        const out = await launch(launcher, args);
        const text = out.stdout + out.stderr;
        assert.doesNotMatch(text, /deno task/, text);
        return text;
      };
      const usages = async () => {
        const [agentHelp, queueHelp, backupUsage, hubHelp, tokenHelp] = await Promise.all([
          said(agentLauncher, ["--help"]),
          said(agentLauncher, ["queue", "--help"]),
          said(agentLauncher, ["backup"]),
          said(hubLauncher, ["--help"]),
          said(hubLauncher, ["admin", "token", "--help"]),
        ]);
        assert.match(agentHelp, /^usage: conduit-agent \[--config FILE\]/m);
        assert.match(queueHelp, /^usage: conduit-agent queue COMMAND/m);
        assert.match(backupUsage, /^usage: conduit-agent backup --out DIR/m);
        assert.match(hubHelp, /^ +conduit-hub admin site add\|list/m);
        assert.match(tokenHelp, /^usage: conduit-hub admin token create/m);
      };
      // The agent's hints name the hub's command the same way.
      const unenrolledHint = async () => {
        const unenrolled = await said(agentLauncher, [
          "check",
          "--no-network",
          "--data",
          path.join(elsewhere, "not-enrolled"),
          "--hub",
          `ws://127.0.0.1:${hubPort}/tunnel`,
          "--port",
          String(freePort()),
          "--http-port",
          String(freePort()),
        ]);
        assert.ok(
          unenrolled.includes(
            "(conduit-agent enroll --token TOKEN, a token from 'conduit-hub admin site add')",
          ),
          unenrolled,
        );
      };
      const spentHint = async () => {
        const spent = await said(agentLauncher, [
          "enroll",
          "--token",
          enrollmentToken,
          "--hub",
          `ws://127.0.0.1:${hubPort}/tunnel`,
          "--data",
          path.join(elsewhere, "enroll-again"),
        ]);
        assert.ok(spent.includes("on the hub, conduit-hub admin site add north issues a new one"), spent);
      };
      await Promise.all([hubSide(), agentBackup(), usages(), unenrolledHint(), spentHint()]);

      // Deno's own warning at a first start from a new place (its npm packages' build scripts) would greet
      // the operator in the log of every start of a service whose artifact it cannot write; and Node's
      // DEP0005, for Buffer() in bundled npm code (dcmjs-dimse's memorystream), at its first association.
      await agent.stop();
      await hub.stop();
      for (const log of [hub.logFile, agent.logFile]) {
        assert.doesNotMatch(await Deno.readTextFile(log), /Ignored build scripts|DeprecationWarning/, log);
      }
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});
