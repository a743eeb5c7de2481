/**
 * Certificates that end, seen before they break a site: the agent and the hub, started with real certificates
 * made by `openssl` (ending in 10 days, and one that ended in 2020), expose
 * `conduit_*_tls_certificate_expiry_seconds` (notAfter, as `openssl x509 -enddate` reads it) labelled by which
 * certificate it is, log a warning for one ending within 30 days and an error for one ended (the setting, the
 * file, the date and the days left; no subject), and start all the same: an agent whose DICOM over TLS
 * certificate ended still answers plain DICOM while TLS clients refuse its handshake; a hub whose HTTPS
 * certificate ended starts and clients refuse it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  certificateExpiry,
  certificatesOf,
  EXPIRY_WARN_DAYS,
  logCertificateExpiries,
  pemValidity,
  watchCertificateExpiries,
  x509Version,
} from "@conduit/shared/tls";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { freePort, runDcmtk, scratchDir, skipReason, toolPath } from "../support/peers.ts";
import { makeExpiredCert, makeTestPki, opensslNotAfter } from "../support/pki.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

const skip = skipReason("echoscu") || (toolPath("openssl") ? false : "needs openssl");
if (skip) console.warn(`certificate_expiry_test: skipped: ${skip}`);

/** 2020-01-01T00:00:00Z, when makeExpiredCert's certificate ended. */
const EXPIRED_AT = Date.UTC(2020, 0, 1) / 1000;

type Line = Record<string, unknown>;
const parseLines = (text: string): Line[] =>
  text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);

/** The start's line about the file of `setting`, with exactly the fields it should carry. */
function expiryLine(lines: Line[], setting: string): Line {
  const found = lines.filter((l) => l.setting === setting && l.part === "tls");
  assert.equal(
    found.length,
    1,
    `one line for ${setting}: ${JSON.stringify(lines.filter((l) => l.part === "tls"))}`,
  );
  const { t: _t, app: _app, site: _site, part: _part, ...rest } = found[0];
  assert.deepEqual(
    Object.keys(rest).sort(),
    ["daysLeft", "detail", "file", "level", "msg", "notAfter", "setting"],
    `no field but these: ${JSON.stringify(found[0])}`,
  );
  return found[0];
}

Deno.test("pemValidity: a chain by its first end; a CA file by the first end among its valid certificates", async () => {
  const pki = await makeTestPki([], { days: 10 });
  const expired = await makeExpiredCert(pki.dir);
  const ca = await Deno.readTextFile(pki.ca);
  const old = await Deno.readTextFile(expired.cert);
  const caEnd = await opensslNotAfter(pki.ca) * 1000;
  const now = Date.now();
  // One certificate ending in 10 days: a warning.
  const soon = pemValidity(ca, "ca", now);
  assert.equal(soon.status, "warn");
  assert.equal(soon.notAfter, caEnd);
  assert.match(soon.text, /^expires on \d{4}-\d\d-\d\d, in 9 days$/);
  // A CA bundle with an ended CA beside a valid one: a warning, dated by the valid one.
  const bundle = pemValidity(old + ca, "ca", now);
  assert.equal(bundle.status, "warn");
  assert.equal(bundle.notAfter, caEnd);
  assert.match(bundle.text, /^2 of 2 certificates: expired on 2020-01-01; expires on .*, in 9 days$/);
  // Every CA of the bundle ended: a failure, dated by the last to end.
  const none = pemValidity(old + old, "ca", now);
  assert.equal(none.status, "fail");
  assert.equal(none.notAfter, EXPIRED_AT * 1000);
  // A certificate whose chain holds an ended certificate: failed, dated by the first end.
  const chain = pemValidity(ca + old, "certificate", now);
  assert.deepEqual(chain, { status: "fail", text: "expired on 2020-01-01", notAfter: EXPIRED_AT * 1000 });
  assert.equal(certificatesOf(ca + old).length, 2);
  // Both version 3 (openssl req -x509 and makeExpiredCert's extensions).
  assert.deepEqual(certificatesOf(ca + old).map(x509Version), [3, 3]);
  // Far from its end: nothing logged; within 30 days, a warning.
  const later = await makeTestPki([], { days: EXPIRY_WARN_DAYS + 2 });
  const lines: string[] = [];
  const log = {
    warn: (msg: string) => lines.push(`warn ${msg}`),
    error: (msg: string) => lines.push(`error ${msg}`),
  };
  const valid = pemValidity(await Deno.readTextFile(later.ca), "ca", Date.now());
  assert.equal(valid.status, "ok");
  logCertificateExpiries(log, [{ key: "k", file: later.ca, validity: valid }], now);
  logCertificateExpiries(log, [{ key: "k", file: pki.ca, validity: soon }], now);
  assert.deepEqual(lines, ["warn TLS certificate ends soon: renew it"]);
});

