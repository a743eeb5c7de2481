/**
 * Credential rotation without re-enrollment, with real agent processes and the hub's admin CLI: the hub
 * hands the connected agent a new credential, the agent saves it before it answers, and connects with
 * it from then on; the old one is accepted until the agent connects with the new one or the grace period
 * ends. A kill -9 of the agent after it saved the credential but before the hub heard so does not lock
 * the site out; an agent too old for the request is never sent it; an offline site is refused.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Reason, Request } from "@conduit/shared/tunnel";
import { type OlderAgent, olderAgent } from "../support/older_agent.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import {
  credentialAccepted,
  eventually,
  hubAdmin,
  type HubProcess,
  siteArgs,
  siteRow,
  startHubProcess,
  startTestHub,
  type TestHub,
} from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { freePort, scratchDir } from "../support/processes.ts";
import { recent } from "../../hub/auth/audit.ts";
import { hashSecret } from "../../hub/sites/tokens.ts";
import { credentialRotations } from "../../hub/db/schema.ts";

const credentialFile = (agent: AgentProcess) => path.join(agent.dataDir, "hub-credential.json");

async function storedCredential(agent: AgentProcess): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(credentialFile(agent)));
}

/** Neither a credential nor its hash (nor the secret part) anywhere in `text`. */
function assertNoSecret(text: string, credentials: string[], where: string) {
  for (const c of credentials) {
    const secret = c.split(".").at(-1)!;
    assert.ok(!text.includes(secret), `${where} holds a credential`);
    assert.ok(!text.includes(hashSecret(secret)), `${where} holds a credential's hash`);
  }
}

async function startNorth(hub: TestHub, args?: string[], hubUrl?: string): Promise<AgentProcess> {
  const agent = await startAgentProcess({
    args: args ?? (await siteArgs(hub, "north")).map((a) => a === hub.tunnelUrl && hubUrl ? hubUrl : a),
  });
  await eventually("north connected", () => hub.sessions.get("north"));
  return agent;
}

