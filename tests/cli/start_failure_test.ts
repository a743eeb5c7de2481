/**
 * A program that cannot start says why and ends with a non-zero exit code, so that a supervisor
 * (systemd's `Restart=on-failure`, a container runtime) sees it failed: the hub and the agent with their
 * listening port taken by another process.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { X509Certificate } from "node:crypto";
import { x509Version } from "@conduit/shared/tls";
import { DENO_RUN_FLAGS, freePort } from "../support/processes.ts";
import { makeVersion1Cert } from "../support/pki.ts";
import { withoutDenoNotices } from "../support/deno_notices.ts";
import { startHubProcess } from "../support/hub.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

async function run(main: string, args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...DENO_RUN_FLAGS, "--frozen", path.join(ROOT, main), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  // Every start logs its build first ("hub starting", "agent starting"), before anything can fail; what is
  // compared here is what follows it.
  const out = (new TextDecoder().decode(o.stdout) + withoutDenoNotices(new TextDecoder().decode(o.stderr)))
    .split("\n")
    .filter((line) => !/"msg":"(hub|agent) starting"/.test(line)).join("\n");
  return { code: o.code, out };
}

Deno.test("the hub with its port in use ends with exit code 1 and the reason", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const data = await Deno.makeTempDir({ prefix: "hub-port-taken-" });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const { code, out } = await run("hub/main.ts", ["--host", "127.0.0.1", "--port", port, "--data", data]);
    assert.equal(code, 1, out);
    assert.match(out, /"msg":"hub failed".*in use/i);
    // Which of its ports: the main one or /metrics' (it said only "Address already in use").
    assert.match(out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*in use`, "i"));
    // And what to do: it gave only the system's reason.
    assert.ok(
      out.includes(
        "(another program listens there, perhaps this one already running: stop it, or choose another port " +
          "with port (--port, CONDUIT_HUB_PORT))",
      ),
      out,
    );
    const metrics = await run("hub/main.ts", ["--port", "0", "--metrics-port", port, "--data", data]);
    assert.equal(metrics.code, 1, metrics.out);
    assert.match(
      metrics.out,
      new RegExp(`cannot listen for /metrics on 127\\.0\\.0\\.1:${port}: .*in use`, "i"),
    );
    assert.ok(metrics.out.includes("choose another port with metrics.port (--metrics-port))"), metrics.out);
  } finally {
    taken.close();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("a second hub on the data directory of a running one ends with exit code 1 and names the first", async () => {
  const data = await Deno.makeTempDir({ prefix: "hub-dir-taken-" });
  const first = await startHubProcess({ dataDir: data });
  try {
    // Until 2026-12-07 the second one started, and marked every site of the first one's database offline.
    const { code, out } = await run("hub/main.ts", ["--port", "0", "--data", data]);
    assert.equal(code, 1, out);
    assert.match(
      out,
      new RegExp(`hub: data directory .* is in use by another hub \\(process ${first.pid}\\)`),
      out,
    );
    assert.doesNotMatch(out, /"msg":"hub started"/, out);
  } finally {
    await first.stop();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("the hub with a TLS file it cannot use names the key and the file, exit code 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hub-tls-files-" });
  try {
    const garbage = path.join(dir, "garbage.pem");
    await Deno.writeTextFile(garbage, "not a certificate\n");
    const start = async (certFile: string, keyFile: string) => {
      const config = path.join(dir, "hub.yaml");
      await Deno.writeTextFile(config, `tls: { certFile: ${certFile}, keyFile: ${keyFile} }\n`);
      return await run("hub/main.ts", ["--config", config, "--port", "0", "--data", path.join(dir, "data")]);
    };
    // It said "No such file or directory (os error 2): readfile ..." or "No certificates found in
    // certificate data", logged as "hub failed" with exit code 1, after opening its database.
    const missing = await start(path.join(dir, "nope.pem"), garbage);
    assert.equal(missing.code, 2, missing.out);
    assert.equal(
      missing.out.trim(),
      `hub: tls.certFile: cannot read ${path.join(dir, "nope.pem")}: no such file`,
    );
    const notPem = await start(garbage, garbage);
    assert.equal(notPem.code, 2, notPem.out);
    assert.equal(notPem.out.trim(), `hub: tls.certFile: ${garbage} is not a PEM certificate`);
    // A version 1 certificate (what `openssl x509 -req` makes without -extfile): it said "cannot listen on
    // 0.0.0.0:0: invalid peer certificate: Other(OtherError(UnsupportedCertVersion))", exit code 1.
    const { cert: v1, key } = await makeVersion1Cert(dir);
    assert.equal(x509Version(new X509Certificate(await Deno.readTextFile(v1))), 1);
    const old = await start(v1, key);
    assert.equal(old.code, 2, old.out);
    assert.equal(
      old.out.trim(),
      `hub: tls.certFile: ${v1} is an X.509 version 1 certificate, which the hub's TLS (rustls) does not take: ` +
        "issue a version 3 one, with subjectAltName naming the hub's host names",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the hub with a clusterCaFile it cannot use names the key and the file, exit code 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hub-cluster-ca-" });
  try {
    const garbage = path.join(dir, "garbage.pem");
    await Deno.writeTextFile(garbage, "not a certificate\n");
    const start = (file: string) =>
      run("hub/main.ts", ["--cluster-ca-file", file, "--port", "0", "--data", path.join(dir, "data")]);
    const missing = await start(path.join(dir, "nope.pem"));
    assert.equal(missing.code, 2, missing.out);
    assert.equal(
      missing.out.trim(),
      `hub: clusterCaFile: cannot read ${path.join(dir, "nope.pem")}: no such file`,
    );
    const notPem = await start(garbage);
    assert.equal(notPem.code, 2, notPem.out);
    assert.equal(notPem.out.trim(), `hub: clusterCaFile: ${garbage} is not a PEM certificate`);
    // Nothing opened: the database was not created.
    assert.equal(await Deno.stat(path.join(dir, "data", "hub.db")).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the agent with its DICOM port in use ends with exit code 1 and the reason", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const data = await Deno.makeTempDir({ prefix: "agent-port-taken-" });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const args = ["--host", "127.0.0.1", "--port", port, "--http-port", String(freePort()), "--data", data];
    const { code, out } = await run("agent/main.ts", args);
    assert.equal(code, 1, out);
    assert.match(out, /in use/i);
    assert.ok(out.includes("choose another port with dimse.port (--port, CONDUIT_AGENT_PORT))"), out);
    const http = await run("agent/main.ts", ["--port", "0", "--http-port", port, "--data", data]);
    assert.equal(http.code, 1, http.out);
    assert.match(http.out, new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: .*in use`, "i"));
    assert.ok(
      http.out.includes("choose another port with http.port (--http-port, CONDUIT_AGENT_HTTP_PORT))"),
      http.out,
    );
  } finally {
    taken.close();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("the agent with a hub.caFile it cannot use names the key and the file, exit code 2, enrolling or not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-hub-ca-" });
  try {
    const garbage = path.join(dir, "garbage.pem");
    await Deno.writeTextFile(garbage, "not a certificate\n");
    const missing = path.join(dir, "nope.pem");
    const start = async (caFile: string, extra: string[] = []) => {
      const config = path.join(dir, "agent.yaml");
      await Deno.writeTextFile(config, `hub: { url: "wss://127.0.0.1:9/tunnel", caFile: ${caFile} }\n`);
      const args = ["--config", config, "--port", "0", "--http-port", "0", "--data", path.join(dir, "data")];
      return await run("agent/main.ts", [...args, ...extra]);
    };
    // It started, and read the file only once enrolled: a raw ENOENT, or a CA that was not one failing
    // every connection to the hub; `--enroll` logged `"msg":"failed"` with the ENOENT.
    const absent = await start(missing);
    assert.equal(absent.code, 2, absent.out);
    assert.equal(absent.out.trim(), `hub.caFile: cannot read ${missing}: no such file`);
    const notPem = await start(garbage);
    assert.equal(notPem.code, 2, notPem.out);
    assert.equal(notPem.out.trim(), `hub.caFile: ${garbage} is not a PEM certificate`);
    const enrolling = await start(missing, ["--enroll", "cte.north.secret"]);
    assert.equal(enrolling.code, 2, enrolling.out);
    assert.equal(
      enrolling.out.trim(),
      `hub.caFile: cannot read ${missing}: no such file; nothing was changed`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the agent and the hub with a data directory they cannot use name it and the setting, exit code 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data-dir-unusable-" });
  try {
    const file = path.join(dir, "a-file");
    await Deno.writeTextFile(file, "not a directory\n");
    // It said only "EEXIST: file already exists, mkdir '...'" (or ENOTDIR, ENOENT), naming no setting.
    const cases: [string, string][] = [
      [file, "it is a file, not a directory"],
      [path.join(file, "sub"), "a part of its path is a file, not a directory"],
    ];
    for (const [data, why] of cases) {
      const agent = await run("agent/main.ts", ["--port", "0", "--http-port", "0", "--data", data]);
      assert.equal(agent.code, 1, agent.out);
      assert.match(agent.out, /"msg":"agent failed to start"/);
      assert.ok(
        agent.out.includes(
          `cannot use the data directory ${data}: ${why}; set data (--data, CONDUIT_AGENT_DATA) to a directory ` +
            "this user can create or write",
        ),
        agent.out,
      );
      const hub = await run("hub/main.ts", ["--port", "0", "--data", data]);
      assert.equal(hub.code, 1, hub.out);
      assert.ok(
        hub.out.includes(
          `cannot use the data directory ${data}: ${why}; set data (--data, CONDUIT_HUB_DATA)`,
        ),
        hub.out,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the hub and its admin with a PostgreSQL that does not answer name the database (password hidden), exit code 1", async () => {
  const data = await Deno.makeTempDir({ prefix: "hub-pg-down-" });
  try {
    const port = freePort(); // nothing listens there
    const db = `postgres://conduit:secret@127.0.0.1:${port}/conduit`;
    // It logged "hub failed" with "connect ECONNREFUSED 127.0.0.1:PORT" alone, naming no database.
    const expected = `cannot reach the database postgres://conduit:***@127.0.0.1:${port}/conduit: connect ` +
      `ECONNREFUSED 127.0.0.1:${port} (is PostgreSQL running there, and are the host, port, user, password and ` +
      "database of --db (or db, CONDUIT_HUB_DB) right?)";
    const hub = await run("hub/main.ts", ["--port", "0", "--data", path.join(data, "hub"), "--db", db]);
    assert.equal(hub.code, 1, hub.out);
    assert.equal(hub.out.trim(), `hub: ${expected}`);
    // Nothing made: not even the data directory (./data/hub, without --data, in the directory it ran in).
    assert.equal(await Deno.stat(path.join(data, "hub")).then(() => true, () => false), false);
    const admin = await run("hub/main.ts", ["admin", "site", "list", "--db", db]);
    assert.equal(admin.code, 1, admin.out);
    assert.equal(admin.out.trim(), `hub admin: ${expected}`);
    assert.ok(!hub.out.includes("secret") && !admin.out.includes("secret"));
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
