/**
 * The tunnel over real WebSockets: the hub's admin CLI adds a site, a real agent process enrolls
 * with the one-time token, connects out, answers requests (echo, find streamed back), and is cut
 * off at once by a revoke. Bad credentials and versions are refused with a reason code while the
 * hub keeps serving the connected site. `agent enroll` (enroll and exit, for an installer) against a real
 * hub process: the credential saved whole or not at all, then the agent started without a token.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { encodeFrame, Flag, FRAME_VERSION, FrameType, HandshakeError, Reason } from "@conduit/shared/tunnel";
import { openTunnelSocket } from "../../agent/tunnel/socket.ts";
import { PYDICOM_TEST_FILES_DIR, skipReason, startStorescp } from "../support/peers.ts";
import { agentCli, type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import {
  credentialAccepted,
  eventually,
  hubAdmin,
  siteRow,
  startHubProcess,
  startTestHub,
} from "../support/hub.ts";
import { freePort, scratchDir } from "../support/processes.ts";
import { datasetBytes, listFiles } from "../support/agent.ts";
import { readObjects } from "../../hub/tunnel/objects.ts";
import { enrollAgent } from "../../agent/tunnel/enroll_command.ts";
import type { AgentConfig } from "../../agent/config/schema.ts";
import { BUILD_TEXT as AGENT_BUILD_TEXT } from "../../agent/version.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`enroll_test: skipped: ${skip}`);

/** Opens a raw tunnel WebSocket and returns the refusal the hub sends and the close code. */
function rawAttempt(
  url: string,
  credential: string,
  hello: unknown,
): Promise<{ welcome?: unknown; code: number; opened: boolean }> {
  return new Promise((resolve) => {
    const Ctor = WebSocket as unknown as new (u: string, o: { headers: HeadersInit }) => WebSocket;
    const ws = new Ctor(url, { headers: { authorization: `Bearer ${credential}` } });
    let welcome: unknown;
    let opened = false;
    ws.onopen = () => (opened = true, ws.send(JSON.stringify(hello)));
    ws.onmessage = (e) => (welcome = JSON.parse(String(e.data)));
    ws.onclose = (e) => resolve({ welcome, code: e.code, opened });
  });
}

/** A real session that sends `bad` after the hello; resolves with the close code the hub gives. */
function badSession(url: string, site: string, credential: string, bad: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    const Ctor = WebSocket as unknown as new (u: string, o: { headers: HeadersInit }) => WebSocket;
    const ws = new Ctor(url, { headers: { authorization: `Bearer ${credential}` } });
    ws.onopen = () =>
      ws.send(JSON.stringify({ protocol: "conduit-tunnel", version: 1, site, agentVersion: "x" }));
    ws.onmessage = (e) => {
      if (typeof e.data === "string" && JSON.parse(e.data).accepted) ws.send(bad);
    };
    ws.onclose = (e) => resolve(e.code);
  });
}

/**
 * Two stories on one hub, side by side: north's (enrolled by the admin CLI's token, requests, bad peers, a
 * revoke), and south's, whose session holds while north's story runs and which, once the hub stops for good,
 * is retried with a growing backoff (a test of its own until 2026-12-07, which waited 5.5 s for nothing else).
 */
