/**
 * Renewing the hub's HTTPS certificate without a restart: a hub started with certificate A (a real agent
 * connected through wss), the files replaced by certificate B, SIGHUP: `openssl s_client` sees B, the
 * agent's tunnel comes back (the reload closes the tunnels opened before it: see hub/https_server.ts) and
 * works, `conduit_hub_tls_certificate_expiry_seconds` says B's notAfter. A pair that does not match, and a
 * certificate that has ended, are refused with the file and the reason, and B is kept.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { X509Certificate } from "node:crypto";
import { Logger } from "@conduit/shared/log";
import { onReloadSignal } from "@conduit/shared/process";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { freePort, scratchDir, toolPath } from "../support/peers.ts";
import {
  makeExpiredCert,
  makeTestPki,
  opensslNotAfter,
  type Party,
  servedCertificate,
} from "../support/pki.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

const skip = toolPath("openssl") ? false : "needs openssl";
if (skip) console.warn(`tls_reload_test: skipped: ${skip}`);

type Line = Record<string, unknown>;

const RELOADED = "TLS certificate reloaded: new connections get it, agents' tunnels reconnect";

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** How many sockets listen on TCP `port` (`ss`). */
async function listeners(port: number): Promise<number> {
  const out = await new Deno.Command("ss", { args: ["-Hltn", `sport = :${port}`] }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes("LISTEN")).length;
}

