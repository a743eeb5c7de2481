/**
 * `deno task agent check`: the preflight site IT runs before the first start. A real configuration against
 * real peers (a DCMTK storescp node that answers and one on a closed port), TLS files made with openssl (an
 * expired certificate, one that ends within 30 days), key files, a data directory held by a running agent
 * (reported, its lock and ports left to it), a hub (its health and the site credential, without taking the
 * running agent's session), a configuration error (exit 2, the agent's own message) and the JSON shape.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { freePort, skipReason, startStorescp } from "../support/peers.ts";
import { makeExpiredCert, makeTestPki } from "../support/pki.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { BUILD_TEXT as AGENT_BUILD_TEXT } from "../../agent/version.ts";

interface Line {
  status: "ok" | "warn" | "fail";
  what: string;
  detail: string;
}

/** `agent check ARGS --json`: the exit code and the checks by name. */
async function checkJson(
  args: string[],
): Promise<{ code: number; checks: Map<string, Line>; stderr: string }> {
  // A generous limit for the network checks: a busy machine must pass too (what fails here is refused at once).
  const limit = args.includes("--timeout") ? [] : ["--timeout", "60"];
  const r = await agentCli(["check", ...args, ...limit, "--json"]);
  let lines: Line[];
  try {
    lines = JSON.parse(r.stdout);
  } catch {
    throw new Error(`agent check --json printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  return { code: r.code, checks: new Map(lines.map((l) => [l.what, l])), stderr: r.stderr };
}

function status(checks: Map<string, Line>, what: string): Line {
  const line = checks.get(what);
  assert.ok(line, `no check ${what}: ${JSON.stringify([...checks.keys()])}`);
  return line;
}

Deno.test({
  name: "agent check: a node that answers, one on a closed port, TLS and key files, the text and JSON forms",
  ignore: Boolean(skipReason("storescp", "openssl")),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "agent-check-" });
    const storescp = await startStorescp({ dir: path.join(dir, "received") });
    const pki = await makeTestPki(["north"]);
    try {
      const expired = await makeExpiredCert(dir);
      const goodKey = path.join(dir, "site.key");
      fs.writeFileSync(goodKey, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
      fs.chmodSync(goodKey, 0o600);
      const openKey = path.join(dir, "open.key");
      fs.writeFileSync(openKey, crypto.getRandomValues(new Uint8Array(32)));
      fs.chmodSync(openKey, 0o644);
      const shortKey = path.join(dir, "short.key");
      fs.writeFileSync(shortKey, "too short", { mode: 0o600 });
      const closed = freePort();
      const [port, tlsPort, httpPort] = [freePort(), freePort(), freePort()];
      const config = {
        data: path.join(dir, "data"),
        dimse: {
          host: "127.0.0.1",
          port,
          // The SCP's certificate expired in 2020: clients would refuse every handshake.
          tls: { port: tlsPort, cert: expired.cert, key: expired.key },
        },
        http: { port: httpPort },
        archive: { minFreeMegabytes: 16 },
        deid: { keyFile: goodKey },
        nodes: {
          pacs: { aet: storescp.aet, host: "127.0.0.1", port: storescp.port },
          gone: { aet: "GONE", host: "127.0.0.1", port: closed },
          // The test CA's certificates end in 2 days: a warning, not a failure.
          secure: { aet: "SECURE", host: "127.0.0.1", port: closed, tls: { ca: pki.ca } },
        },
        routes: [
          { name: "to-pacs", to: [{ node: "pacs" }] },
          { name: "research", to: [{ node: "gone" }], deid: { profile: "basic", keyFile: openKey } },
          { name: "typo", to: [{ node: "pacs2" }] },
          { name: "weak", to: [{ node: "pacs" }], deid: { profile: "basic", keyFile: shortKey } },
        ],
      };
      const file = path.join(dir, "agent.yaml");
      await Deno.writeTextFile(file, stringify(config));

      const { code, checks } = await checkJson(["--config", file]);
      assert.equal(code, 1, JSON.stringify([...checks.values()], null, 1));
      // The data directory is missing: the agent would create it; the check does not.
      assert.equal(status(checks, "data directory").status, "ok");
      assert.match(status(checks, "data directory").detail, /missing: the agent creates it/);
      assert.equal(fs.existsSync(config.data), false);
      assert.equal(status(checks, "free space").status, "ok");
      assert.match(status(checks, "free space").detail, /MB free, floor 16 MB \(archive\.minFreeMegabytes\)/);
      assert.ok(checks.has("file system"));
      assert.equal(status(checks, "data directory lock").status, "ok");
      for (const p of ["DIMSE port", "DIMSE TLS port", "HTTP port"]) {
        assert.equal(status(checks, p).status, "ok", p);
      }
      // Certificates: the SCP's expired, the CA's ending within 30 days; the key is the certificate's.
      assert.equal(status(checks, "TLS dimse.tls.cert").status, "fail");
      assert.match(status(checks, "TLS dimse.tls.cert").detail, /expired on 2020-01-01/);
      assert.equal(status(checks, "TLS dimse.tls.key").status, "ok");
      assert.equal(status(checks, "TLS nodes.secure.tls.ca").status, "warn");
      assert.match(
        status(checks, "TLS nodes.secure.tls.ca").detail,
        /expires on \d{4}-\d\d-\d\d, in [01] days/,
      );
      // Key files: private and long enough; readable by others (a warning); too short (as the agent refuses it).
      assert.equal(status(checks, "key deid.keyFile").status, "ok");
      assert.match(status(checks, "key deid.keyFile").detail, /32 bytes, mode 0600/);
      const open = status(checks, "key routes: research: deid.keyFile");
      assert.equal(open.status, "warn");
      assert.match(open.detail, /readable by every user \(mode 0644\): chmod 600/);
      const short = status(checks, "key routes: weak: deid.keyFile");
      assert.equal(short.status, "fail");
      assert.equal(short.detail, `the key file ${shortKey} holds 9 bytes; it needs at least 16`);
      // Routes, as the agent's start compiles them.
      assert.equal(status(checks, "route to-pacs").status, "ok");
      assert.equal(status(checks, "route to-pacs").detail, "to pacs");
      assert.equal(status(checks, "route research").detail, "to gone (de-identified)");
      assert.equal(status(checks, "route typo").status, "fail");
      assert.equal(status(checks, "route typo").detail, 'routes: typo: no node named "pacs2" under nodes');
      assert.equal(status(checks, "route weak").status, "fail");
      // The nodes: storescp answers the C-ECHO, nothing listens on the closed port.
      assert.equal(status(checks, "node pacs").status, "ok");
      assert.match(
        status(checks, "node pacs").detail,
        /^C-ECHO STORESCP@127\.0\.0\.1:\d+: success in \d+ ms$/,
      );
      assert.equal(status(checks, "node gone").status, "fail");
      assert.match(status(checks, "node gone").detail, /refused/i);
      assert.equal(status(checks, "node secure").status, "fail");
      // No hub configured: no hub check and no credential check.
      assert.ok(![...checks.keys()].some((k) => k.startsWith("hub") || k === "site credential"));
      for (const line of checks.values()) {
        assert.deepEqual(Object.keys(line).sort(), ["detail", "status", "what"]);
        assert.ok(["ok", "warn", "fail"].includes(line.status));
      }

      // The text form: one aligned line per check, then the counts.
      const text = await agentCli(["check", "--config", file, "--no-network"]);
      assert.equal(text.code, 1, text.stderr);
      const lines = text.stdout.trimEnd().split("\n");
      assert.equal(
        lines[0].replace(/ +/g, " "),
        `ok agent build ${AGENT_BUILD_TEXT}`,
        "the agent's build first",
      );
      assert.match(lines[1], /^ok {4}data directory {2,}\S/);
      assert.ok(
        lines.some((l) => /^fail {2}TLS dimse\.tls\.cert {2,}.*expired on 2020-01-01$/.test(l)),
        text.stdout,
      );
      assert.ok(!lines.some((l) => /^\w+ +node /.test(l)), "--no-network leaves the nodes out");
      assert.match(lines.at(-1)!, /^\d+ ok, 2 warnings, 4 failed \(network checks left out\)$/);

      // Fixed: the checks that failed pass, and the exit code is 0 (warnings allowed).
      const fixed = {
        ...config,
        dimse: { host: "127.0.0.1", port },
        nodes: { pacs: config.nodes.pacs },
        routes: [config.routes[0]],
      };
      await Deno.writeTextFile(file, stringify(fixed));
      const good = await checkJson(["--config", file]);
      assert.equal(good.code, 0, JSON.stringify([...good.checks.values()]));
      // A flag wins over the file, as for the agent: a port held by another program fails.
      const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
      try {
        const takenPort = String((taken.addr as Deno.NetAddr).port);
        const busy = await checkJson(["--config", file, "--no-network", "--port", takenPort]);
        assert.equal(busy.code, 1);
        assert.equal(status(busy.checks, "DIMSE port").status, "fail");
        assert.match(
          status(busy.checks, "DIMSE port").detail,
          new RegExp(`cannot listen on 127\\.0\\.0\\.1:${takenPort}: .*in use.*dimse\\.port \\(--port`, "i"),
        );
      } finally {
        taken.close();
      }
      // The HTTP API on the DIMSE port: the agent would find it taken by its own listener.
      const same = await checkJson(["--config", file, "--no-network", "--http-port", String(port)]);
      assert.equal(same.code, 1);
      assert.equal(
        status(same.checks, "HTTP port").detail,
        `127.0.0.1:${port} is also the DIMSE port: give each its own port (http.port (--http-port, CONDUIT_AGENT_HTTP_PORT))`,
      );
      // A free-space floor above what the disk has: every C-STORE would be refused.
      await Deno.writeTextFile(file, stringify({ ...fixed, archive: { minFreeMegabytes: 1e12 } }));
      const full = await checkJson(["--config", file, "--no-network"]);
      assert.equal(full.code, 1);
      assert.equal(status(full.checks, "free space").status, "fail");
      assert.match(status(full.checks, "free space").detail, /below it every C-STORE is refused \(0xA700/);
    } finally {
      await storescp.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(pki.dir, { recursive: true });
    }
  },
});

Deno.test("agent check: a wrong key or value in the configuration is exit code 2 with the agent's own message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-check-config-" });
  try {
    const file = path.join(dir, "agent.yaml");
    await Deno.writeTextFile(file, "dimse:\n  prot: 104\n");
    const data = ["--data", path.join(dir, "data"), "--http-port", "0", "--port", "0"];
    const check = await agentCli(["check", "--config", file, ...data]);
    const start = await agentCli(["--config", file, ...data]);
    assert.equal(check.code, 2, check.stdout + check.stderr);
    assert.equal(start.code, 2, start.stdout + start.stderr);
    assert.equal(check.stderr.trim(), start.stderr.trim());
    assert.match(check.stderr, /dimse\.prot: unknown key \(did you mean port\?\)/);
    assert.equal(check.stdout, "");
    // A flag's value, as the agent reads it; and an option of its own that is wrong.
    const badFlag = await agentCli(["check", "--port", "ninety"]);
    assert.equal(badFlag.code, 2);
    assert.equal(badFlag.stderr.trim(), (await agentCli(["--port", "ninety"])).stderr.trim());
    const unknown = await agentCli(["check", "--enroll", "x"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^agent check: Unknown option '--enroll'/);
    // Nothing was made.
    assert.equal(fs.existsSync(path.join(dir, "data")), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent check and start: an HTTP API beyond loopback (http.host 0.0.0.0) is warned of, on loopback it is not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-check-http-" });
  try {
    const data = ["--data", path.join(dir, "data"), "--port", "0", "--http-port", String(freePort())];
    const open = await checkJson([...data, "--http-host", "0.0.0.0"]);
    const line = status(open.checks, "HTTP port");
    assert.equal(line.status, "warn", line.detail);
    assert.match(
      line.detail,
      /can be bound, but http\.host 0\.0\.0\.0 is not loopback: the HTTP API has no auth/,
    );
    assert.equal(status((await checkJson(data)).checks, "HTTP port").status, "ok");
    // The running agent says it too, once, at start.
    const agent = await startAgentProcess({ config: { nodes: {} }, args: ["--http-host", "0.0.0.0"] });
    try {
      const warned = await eventually("the agent's warning", async () => {
        const lines = (await Deno.readTextFile(agent.logFile)).split("\n")
          .filter((l) => l.includes('"HTTP API listens beyond loopback"'));
        return lines.length ? lines : undefined;
      });
      assert.equal(warned.length, 1);
      assert.match(JSON.parse(warned[0]).reason, /0\.0\.0\.0 is not loopback/);
    } finally {
      await agent.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent check: a data directory held by a running agent is reported, its lock and ports left to it", async () => {
  const agent = await startAgentProcess({ config: { nodes: {} } });
  try {
    // Each flag once (a flag given twice is a usage error): the HTTP port is added per run.
    const base = [
      "--config",
      path.join(agent.dataDir, "agent.yaml"),
      "--data",
      agent.dataDir,
      "--host",
      "127.0.0.1",
      "--port",
      String(agent.port),
    ];
    const args = [...base, "--http-port", String(agent.httpPort)];
    const { code, checks } = await checkJson(args);
    assert.equal(code, 0, JSON.stringify([...checks.values()], null, 1));
    const lock = status(checks, "data directory lock");
    assert.equal(lock.status, "warn");
    assert.match(
      lock.detail,
      new RegExp(`^held by agent process ${agent.pid}: .*this check did not take the lock`),
    );
    for (const p of ["DIMSE port", "HTTP port"]) {
      assert.equal(status(checks, p).status, "ok", p);
      assert.match(
        status(checks, p).detail,
        new RegExp(`is held by the running agent of this data directory \\(process ${agent.pid}\\)`),
      );
    }
    // The agent still holds its directory and serves.
    assert.equal(Deno.readTextFileSync(path.join(agent.dataDir, "agent.pid")).trim(), String(agent.pid));
    assert.equal(await agent.http("/healthz").then(async (r) => (await r.body?.cancel(), r.status)), 200);
    // Another program on the HTTP port of an agent that does not listen there is a failure, not the agent's.
    const other = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
    try {
      const port = String((other.addr as Deno.NetAddr).port);
      const busy = await checkJson([...base, "--no-network", "--http-port", port]);
      assert.equal(busy.code, 1);
      assert.equal(status(busy.checks, "HTTP port").status, "fail");
    } finally {
      other.close();
    }
  } finally {
    await agent.stop();
  }
});

Deno.test("agent check: the hub reached, the credential accepted without replacing the running agent's session", async () => {
  const hub = await startTestHub();
  const agent = await startAgentProcess({ args: await siteArgs(hub, "north") });
  try {
    const session = await eventually("north online", () => hub.sessions.get("north"));
    const args = [
      "--config",
      path.join(agent.dataDir, "agent.yaml"),
      "--data",
      agent.dataDir,
      "--hub",
      hub.tunnelUrl,
    ];
    const { code, checks } = await checkJson([...args, "--port", "0", "--http-port", "0"]);
    assert.equal(code, 0, JSON.stringify([...checks.values()], null, 1));
    assert.equal(status(checks, "site credential").status, "ok");
    assert.match(status(checks, "site credential").detail, /^site north, enrolled /);
    const line = status(checks, `hub ${hub.tunnelUrl}`);
    assert.equal(line.status, "ok");
    assert.match(
      line.detail,
      /^reached \(ws:\/\/, no TLS\), hub \S+, the site credential is accepted \(no session opened\)$/,
    );
    // The agent's session is the one it had: the check opened none that would have replaced it.
    assert.equal(hub.sessions.get("north"), session);
    assert.ok(!hub.lines.some((l) => l.includes("replaces the site's previous one")));
    // A data directory not enrolled yet: the hub is reached and asks for a credential; a warning for that.
    const fresh = await Deno.makeTempDir({ prefix: "agent-check-fresh-" });
    try {
      const noCredential = ["--data", fresh, "--port", "0", "--http-port", "0"];
      const unenrolled = await checkJson([...noCredential, "--hub", hub.tunnelUrl]);
      assert.equal(unenrolled.code, 0, JSON.stringify([...unenrolled.checks.values()], null, 1));
      assert.equal(status(unenrolled.checks, "site credential").status, "warn");
      assert.match(status(unenrolled.checks, "site credential").detail, /agent enroll --token TOKEN/);
      assert.match(
        status(unenrolled.checks, `hub ${hub.tunnelUrl}`).detail,
        /its tunnel asks for a site credential, which this data directory has not got yet$/,
      );
      // A URL that is not the hub's tunnel: the agent's every connection would get a 404.
      const wrong = hub.tunnelUrl.replace(/\/tunnel$/, "/tunel");
      const typo = await checkJson([...noCredential, "--hub", wrong]);
      assert.equal(typo.code, 1);
      assert.match(
        status(typo.checks, `hub ${wrong}`).detail,
        /no tunnel at .*\/tunel \(HTTP \d+, (not found|a web page)\): check hub\.url/,
      );
    } finally {
      await Deno.remove(fresh, { recursive: true });
    }
    // Another site name than the credential's: the agent would not start its tunnel.
    const other = await checkJson([
      ...args,
      "--site",
      "south",
      "--port",
      "0",
      "--http-port",
      "0",
      "--no-network",
    ]);
    assert.equal(other.code, 1);
    assert.equal(
      status(other.checks, "site credential").detail,
      "the configured site south is not the enrolled site north; enroll again",
    );
    // Revoked: the hub refuses the credential.
    await hub.registry.revoke("north");
    const revoked = await checkJson([...args, "--port", "0", "--http-port", "0"]);
    assert.equal(revoked.code, 1);
    assert.equal(status(revoked.checks, `hub ${hub.tunnelUrl}`).status, "fail");
    assert.match(
      status(revoked.checks, `hub ${hub.tunnelUrl}`).detail,
      /the hub refuses the site credential/,
    );
  } finally {
    await agent.stop();
    await hub.stop();
  }
  // No hub there any more: a failure naming what to check.
  const gone = await checkJson([
    "--hub",
    hub.tunnelUrl,
    "--data",
    hub.dataDir,
    "--port",
    "0",
    "--http-port",
    "0",
  ]);
  assert.equal(gone.code, 1);
  assert.match(status(gone.checks, `hub ${hub.tunnelUrl}`).detail, /cannot reach .*is the hub running/);
  assert.equal(status(gone.checks, "site credential").status, "warn");
});

Deno.test({
  name:
    "agent check: a hub certificate made by openssl req -x509 (a CA's), trusted by hub.caFile, is named so",
  ignore: Boolean(skipReason("openssl")),
  fn: async () => {
    const pki = await makeTestPki([]);
    // The first certificate a site's IT makes for a test hub: self-signed, basicConstraints CA:TRUE.
    const hub = await startTestHub({ tls: { certFile: pki.rogue.cert, keyFile: pki.rogue.key } });
    const dir = await Deno.makeTempDir({ prefix: "agent-check-ca-leaf-" });
    try {
      const file = path.join(dir, "agent.yaml");
      await Deno.writeTextFile(file, stringify({ hub: { url: hub.tunnelUrl, caFile: pki.rogue.cert } }));
      const checked = await checkJson(["--config", file, "--data", path.join(dir, "data"), "--port", "0"]);
      assert.equal(checked.code, 1);
      assert.match(
        status(checked.checks, `hub ${hub.tunnelUrl}`).detail,
        /CaUsedAsEndEntity.* \(the hub's certificate is a CA's, .*basicConstraints=critical,CA:FALSE/,
      );
    } finally {
      await hub.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(pki.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "agent check: a wss:// hub is reached with hub.caFile, and refused without it",
  ignore: Boolean(skipReason("openssl")),
  fn: async () => {
    const pki = await makeTestPki(["hub"]);
    const hub = await startTestHub({ tls: { certFile: pki.parties.hub.cert, keyFile: pki.parties.hub.key } });
    const dir = await Deno.makeTempDir({ prefix: "agent-check-wss-" });
    try {
      const file = path.join(dir, "agent.yaml");
      await Deno.writeTextFile(file, stringify({ hub: { url: hub.tunnelUrl, caFile: pki.ca } }));
      const args = ["--data", path.join(dir, "data"), "--port", "0", "--http-port", "0"];
      const trusted = await checkJson(["--config", file, ...args]);
      assert.equal(trusted.code, 0, JSON.stringify([...trusted.checks.values()], null, 1));
      assert.match(
        status(trusted.checks, `hub ${hub.tunnelUrl}`).detail,
        /^reached over TLS, hub \S+, its tunnel asks for a site credential/,
      );
      // The test CA ends within 2 days.
      assert.equal(status(trusted.checks, "TLS hub.caFile").status, "warn");
      // Without the CA the handshake fails, as the agent's tunnel would.
      const untrusted = await checkJson(["--hub", hub.tunnelUrl, ...args]);
      assert.equal(untrusted.code, 1);
      assert.match(
        status(untrusted.checks, `hub ${hub.tunnelUrl}`).detail,
        /^cannot reach https:\/\/localhost:\d+\/healthz: .*UnknownIssuer.* \(the hub's certificate is not signed by a CA this machine trusts: set hub\.caFile/,
      );
      // Enrollment says the same (it gave only rustls's "invalid peer certificate: UnknownIssuer").
      const token = (await hub.registry.add("north")).enrollmentToken;
      const enroll = await agentCli([
        "enroll",
        "--token",
        token,
        "--hub",
        hub.tunnelUrl,
        ...args.slice(0, 2),
      ]);
      assert.equal(enroll.code, 1, enroll.stdout + enroll.stderr);
      assert.match(enroll.stderr, /not signed by a CA this machine trusts: set hub\.caFile/);
      // ws:// to this TLS hub: what to write instead, not hyper's "invalid HTTP version parsed" alone.
      const plainUrl = hub.tunnelUrl.replace(/^wss:/, "ws:");
      const plain = await checkJson(["--hub", plainUrl, ...args]);
      assert.equal(plain.code, 1);
      assert.match(
        status(plain.checks, `hub ${plainUrl}`).detail,
        /^cannot reach http:.*invalid HTTP version parsed \(the hub answers TLS at this address: use wss:\/\//,
      );
      const plainEnroll = await agentCli([
        "enroll",
        "--token",
        token,
        "--hub",
        plainUrl,
        ...args.slice(0, 2),
      ]);
      assert.equal(plainEnroll.code, 1, plainEnroll.stdout + plainEnroll.stderr);
      assert.match(plainEnroll.stderr, /the hub answers TLS at this address: use wss:\/\//);
    } finally {
      await hub.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(pki.dir, { recursive: true });
    }
  },
});