Deno.test("watchCertificateExpiries: what was loaded judged again while running, so a certificate coming near its end is logged then", async () => {
  const pki = await makeTestPki([], { days: EXPIRY_WARN_DAYS + 2 });
  const text = await Deno.readTextFile(pki.ca);
  const loaded = certificateExpiry("hub-ca", "hub.caFile", pki.ca, text, "ca", Date.now());
  assert.equal(loaded.validity.status, "ok", "nothing to say at start");
  const lines: Record<string, unknown>[] = [];
  const sink = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push({ level, msg, ...fields });
  const log = { warn: sink("warn"), error: sink("error") };
  // Days later (the clock moved on: 5 days, then past its end), the same text judged anew.
  let clock = Date.now() + 5 * 86_400_000;
  const stop = watchCertificateExpiries(log, [loaded], 5, () => clock);
  try {
    await eventually("the warning of a certificate now within 30 days", () => lines.length > 0);
    assert.equal(lines[0].level, "warn");
    assert.equal(lines[0].setting, "hub.caFile");
    assert.equal(lines[0].daysLeft, EXPIRY_WARN_DAYS + 2 - 5 - 1);
    clock += (EXPIRY_WARN_DAYS + 2) * 86_400_000;
    await eventually("the error once it ended", () => lines.some((l) => l.level === "error"));
    assert.match(String(lines.find((l) => l.level === "error")!.detail), /^expired on /);
  } finally {
    stop(); // the sanitizer fails the test if the timer were left
  }
  // Nothing loaded: no timer at all.
  watchCertificateExpiries(log, [])();
});