Deno.test({
  name: "an enrolled agent connects out, answers requests, and a revoke cuts it off; " +
    "after a session that held, a hub that stays down is retried with a growing backoff",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let hubStopped = false;
    const pacs = await startStorescp({ aet: "PACS", dir: await Deno.makeTempDir({ prefix: "pacs-" }) });
    let agent: AgentProcess | undefined;
    // South: its session must hold past 5 s before the hub stops (below).
    const southStart = startAgentProcess({
      config: { hub: { reconnectBaseSeconds: 0.05, reconnectCapSeconds: 2 } },
      args: [
        "--site",
        "south",
        "--hub",
        hub.tunnelUrl,
        "--enroll",
        (await hub.registry.add("south")).enrollmentToken,
      ],
    });
    southStart.catch(() => {}); // thrown below
    let south: AgentProcess | undefined;
    try {
      const added = await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"]);
      assert.equal(added.code, 0, added.stderr);
      const token = String(added.json!.enrollmentToken);
      assert.match(token, /^cte\.north\./);
      assert.equal((await siteRow(hub, "north"))?.state, "pending");

      agent = await startAgentProcess({
        config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
        args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", token],
      });
      const credFile = path.join(agent.dataDir, "hub-credential.json");
      assert.equal((await Deno.stat(credFile)).mode! & 0o777, 0o600);
      const stored = JSON.parse(await Deno.readTextFile(credFile));
      assert.match(stored.credential, /^cts\.north\./);
      // The token was for one use: a second enrollment with it is refused.
      const again = await fetch(`http://127.0.0.1:${hub.port}/tunnel/enroll`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(again.status, 403);
      await again.body?.cancel();

      const row = await eventually("north online", async () => {
        const r = await siteRow(hub, "north");
        return r?.state === "online" && r.rttMs !== null ? r : undefined;
      });
      assert.equal(row.agentVersion, AGENT_BUILD_TEXT, "the agent's build, as its hello named it");
      assert.match(String(row.remoteAddress), /^127\.0\.0\.1:\d+$/);
      assert.equal(row.queueDepth, 0);
      south = await southStart;
      await eventually("south online", () => hub.sessions.get("south"));
      const southOnline = Date.now();

      // Echo a node at the site through the tunnel.
      const echo = [];
      for await (const r of hub.sessions.replies("north", { op: "echo", node: "pacs" })) echo.push(r);
      assert.deepEqual(echo.map((r) => r.type), ["ok"]);
      assert.equal((echo[0] as unknown as { detail: { status: number } }).detail.status, 0);
      const unknown = [];
      for await (const r of hub.sessions.replies("north", { op: "echo", node: "nope" })) unknown.push(r);
      assert.equal(unknown[0].type, "error");
      assert.equal((unknown[0] as { code: string }).code, "unknown-node");

      // Find in the agent's archive, matches streamed back.
      const files = ["CT_small.dcm", "MR_small.dcm"].map((f) => path.join(PYDICOM_TEST_FILES_DIR, f));
      const sent = await storescu(files, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const matches = [];
      for await (
        const r of hub.sessions.replies("north", {
          op: "find",
          level: "STUDY",
          query: { StudyInstanceUID: "", PatientID: "", ModalitiesInStudy: "" },
        })
      ) matches.push(r);
      assert.equal(matches.at(-1)?.type, "end");
      const studies = matches.filter((m) => m.type === "match");
      assert.equal(studies.length, 2);
      assert.equal((matches.at(-1) as { completed: number }).completed, 2);

      // Retrieve a study from the agent's archive: objects stream back with size and SHA-256 checked.
      const ct = studies.map((m) => (m as { dataset: Record<string, string> }).dataset)
        .find((d) => d.PatientID === "1CT1")!;
      const got: { uid: string; bytes: Uint8Array }[] = [];
      const objects = readObjects(
        await hub.sessions.call("north", { op: "retrieve", studyInstanceUid: ct.StudyInstanceUID }),
      );
      let step = await objects.next();
      for (; !step.done; step = await objects.next()) {
        const parts: Uint8Array[] = [];
        for await (const b of step.value.bytes) parts.push(b.slice());
        got.push({ uid: step.value.header.sopInstanceUid, bytes: concat(parts) });
      }
      assert.equal(step.value.completed, 1);
      assert.equal(got.length, 1);
      // Byte for byte the archived data set (storescu drops CT_small's trailing padding on the way in).
      const archived = (await listFiles(agent.dataDir)).find((f) => f.endsWith(`${got[0].uid}.dcm`));
      assert.ok(archived, "the archived file");
      assert.deepEqual(got[0].bytes, await datasetBytes(archived));
      // A resumed retrieve skips what the hub already has.
      const resumed = readObjects(
        await hub.sessions.call("north", {
          op: "retrieve",
          studyInstanceUid: ct.StudyInstanceUID,
          skip: [got[0].uid],
        }),
      );
      const first = await resumed.next();
      assert.equal(first.done, true);
      assert.equal((first.value as { completed: number }).completed, 0);

      // A bad credential is refused before the upgrade: 401 with the refusal a hello would get, and no
      // WebSocket, so nothing such a peer sends is read (a hello may be 64 MiB); the agent's socket
      // reads the refusal and says why. A wrong version is refused with its reason code; north stays online.
      const badCredential = "cts.north.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
      for (const authorization of [`Bearer ${badCredential}`, undefined]) {
        const refused = await fetch(hub.tunnelUrl.replace(/^ws/, "http"), {
          headers: authorization ? { authorization } : {},
        });
        assert.equal(refused.status, 401);
        const body = await refused.json();
        assert.equal(body.accepted, false);
        assert.equal(body.reason, Reason.BadCredential);
      }
      const bad = await rawAttempt(hub.tunnelUrl, badCredential, {
        protocol: "conduit-tunnel",
        version: 1,
        site: "north",
        agentVersion: "x",
      });
      assert.equal(bad.opened, false, "no WebSocket opened, no hello read");
      await assert.rejects(
        openTunnelSocket(hub.tunnelUrl, { authorization: `Bearer ${badCredential}` }),
        (err: unknown) =>
          err instanceof HandshakeError && err.reason === Reason.BadCredential &&
          /the site credential is not valid/.test(err.message),
      );
      const version = await rawAttempt(hub.tunnelUrl, stored.credential, {
        protocol: "conduit-tunnel",
        version: 99,
        site: "north",
        agentVersion: "x",
      });
      assert.equal(version.code, 4000 + Reason.BadVersion);
      assert.ok(hub.sessions.get("north"), "north is still connected");

      // Bad frames from an enrolled site close that site's session with a reason code, and only it.
      // (A window overrun is tested on the Session: the hub reads every stream as data arrives, so a
      // client cannot overrun a window the hub keeps reopening.)
      const east = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
      const frame = (f: Parameters<typeof encodeFrame>[0]) => encodeFrame(f);
      const cases: [string, Uint8Array, number][] = [
        ["malformed", new Uint8Array([FRAME_VERSION, 1, 2]), Reason.ProtocolError],
        [
          "unknown stream",
          frame({ type: FrameType.Data, flags: 0, stream: 7, length: 1, payload: new Uint8Array(1) }),
          Reason.UnknownStream,
        ],
        [
          "oversize",
          frame({
            type: FrameType.Data,
            flags: Flag.SYN,
            stream: 1,
            length: 0,
            payload: new Uint8Array(2 << 20),
          }),
          Reason.Oversize,
        ],
      ];
      for (const [what, bytes, reason] of cases) {
        assert.equal(await badSession(hub.tunnelUrl, "east", east.credential, bytes), 4000 + reason, what);
      }
      assert.ok(hub.sessions.get("north"), "north is still connected after east's bad frames");

      // Revoke: the running hub closes the session within its sync interval and refuses the agent after.
      const revoked = await hubAdmin(hub.dataDir, ["site", "revoke", "north", "--json"]);
      assert.equal(revoked.code, 0, revoked.stderr);
      const t0 = Date.now();
      await eventually("north's session closed", () => hub.sessions.get("north") ? undefined : true, 10_000);
      assert.ok(Date.now() - t0 < 5000, `closed ${Date.now() - t0} ms after the revoke`);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(hub.sessions.get("north"), undefined, "a revoked agent does not get back in");
      assert.equal((await siteRow(hub, "north"))?.state, "revoked");
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /the hub refused this agent/);
      assert.doesNotMatch(log, /cts\.north\./, "the credential never appears in the agent's log");

      // South's session held (past the 5 s after which a session counts as held); then the hub stays down.
      const held = Date.now() - southOnline;
      if (held < 5500) await new Promise((r) => setTimeout(r, 5500 - held));
      hubStopped = true;
      await hub.stop();
      const attempts = await eventually("five reconnect attempts", async () => {
        const lines = (await Deno.readTextFile(south!.logFile)).split("\n")
          .filter((l) => l.includes('"reconnecting to the hub"'))
          .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as { attempt: number });
        return lines.length >= 5 ? lines.map((l) => l.attempt) : undefined;
      }, 20_000);
      // Each failed attempt after the first backs off further (it used to start over at 1 every time).
      assert.deepEqual(attempts.slice(0, 5), [1, 2, 3, 4, 5]);
    } catch (err) {
      if (agent) console.error((await Deno.readTextFile(agent.logFile)).slice(-3000));
      console.error(hub.lines.slice(-20).join("\n"));
      throw err;
    } finally {
      await agent?.stop();
      await (south ?? await southStart.catch(() => undefined))?.stop();
      await pacs.stop();
      if (!hubStopped) await hub.stop();
    }
  },
});

