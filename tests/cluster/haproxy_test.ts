/**
 * Two hubs on one PostgreSQL behind HAProxy configured as deploy/examples/cluster/haproxy.cfg ships (ports,
 * certificate and log lines replaced; a stats socket added to read the servers' states). A console session
 * asked through the proxy, sequentially, while one hub stops: every answer is 200, also in the seconds
 * before HAProxy's checks mark the hub down (without `option redispatch` a request sent to the stopped hub
 * was retried on it alone and answered 503 after 3 s). Then a rolling restart as operations.md says: the
 * stopped hub started again and back in rotation before the other stops; again every answer is 200.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { skipReason, spawnLogged, toolPath, waitReady } from "../support/peers.ts";
import { acceptsTcp, onFreePorts } from "../support/processes.ts";
import { eventually, hubAdmin, startTestHub, type TestHub } from "../support/hub.ts";
import { makeTestPki } from "../support/pki.ts";
import { postgresMissing } from "../support/postgres.ts";
import { clusterTest, twoHubs } from "./_two_hubs.ts";

const skip = postgresMissing() ?? skipReason("haproxy", "openssl");
if (skip) console.warn(`cluster/haproxy_test: skipped: ${skip}`);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** deploy/examples/cluster/haproxy.cfg as shipped, on this machine's ports and files. */
async function exampleConfig(port: number, hubs: number[], pem: string, socket: string) {
  const shipped = await Deno.readTextFile(path.join(ROOT, "deploy/examples/cluster/haproxy.cfg"));
  const cfg = shipped
    .replace("bind :443", `bind 127.0.0.1:${port}`)
    .replace("server hub-a 10.0.0.11:8080", `server hub-a 127.0.0.1:${hubs[0]}`)
    .replace("server hub-b 10.0.0.12:8080", `server hub-b 127.0.0.1:${hubs[1]}`)
    .replace("/etc/haproxy/hub.example.org.pem", pem)
    .replace(/^\s*log \/dev\/log.*$/m, `    stats socket ${socket} level admin`) // no syslog here
    .replace(/^\s*log global$/m, "")
    .replace(/maxconn \d+/, "maxconn 1000"); // a test process may open fewer files than a server
  assert.doesNotMatch(cfg, /^\s*bind :/m, "every port of the example replaced");
  assert.doesNotMatch(cfg, /10\.0\.0\./, "every hub of the example replaced");
  assert.doesNotMatch(cfg, /^[^#]*\/etc\//m, "every file of the example replaced");
  return cfg;
}

/** Whether HAProxy has each server in rotation (`show servers state`: srv_op_state 2 is running). */
async function serversUp(socket: string): Promise<Record<string, boolean>> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(new TextEncoder().encode("show servers state hubs\n"));
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) text += new TextDecoder().decode(buf.subarray(0, n));
    const up: Record<string, boolean> = {};
    for (const line of text.split("\n")) {
      const f = line.split(" ");
      if (f[1] === "hubs") up[f[3]] = f[5] === "2";
    }
    return up;
  } finally {
    conn.close();
  }
}

clusterTest(
  "haproxy.cfg of the cluster example: a hub stopping costs its clients no error",
  skip,
  async (pg, stops) => {
    const { db, ports, hubs } = await twoHubs(pg, "haproxy", stops);
    const pki = await makeTestPki(["localhost"]);
    const pem = path.join(pki.dir, "proxy.pem");
    await Deno.writeTextFile(
      pem,
      (await Deno.readTextFile(pki.parties.localhost.cert)) +
        (await Deno.readTextFile(pki.parties.localhost.key)),
    );
    const socket = path.join(pki.dir, "admin.sock");
    const cfg = path.join(pki.dir, "haproxy.cfg");
    const proxy = await onFreePorts(["haproxy"], [undefined], async ([port]) => {
      await Deno.writeTextFile(cfg, await exampleConfig(port, [...ports], pem, socket));
      const p = await spawnLogged("haproxy", toolPath("haproxy")!, ["-db", "-f", cfg]);
      await waitReady(p, "haproxy", () => acceptsTcp(port), 20_000, [port]);
      return Object.assign(p, { port });
    });
    stops.push(() => proxy.stop());
    const up = () => serversUp(socket);
    await eventually("both hubs in rotation", async () => Object.values(await up()).join() === "true,true");

    const user = await hubAdmin(hubs[0].dataDir, ["user", "add", "ann", "--role", "viewer", "--json"]);
    assert.equal(user.code, 0, user.stderr);
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
    stops.push(() => Promise.resolve(client.close()));
    const base = `https://localhost:${proxy.port}`;
    const login = await fetch(`${base}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "ann", password: user.json!.password }),
      client,
    });
    assert.equal(login.status, 200);
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    const me = async () => {
      const r = await fetch(`${base}/auth/me`, { headers: { cookie }, client });
      await r.body?.cancel();
      return r.status;
    };

    /** Stops `hub`, asking through the proxy until HAProxy has taken it out: every answer. */
    const askedWhileStopping = async (hub: TestHub, name: string) => {
      await hub.stop();
      const answers: number[] = [];
      await eventually(`${name} out of rotation`, async () => {
        answers.push(await me());
        return (await up())[name] === false;
      }, 20_000);
      return answers;
    };
    const first = await askedWhileStopping(hubs[1], "hub-b");
    assert.deepEqual(first.filter((s) => s !== 200), [], `answers while hub-b stopped: ${first.join(" ")}`);
    // How many asks fall before HAProxy takes it out depends on the machine's speed (a loaded CI machine once
    // stopped the hub slower than HAProxy's checks: one ask); every one must be answered, however many.
    assert.ok(first.length >= 1, `asked ${first.length} times before hub-b was out`);

    // Rolling restart (operations.md): hub-b again, its /healthz 200 and back in rotation, then hub-a stops.
    const b = await startTestHub({
      db,
      port: ports[1],
      clusterUrl: `http://127.0.0.1:${ports[1]}`,
      dataDir: hubs[1].dataDir,
    });
    stops.push(() => b.stop());
    assert.equal((await fetch(`http://127.0.0.1:${ports[1]}/healthz`).then((r) => r.json())).status, "ok");
    await eventually("hub-b back in rotation", async () => (await up())["hub-b"] === true);
    const second = await askedWhileStopping(hubs[0], "hub-a");
    assert.deepEqual(
      second.filter((s) => s !== 200),
      [],
      `answers while hub-a stopped: ${second.join(" ")}`,
    );
  },
);