Deno.test({
  name:
    "agent: certificates ending in 10 days and one ended: the gauge says when each ends, the start warns and errs, and the agent serves",
  ignore: Boolean(skip),
  fn: async () => {
    const pki = await makeTestPki(["north", "pacs"], { days: 10 });
    const expired = await makeExpiredCert(pki.dir);
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      config: {
        dimse: {
          // The SCP's certificate ended in 2020: the agent starts, TLS clients refuse its handshake.
          tls: { port: tlsPort, cert: expired.cert, key: expired.key, ca: pki.ca, requireClientCert: true },
        },
        hub: { caFile: pki.ca, clientCertFile: pki.parties.north.cert, clientKeyFile: pki.parties.north.key },
        nodes: {
          pacs: {
            aet: "PACS",
            host: "127.0.0.1",
            port: freePort(),
            tls: { ca: pki.ca, cert: pki.parties.pacs.cert, key: pki.parties.pacs.key },
          },
          // No file of its own: no series.
          system: { aet: "SYSTEM", host: "127.0.0.1", port: freePort(), tls: true },
          plain: { aet: "PLAIN", host: "127.0.0.1", port: freePort() },
        },
      },
    });
    try {
      const metrics = parsePrometheus(await (await agent.http("/metrics")).text());
      const series = metrics.get("conduit_agent_tls_certificate_expiry_seconds")!.samples
        .map((s) => [s.labels.certificate, s.value]).sort();
      const caEnd = await opensslNotAfter(pki.ca);
      assert.deepEqual(series, [
        ["dimse", EXPIRED_AT],
        ["dimse-ca", caEnd],
        ["hub-ca", caEnd],
        ["hub-client", await opensslNotAfter(pki.parties.north.cert)],
        ["node-ca:pacs", caEnd],
        ["node:pacs", await opensslNotAfter(pki.parties.pacs.cert)],
      ]);
      assert.equal(
        value(metrics, "conduit_agent_tls_certificate_expiry_seconds", { certificate: "hub-client" }),
        await opensslNotAfter(pki.parties.north.cert),
      );

      const lines = parseLines(await Deno.readTextFile(agent.logFile));
      for (
        const [setting, file] of [
          ["hub.clientCertFile", pki.parties.north.cert],
          ["hub.caFile", pki.ca],
          ["dimse.tls.ca", pki.ca],
          ["nodes.pacs.tls.cert", pki.parties.pacs.cert],
          ["nodes.pacs.tls.ca", pki.ca],
        ]
      ) {
        const l = expiryLine(lines, setting);
        assert.equal(l.level, "warn", setting);
        assert.equal(l.file, file);
        assert.equal(l.daysLeft, 9, setting); // made 10 days before its end, a moment before the start
        assert.equal(l.notAfter, new Date((await opensslNotAfter(file)) * 1000).toISOString());
        assert.match(String(l.detail), /^expires on \d{4}-\d\d-\d\d, in 9 days$/);
      }
      const ended = expiryLine(lines, "dimse.tls.cert");
      assert.equal(ended.level, "error");
      assert.equal(ended.file, expired.cert);
      assert.equal(ended.notAfter, "2020-01-01T00:00:00.000Z");
      assert.equal(ended.detail, "expired on 2020-01-01");
      assert.ok(Number(ended.daysLeft) < -2000);
      // No subject in the log: the certificates' common names are the parties' names.
      const log = await Deno.readTextFile(agent.logFile);
      assert.doesNotMatch(log, /CN=|subject|serial/i);

      // Started all the same: plain DICOM answers; a TLS client refuses the ended certificate.
      const echo = await runDcmtk("echoscu", ["-aec", agent.aet, "127.0.0.1", String(agent.port)]);
      assert.equal(echo.code, 0, `echoscu: ${echo.stdout}${echo.stderr}`);
      const tls = await runDcmtk("echoscu", [
        "+tls",
        pki.parties.north.key,
        pki.parties.north.cert,
        "+cf",
        expired.cert,
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(tlsPort),
      ], { timeoutMs: 30_000 });
      assert.notEqual(tls.code, 0, "echoscu +tls accepted an ended certificate");
      assert.match(`${tls.stdout}${tls.stderr}`, /certificate verify failed/);
      // For that reason: openssl's client says why it refused.
      const why = await new Deno.Command("openssl", {
        args: [
          "s_client",
          "-connect",
          `127.0.0.1:${tlsPort}`,
          "-CAfile",
          expired.cert,
          "-cert",
          pki.parties.north.cert,
          "-key",
          pki.parties.north.key,
          "-verify_return_error",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(why.stdout) + new TextDecoder().decode(why.stderr);
      assert.match(said, /certificate has expired/, said);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "hub: an HTTPS certificate ending in 10 days and a cluster CA ended: the gauge, the warning and the error",
  ignore: Boolean(skip),
  fn: async () => {
    const pki = await makeTestPki(["localhost"], { days: 10 });
    const expired = await makeExpiredCert(pki.dir);
    const metricsPort = freePort();
    const hub = await startTestHub({
      tls: { certFile: pki.parties.localhost.cert, keyFile: pki.parties.localhost.key },
      clusterCaFile: expired.cert,
      metricsPort,
    });
    try {
      const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
      const series = metrics.get("conduit_hub_tls_certificate_expiry_seconds")!.samples
        .map((s) => [s.labels.certificate, s.value]).sort();
      assert.deepEqual(series, [
        ["cluster-ca", EXPIRED_AT],
        ["https", await opensslNotAfter(pki.parties.localhost.cert)],
      ]);
      const lines = hub.lines.map((l) => JSON.parse(l) as Line);
      const soon = expiryLine(lines, "tls.certFile");
      assert.equal(soon.level, "warn");
      assert.equal(soon.file, pki.parties.localhost.cert);
      assert.equal(soon.daysLeft, 9);
      const ended = expiryLine(lines, "clusterCaFile");
      assert.equal(ended.level, "error");
      assert.equal(ended.detail, "expired on 2020-01-01");
      // The hub serves HTTPS with it.
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
      try {
        const r = await fetch(`https://localhost:${hub.port}/healthz`, { client });
        await r.body?.cancel();
        assert.equal(r.status, 200);
      } finally {
        client.close();
      }
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "hub: an HTTPS certificate that ended: the hub starts, logs the error, and clients refuse the handshake",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("conduit-expired-");
    const expired = await makeExpiredCert(dir, "localhost");
    const hub = await startTestHub({ tls: { certFile: expired.cert, keyFile: expired.key } });
    try {
      const ended = expiryLine(hub.lines.map((l) => JSON.parse(l) as Line), "tls.certFile");
      assert.equal(ended.level, "error");
      assert.equal(ended.file, path.join(dir, "localhost.pem"));
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(expired.cert)] });
      try {
        const err = await fetch(`https://localhost:${hub.port}/healthz`, { client }).then(
          (r) => r.body?.cancel().then(() => new Error(`answered ${r.status}`)),
          (e: Error) => e,
        );
        assert.match(`${err}: ${(err as Error & { cause?: unknown })?.cause ?? ""}`, /expired/i);
      } finally {
        client.close();
      }
    } finally {
      await hub.stop();
    }
  },
});