/**
 * An agent given another site's token (`--site south --enroll cte.north...`, a token pasted into the
 * wrong terminal) refuses it before asking the hub: north's token stays unused and north still pending.
 * Until 2026-12-04 the agent swapped the token at the hub first, then found the site wrong and saved
 * nothing: north's token was spent and north marked enrolled with a credential nobody held, so north's
 * own agent was refused until north was revoked and added again.
 */
Deno.test({
  name: "an agent refuses another site's enrollment token without spending it at the hub",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const data = await Deno.makeTempDir({ prefix: "conduit-enroll-" });
    try {
      const north = await hub.registry.add("north");
      await hub.registry.add("south");
      const config = { site: "south", data, hub: { url: hub.tunnelUrl } } as unknown as AgentConfig;
      const errors: string[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void errors.push(args.join(" "));
      let code;
      try {
        code = await enrollAgent(config, north.enrollmentToken);
      } finally {
        console.error = original;
      }
      assert.equal(code, 1);
      assert.match(errors.join("\n"), /the token is for site north, not south/);
      assert.equal(
        (await hub.registry.get("north"))?.state,
        "pending",
        "north is still waiting for its agent",
      );
      const enrolled = await hub.registry.enroll(north.enrollmentToken);
      assert.equal(enrolled.site, "north", "north's own agent can still enroll with its token");
    } finally {
      await hub.stop();
      await Deno.remove(data, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "agent enroll saves the credential and exits; refused, unreachable or in use: non-zero, nothing saved",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubProcess();
    const work = await scratchDir("agent-enroll-cli-");
    let agent: AgentProcess | undefined;
    try {
      const token = async (site: string) => {
        const added = await hubAdmin(hub.dataDir, ["site", "add", site, "--json"]);
        assert.equal(added.code, 0, added.stderr);
        return String(added.json!.enrollmentToken);
      };
      // The sites' tokens at once (each `hub admin site add` is a process of its own): south's for the wrong
      // site below, east's and west's for the data directories that cannot be used.
      const [north, south, east, west] = await Promise.all(["north", "south", "east", "west"].map(token));
      const dataDir = path.join(work, "data");
      const credFile = path.join(dataDir, "hub-credential.json");
      const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
      // As an installer script runs it: the agent's configuration file names the hub, the site and the data.
      const config = path.join(work, "agent.yaml");
      await Deno.writeTextFile(config, `site: north\nhub: { url: "${hub.tunnelUrl}" }\ndata: ${dataDir}\n`);

      // Bad arguments: usage, exit 2, before the data directory is looked at; the three run side by side
      // with the first refusal below (the enrolls that reach the data directory take its lock: one at a time).
      const badArgs = [["--config", config], ["--token", north, "--config", config, "now"], [
        "--token",
        north,
      ]];
      const [down, ...bad] = await Promise.all([
        // A hub that does not answer: exit 1, the reason, nothing made; the token is not spent.
        agentCli([
          "enroll",
          "--token",
          north,
          "--config",
          config,
          "--hub",
          `ws://127.0.0.1:${freePort()}/tunnel`,
        ]),
        ...badArgs.map((args) =>
          agentCli([
            "enroll",
            ...args,
            ...(args.includes("--config") ? [] : ["--data", dataDir]),
          ])
        ),
      ]);
      assert.equal(down.code, 1, down.stderr);
      assert.match(down.stderr, /^agent enroll: enrollment failed at .*refused.*is the hub running/m);
      assert.equal(await exists(dataDir), false, "no data directory left behind");
      // wss:// to this hub, which has no TLS: what to write instead, not rustls' words alone.
      const tlsToPlain = await agentCli([
        "enroll",
        "--token",
        north,
        "--config",
        config,
        "--hub",
        hub.tunnelUrl.replace(/^ws:/, "wss:"),
      ]);
      assert.equal(tlsToPlain.code, 1, tlsToPlain.stderr);
      assert.match(tlsToPlain.stderr, /does not answer TLS at this address: a hub without TLS takes ws:\/\//);
      assert.equal(await exists(dataDir), false, "no data directory left behind");
      // Another site's token: refused before the hub is asked.
      const other = await agentCli(["enroll", "--token", south, "--config", config]);
      assert.equal(other.code, 1, other.stderr);
      assert.match(other.stderr, /the token is for site south, not north; nothing was changed/);
      badArgs.forEach((args, i) => {
        const r = bad[i];
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /^agent enroll: .*nothing was changed/m);
      });
      assert.equal(await exists(dataDir), false);

      // Enrolled: exit 0 (the process ends), the credential saved 0600, and the hub takes it.
      const done = await agentCli(["enroll", "--token", north, "--config", config, "--json"]);
      assert.equal(done.code, 0, done.stderr);
      const result = JSON.parse(done.stdout);
      assert.equal(result.site, "north");
      assert.equal(result.file, credFile);
      assert.equal(result.replaced, false);
      assert.equal((await Deno.stat(credFile)).mode! & 0o777, 0o600);
      const stored = JSON.parse(await Deno.readTextFile(credFile));
      assert.equal(stored.hub, hub.tunnelUrl);
      assert.ok(await credentialAccepted(hub, stored.credential));
      assert.deepEqual([...Deno.readDirSync(dataDir)].map((e) => e.name), ["hub-credential.json"]);
      // The token is spent: a second enroll is refused and the saved credential kept as it is.
      const before = await Deno.readTextFile(credFile);
      const spent = await agentCli(["enroll", "--token", north, "--config", config]);
      assert.equal(spent.code, 1, spent.stderr);
      assert.match(spent.stderr, /not valid \(unknown, already used, or revoked\); nothing was changed/);
      assert.equal(await Deno.readTextFile(credFile), before);

      // The agent then starts on that configuration without a token, and the site is online.
      agent = await startAgentProcess({ dataDir, args: ["--site", "north", "--hub", hub.tunnelUrl] });
      await eventually("north online", async () => (await siteRow(hub, "north"))?.state === "online");
      // While it runs, enrolling again is refused before the token is spent.
      assert.equal((await hubAdmin(hub.dataDir, ["site", "revoke", "north"])).code, 0);
      const again = await token("north");
      const busy = await agentCli(["enroll", "--token", again, "--config", config]);
      assert.equal(busy.code, 1, busy.stderr);
      assert.match(
        busy.stderr,
        new RegExp(`in use by agent process ${agent.pid}: stop the agent before enrolling`),
      );
      assert.equal(await Deno.readTextFile(credFile), before);
      await agent.stop();
      agent = undefined;
      const renewed = await agentCli(["enroll", "--token", again, "--config", config]);
      assert.equal(renewed.code, 0, renewed.stderr);
      assert.match(
        renewed.stdout,
        /^enrolled as site north with .*\(mode 0600\), replacing the one it had$/m,
      );
      const replaced = JSON.parse(await Deno.readTextFile(credFile));
      assert.notEqual(replaced.credential, stored.credential);
      assert.ok(await credentialAccepted(hub, replaced.credential));

      // A credential that cannot be saved (its path taken by a directory): exit 1, no partial file, and
      // the message says the token is spent.
      const blocked = path.join(work, "blocked");
      await Deno.mkdir(path.join(blocked, "hub-credential.json", "x"), { recursive: true });
      // A data directory that cannot be made (its path taken by a file; as another user, one it may not
      // write: EACCES): the directory's reason and setting, not "stop the agent", and the token unspent.
      // The three enrolls (east's, west's twice) touch different sites and data directories (west's two are
      // refused before any lock): they run side by side.
      const aFile = path.join(work, "a-file");
      await Deno.writeTextFile(aFile, "");
      const westData = [aFile, path.join(aFile, "data")];
      const [unsaved, ...unusables] = await Promise.all([
        agentCli(["enroll", "--token", east, "--hub", hub.tunnelUrl, "--data", blocked]),
        ...westData.map((data) =>
          agentCli(["enroll", "--token", west, "--hub", hub.tunnelUrl, "--data", data])
        ),
      ]);
      assert.equal(unsaved.code, 1, unsaved.stderr);
      assert.match(unsaved.stderr, /could not be saved in .*nothing was saved\. The token is spent/);
      assert.deepEqual([...Deno.readDirSync(blocked)].map((e) => e.name), ["hub-credential.json"]);

      for (const unusable of unusables) {
        assert.equal(unusable.code, 1, unusable.stderr);
        assert.match(unusable.stderr, /^agent enroll: cannot use the data directory .*set data \(--data/m);
        assert.doesNotMatch(unusable.stderr, /stop the agent/);
      }
      assert.equal((await siteRow(hub, "west"))?.state, "pending", "the token is not spent");
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});