Deno.test({
  name: "hub: SIGHUP serves renewed HTTPS files, the agent's tunnel comes back, a bad pair keeps the old one",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Two CAs, so that A and B end on different days; the agent trusts both.
    const a = (await makeTestPki(["localhost"], { days: 2 })).parties.localhost;
    const pkiB = await makeTestPki(["localhost"], { days: 5 });
    const b = pkiB.parties.localhost;
    const dir = await scratchDir("conduit-tls-reload-");
    const certFile = path.join(dir, "hub.pem");
    const keyFile = path.join(dir, "hub.key");
    const caFile = path.join(dir, "cas.pem");
    await Deno.writeTextFile(
      caFile,
      (await Deno.readTextFile(path.join(path.dirname(a.cert), "ca.pem"))) + await Deno.readTextFile(pkiB.ca),
    );
    const install = async (cert: string, key: string) => {
      await Deno.copyFile(cert, certFile);
      await Deno.copyFile(key, keyFile);
    };
    await install(a.cert, a.key);

    const metricsPort = freePort();
    const hub = await startTestHub({ tls: { certFile, keyFile }, metricsPort });
    const signalLines: string[] = [];
    const stopReloads = onReloadSignal(
      new Logger({ app: "hub" }, "debug", { write: (l) => signalLines.push(l) }),
      "hub",
      () => hub.reloadTls(),
    );
    const lines = () => hub.lines.map((l) => JSON.parse(l) as Line).filter((l) => l.part === "tls");
    const served = async () => {
      const pem = await servedCertificate(hub.port);
      return pem && fingerprint(pem);
    };
    const httpsExpiry = async () =>
      value(
        parsePrometheus(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()),
        "conduit_hub_tls_certificate_expiry_seconds",
        { certificate: "https" },
      );
    const fileOf = async (p: Party) => fingerprint(await Deno.readTextFile(p.cert));
    let agent: AgentProcess | undefined;
    try {
      agent = await startAgentProcess({ config: { hub: { caFile } }, args: await siteArgs(hub, "north") });
      const first = await eventually("north online over wss", () => hub.sessions.get("north"));
      assert.ok(await first.session.ping(5000) >= 0);
      assert.equal(await served(), await fileOf(a));
      assert.equal(await httpsExpiry(), await opensslNotAfter(a.cert));

      // Renewed: B in place of A, then SIGHUP.
      await install(b.cert, b.key);
      Deno.kill(Deno.pid, "SIGHUP");
      await eventually(
        "the reload logged",
        () => lines().find((l) => l.msg === RELOADED),
      );
      assert.ok(signalLines.some((l) => JSON.parse(l).msg === "hub reloading"));
      assert.equal(await served(), await fileOf(b));
      assert.equal(await httpsExpiry(), await opensslNotAfter(b.cert));
      // The tunnel opened on A was closed by the reload; the agent is back, on B, and the link works.
      const second = await eventually("north back online", () => {
        const s = hub.sessions.get("north");
        return s && s !== first ? s : undefined;
      });
      assert.ok(await second.session.ping(5000) >= 0);

      // B's certificate with A's key: refused, B kept.
      await Deno.copyFile(a.key, keyFile);
      Deno.kill(Deno.pid, "SIGHUP");
      const mismatch = await eventually("the refusal logged", () => lines().find((l) => l.level === "error"));
      assert.equal(mismatch.msg, "TLS certificate not reloaded: the hub keeps serving the one it had");
      assert.equal(mismatch.reason, `tls.keyFile: ${keyFile} is not the key of ${certFile}`);
      // An ended certificate (a valid pair): refused too.
      const expired = await makeExpiredCert(dir);
      await install(expired.cert, expired.key);
      Deno.kill(Deno.pid, "SIGHUP");
      const ended = await eventually(
        "the second refusal logged",
        () => lines().filter((l) => l.level === "error")[1],
      );
      assert.equal(ended.reason, `tls.certFile: ${certFile}: expired on 2020-01-01`);
      // Files that are no certificate at all: each refused with the file and why, B kept.
      const refusals = () => lines().filter((l) => l.level === "error").map((l) => l.reason);
      const broken: [string, () => Promise<void>][] = [
        [
          `tls.certFile: ${certFile} is not a PEM certificate`,
          () => Deno.writeTextFile(certFile, "garbage\n"),
        ],
        [`tls.certFile: ${certFile} is not a PEM certificate`, () => Deno.writeTextFile(certFile, "")],
        [`tls.certFile: cannot read ${certFile}: no such file`, () => Deno.remove(certFile)],
        [`tls.certFile: cannot read ${certFile}: a directory, not a file`, () => Deno.mkdir(certFile)],
      ];
      for (const [reason, breakIt] of broken) {
        const before = refusals().length;
        await breakIt();
        Deno.kill(Deno.pid, "SIGHUP");
        assert.equal(await eventually(reason, () => refusals()[before]), reason);
      }
      await Deno.remove(certFile);
      assert.equal(await served(), await fileOf(b));
      assert.equal(await httpsExpiry(), await opensslNotAfter(b.cert));
      assert.equal(hub.sessions.get("north"), second, "a refused reload leaves the tunnels alone");
      // A storm of reloads, each with the other valid pair (A, B, A...): each one replaces the server (the
      // same pair again would leave it as it is); one listener stays.
      const replaced = () => lines().filter((l) => l.msg === RELOADED).length;
      const before = replaced();
      for (let i = 0; i < 20; i++) {
        const p = i % 2 ? b : a;
        await install(p.cert, p.key);
        assert.equal(hub.reloadTls(), true);
      }
      assert.equal(replaced() - before, 20, "each reload of the storm replaced the server");
      assert.equal(await served(), await fileOf(b));
      // Then SIGHUPs close together, with A in place: it is served (the kernel may merge the signals).
      await install(a.cert, a.key);
      for (let i = 0; i < 20; i++) Deno.kill(Deno.pid, "SIGHUP");
      await eventually("A served after the SIGHUPs", async () => (await served()) === await fileOf(a));
      await eventually("one listener on the hub's port", async () => (await listeners(hub.port)) === 1);
      await eventually("north back after the storm", () => hub.sessions.get("north"));
      // No key material in the log.
      assert.doesNotMatch(hub.lines.join("\n"), /PRIVATE KEY|BEGIN/);
    } finally {
      stopReloads();
      await agent?.stop();
      await hub.stop();
    }
  },
});