Deno.test({
  name:
    "rotate while connected: the agent saves the new credential, reconnects with it, the old one is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let agent: AgentProcess | undefined;
    try {
      agent = await startNorth(hub);
      const before = await storedCredential(agent);
      const old = before.credential;
      assert.equal((await siteRow(hub, "north"))!.rotatedAt, null);

      const rotated = await hubAdmin(hub.dataDir, ["site", "rotate", "north", "--json"]);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.equal(rotated.json!.outcome, "confirmed");
      assert.equal(rotated.json!.site, "north");
      // Saved before the agent answered: the file holds the new one (mode 0600), the rest unchanged.
      const after = await storedCredential(agent);
      assert.notEqual(after.credential, old);
      assert.match(after.credential, /^cts\.north\./);
      assert.deepEqual({ ...after, credential: old }, before);
      assert.equal((await Deno.stat(credentialFile(agent))).mode! & 0o777, 0o600);
      assert.ok(!(await Deno.stat(`${credentialFile(agent)}.tmp`).catch(() => undefined)));

      // The old one is still accepted, until the agent connects with the new one.
      assert.ok(await credentialAccepted(hub, old));
      // The two listings (in JSON and as text) read only: they run side by side.
      const [listedRow, text] = await Promise.all([
        siteRow(hub, "north"),
        hubAdmin(hub.dataDir, ["site", "list"]),
      ]);
      const listed = listedRow!;
      assert.equal(listed.rotatedAt, rotated.json!.rotatedAt);
      assert.equal(listed.oldCredentialUntil, rotated.json!.oldCredentialUntil);
      assert.equal(listed.rotationUnconfirmed, false);
      assert.match(text.stdout, /\tROTATED\tUPLINK Mbit\/s\tDOWNLINK Mbit\/s\n/);
      assert.ok(text.stdout.includes(String(rotated.json!.rotatedAt)));

      // A forced reconnect: the agent comes back with the new credential, and the old one is refused.
      const first = hub.sessions.get("north")!.session;
      hub.sessions.drop("north", Reason.Normal, "test: reconnect");
      await eventually("north back", () => {
        const live = hub.sessions.get("north");
        return live && live.session !== first;
      });
      await eventually("the old credential refused", async () => !(await credentialAccepted(hub, old)));
      assert.ok(await credentialAccepted(hub, after.credential));
      assert.equal((await siteRow(hub, "north"))!.oldCredentialUntil, null);

      // Audited like a revoke, with no secret in the entry nor in any log line.
      const entries = (await recent(hub.db)).filter((e) => e.action === "site.rotate");
      assert.equal(entries.length, 1);
      assert.equal(entries[0].actor, "cli");
      assert.equal(entries[0].target, "north");
      assert.equal(entries[0].detail.confirmed, true);
      assertNoSecret(JSON.stringify(await recent(hub.db)), [old, after.credential], "the audit log");
      assertNoSecret(hub.lines.join("\n"), [old, after.credential], "the hub's log");
      assertNoSecret(await Deno.readTextFile(agent.logFile), [old, after.credential], "the agent's log");
      assertNoSecret(rotated.stdout + rotated.stderr, [old, after.credential], "the command's output");
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "rotate: the old credential is refused once the grace period ends, the session going on meanwhile",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ rotationGraceSeconds: 2 });
    let agent: AgentProcess | undefined;
    try {
      agent = await startNorth(hub);
      const old = (await storedCredential(agent)).credential;
      const session = hub.sessions.get("north")!.session;
      // Through the API's path (the site held here): audited under the caller's name.
      const result = await hub.rotation.rotate("north", "user:alice");
      assert.equal(result.outcome, "confirmed", result.message);
      const fresh = (await storedCredential(agent)).credential;
      assert.notEqual(fresh, old);
      assert.ok(await credentialAccepted(hub, old));
      await eventually("the grace period over", async () => !(await credentialAccepted(hub, old)));
      assert.ok(await credentialAccepted(hub, fresh));
      assert.equal(hub.sessions.get("north")?.session, session, "the session was not cut");
      const entry = (await recent(hub.db)).find((e) => e.action === "site.rotate")!;
      assert.equal(entry.actor, "user:alice");
      // And a later start of the agent (its file) connects with the new one.
      await agent.stop();
      agent = await startAgentProcess({
        dataDir: agent.dataDir,
        args: ["--site", "north", "--hub", hub.tunnelUrl],
      });
      await eventually("north connected again", () => {
        const live = hub.sessions.get("north");
        return live && live.session !== session;
      });
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "rotate: a kill -9 of the agent after it saved the credential, before the hub heard, leaves the site able to connect",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A long heartbeat timeout: the agent's answers are held back on purpose below.
    const hub = await startTestHub({ heartbeatTimeoutSeconds: 120 });
    const proxy = startProxy(hub.port);
    let agent: AgentProcess | undefined;
    try {
      const viaProxy = `ws://127.0.0.1:${proxy.port}/tunnel`;
      agent = await startNorth(hub, undefined, viaProxy);
      const old = (await storedCredential(agent)).credential;
      // What the agent sends no longer reaches the hub: its answer to the rotation will not either.
      proxy.freezeToUpstream();
      const rotation = hub.rotation.rotate("north", "cli");
      const fresh = await eventually("the agent saved a new credential", async () => {
        const c = (await storedCredential(agent!)).credential;
        return c !== old ? c : undefined;
      });
      await agent.kill();
      proxy.cutAll();
      const result = await rotation;
      assert.equal(result.outcome, "unconfirmed", result.message);
      const row = (await siteRow(hub, "north"))!;
      assert.equal(row.rotationUnconfirmed, true);
      assert.equal(row.rotatedAt, null);
      // The old one is still accepted (and the new one: the agent's start below connects with it).
      assert.ok(await credentialAccepted(hub, old));
      const entry = (await recent(hub.db)).find((e) => e.action === "site.rotate")!;
      assert.equal(entry.detail.confirmed, false);

      agent = await startAgentProcess({
        dataDir: agent.dataDir,
        args: ["--site", "north", "--hub", hub.tunnelUrl],
      });
      assert.equal((await storedCredential(agent)).credential, fresh);
      await eventually("north connected after the crash", () => hub.sessions.get("north"));
      await eventually("the old credential refused", async () => !(await credentialAccepted(hub, old)));
      assert.equal((await siteRow(hub, "north"))!.rotationUnconfirmed, false);
      assertNoSecret(hub.lines.join("\n"), [old, fresh], "the hub's log");
    } finally {
      proxy.close();
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "rotate: an agent too old for it is never sent the request, and an offline site is refused; nothing changes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let older: OlderAgent | undefined;
    try {
      const { enrollmentToken } = await hub.registry.add("east");
      const { credential } = await hub.registry.enroll(enrollmentToken);
      const hashBefore = (await hub.registry.get("east"))!.credentialHash;

      // Offline: refused at once, nothing changed. The unknown and never-enrolled sites' refusals (checked
      // below) change nothing either: the three commands run side by side (each a deno process of its own).
      await hub.registry.add("west");
      const [offline, unknown, pending] = await Promise.all([
        hubAdmin(hub.dataDir, ["site", "rotate", "east", "--json"]),
        hubAdmin(hub.dataDir, ["site", "rotate", "nowhere"]),
        hubAdmin(hub.dataDir, ["site", "rotate", "west", "--json"]),
      ]);
      assert.equal(offline.code, 1, offline.stderr);
      assert.equal(offline.json!.outcome, "refused");
      assert.match(String(offline.json!.message), /^site east is offline.*nothing was changed/i);
      assert.match(offline.stderr, /offline/);

      older = olderAgent(hub, "east", credential);
      await older.ready;
      await eventually("east connected", () => hub.sessions.get("east"));
      const refused = await hubAdmin(hub.dataDir, ["site", "rotate", "east", "--json"]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(refused.json!.outcome, "refused");
      assert.match(
        String(refused.json!.message),
        /the agent of site east \(version 0\.0\.9, older than 2026-12-05 00:28 UTC\) cannot take a new credential over the tunnel; upgrade it first/,
      );
      const row = (await hub.registry.get("east"))!;
      assert.equal(row.credentialHash, hashBefore);
      assert.equal(row.olderCredentials, null);
      assert.equal(row.credentialRotatedAt, null);
      assert.ok(!older.asked.includes("credential"), `asked: ${older.asked}`);
      assert.ok(await credentialAccepted(hub, credential));
      assert.ok(!(await recent(hub.db)).some((e) => e.action === "site.rotate"));

      // Unknown and never-enrolled sites (asked above, with the offline one).
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no site named nowhere/);
      assert.equal(pending.code, 1);
      assert.match(String(pending.json!.message), /has not enrolled yet/);
      assert.ok(Request.safeParse({ op: "credential", credential }).success);
    } finally {
      older?.close();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "rotate: an agent that cannot save the credential says so, and the rotation is undone",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let agent: AgentProcess | undefined;
    try {
      agent = await startNorth(hub);
      const before = await Deno.readTextFile(credentialFile(agent));
      const row = (await hub.registry.get("north"))!;
      // The agent's temporary file cannot be made (a directory holds its name): as a full or broken disk.
      await Deno.mkdir(`${credentialFile(agent)}.tmp/x`, { recursive: true });
      const r = await hubAdmin(hub.dataDir, ["site", "rotate", "north", "--json"]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.json!.outcome, "refused");
      assert.match(
        String(r.json!.message),
        /^the agent did not save the new credential \(.+\); nothing was changed$/,
      );
      assert.equal(await Deno.readTextFile(credentialFile(agent)), before);
      const after = (await hub.registry.get("north"))!;
      assert.equal(after.credentialHash, row.credentialHash);
      assert.equal(after.olderCredentials, null);
      assert.equal(after.credentialRotatedAt, null);
      assert.ok(await credentialAccepted(hub, JSON.parse(before).credential));
      assert.ok(hub.sessions.get("north"), "the session goes on");
      assert.ok(!(await recent(hub.db)).some((e) => e.action === "site.rotate"));
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "rotate: a request nobody took in time is never done later; one a stopped hub left running is closed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let agent: AgentProcess | undefined;
    try {
      agent = await startNorth(hub);
      const before = await Deno.readTextFile(credentialFile(agent));
      const old = Date.now() - 120_000;
      await hub.db.insert(credentialRotations).values([
        { id: "late", site: "north", actor: "cli", state: "requested", requestedAt: old },
        { id: "left", site: "north", actor: "cli", state: "running", hubId: "hub-gone", requestedAt: old },
      ]);
      // The hub looks every second.
      const states = () =>
        hub.db.select().from(credentialRotations).then((rows) =>
          JSON.stringify(rows.map((r) => [r.id, r.state]).toSorted())
        );
      await eventually(
        "both closed",
        async () => (await states()) === '[["late","expired"],["left","unconfirmed"]]',
      );
      assert.equal(await Deno.readTextFile(credentialFile(agent)), before);
      // The one left running is audited as unconfirmed, under who asked.
      const audited = (await recent(hub.db)).filter((e) => e.action === "site.rotate");
      assert.deepEqual(audited.map((e) => [e.actor, e.target, e.detail]), [["cli", "north", {
        confirmed: false,
      }]]);
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "rotate: a kill -9 of the hub after the agent saved the credential, before the hub recorded it, leaves the site able to connect",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const dataDir = await scratchDir("conduit-hub-");
    // A long heartbeat timeout: the agent's answers are held back on purpose below.
    const config = path.join(dataDir, "hub.yaml");
    await Deno.writeTextFile(config, "tunnel:\n  heartbeatTimeoutSeconds: 120\n");
    const start = () => startHubProcess({ port, dataDir, args: ["--config", config] });
    let hub: HubProcess | undefined = await start();
    const proxy = startProxy(port);
    let agent: AgentProcess | undefined;
    try {
      const added = await hubAdmin(dataDir, ["site", "add", "north", "--json"]);
      assert.equal(added.code, 0, added.stderr);
      agent = await startAgentProcess({
        config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 } },
        args: [
          "--site",
          "north",
          "--hub",
          `ws://127.0.0.1:${proxy.port}/tunnel`,
          "--enroll",
          String(added.json!.enrollmentToken),
        ],
      });
      await eventually("north online", async () => (await siteRow({ dataDir }, "north"))?.state === "online");
      const old = (await storedCredential(agent)).credential;
      proxy.freezeToUpstream();
      const asked = hubAdmin(dataDir, ["site", "rotate", "north", "--json"]);
      const fresh = await eventually("the agent saved a new credential", async () => {
        const c = (await storedCredential(agent!)).credential;
        return c !== old ? c : undefined;
      });
      Deno.kill(hub.pid, "SIGKILL");
      await hub.status;
      hub = undefined;
      proxy.cutAll();

      hub = await start();
      // The request the killed hub took is closed as unconfirmed (its hub is gone), and audited so.
      const answer = await asked;
      assert.equal(answer.code, 3, answer.stderr);
      assert.equal(answer.json!.outcome, "unconfirmed");
      assert.match(String(answer.json!.message), /stopped on the way/);
      // The agent comes back with the new credential the killed hub had recorded before it sent it.
      await eventually(
        "north online again",
        async () => (await siteRow({ dataDir }, "north"))?.state === "online",
      );
      assert.equal((await storedCredential(agent)).credential, fresh);
      await eventually("the old credential refused", async () => !(await credentialAccepted({ port }, old)));
      assert.equal((await siteRow({ dataDir }, "north"))!.rotationUnconfirmed, false);
      const log = await Deno.readTextFile(hub.logFile);
      assertNoSecret(log, [old, fresh], "the hub's log");
    } finally {
      proxy.close();
      await agent?.stop();
      await hub?.stop();
    }
  },
});

Deno.test({
  name:
    "rotate on a schedule (tunnel.rotateCredentialsDays): a connected site's credential is rotated when due, audited as the hub's",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Due every second, for the test (the hub looks for due ones every half second).
    const hub = await startTestHub({ rotateCredentialsDays: 1 / 86400, rotationGraceSeconds: 1 });
    let agent: AgentProcess | undefined;
    let older: OlderAgent | undefined;
    try {
      agent = await startNorth(hub);
      // An agent too old for it is left alone.
      const { enrollmentToken } = await hub.registry.add("east");
      const { credential: eastCredential } = await hub.registry.enroll(enrollmentToken);
      older = olderAgent(hub, "east", eastCredential);
      await older.ready;
      const seen = new Set([(await storedCredential(agent)).credential]);
      await eventually("two scheduled rotations", async () => {
        seen.add((await storedCredential(agent!)).credential);
        return seen.size >= 3;
      }, 30_000);
      // The hub audits a rotation once the agent has confirmed it, which is after the agent stored it.
      let audited: Awaited<ReturnType<typeof recent>> = [];
      await eventually("two rotations audited", async () => {
        audited = (await recent(hub.db)).filter((e) => e.action === "site.rotate");
        return audited.length >= 2;
      });
      assert.ok(
        audited.every((e) => e.actor === "hub" && e.target === "north" && e.detail.confirmed === true),
      );
      assert.ok(!older.asked.includes("credential"));
      assert.ok(await credentialAccepted(hub, eastCredential));
      assert.equal((await hub.registry.get("east"))!.olderCredentials, null);
    } finally {
      older?.close();
      await agent?.stop();
      await hub.stop();
    }
  },
});
