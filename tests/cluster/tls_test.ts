/**
 * The hub-to-hub link over TLS: three hubs in this process on one real PostgreSQL started by the test, with
 * certificates made by `openssl` (a private CA). Hubs B and A serve HTTPS and give `https://` cluster URLs;
 * a real agent holds its tunnel to hub B over wss. Hub A, whose `clusterCaFile` names the CA, carries a
 * DICOMweb request and a features probe for the site to hub B over wss. Hub C, which does not trust the CA,
 * is refused by hub B's certificate: 503 for the site, and one log line naming the TLS certificate. Then its
 * `clusterCaFile`, renewed (SIGHUP, `reloadTls`): a garbled file is refused and the CA in use kept (still 503);
 * the CA that signed hub B's certificate is taken, and C's next link to B opens (the request answers), with
 * the expiry gauge following.
 */
import assert from "node:assert/strict";
import { FEATURE_DELIVERY } from "@conduit/shared/tunnel";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { freePort, hasTool, scratchDir } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { makeTestPki, opensslNotAfter } from "../support/pki.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

const skip = postgresMissing() ?? (hasTool("openssl") ? undefined : "openssl not installed");

Deno.test({
  name: "hubs with https cluster URLs reach each other over wss; an untrusted certificate is refused",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makeTestPki(["hub"]);
    const other = await makeTestPki([], { days: 7 });
    const cClusterCa = `${await scratchDir("conduit-cluster-ca-")}/cluster-ca.pem`;
    await Deno.copyFile(other.ca, cClusterCa);
    const pg = await startPostgres();
    const hubs: TestHub[] = [];
    let agent: AgentProcess | undefined;
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
    try {
      const db = await pg.createDatabase("tls");
      const tls = { certFile: pki.parties.hub.cert, keyFile: pki.parties.hub.key };
      const [portA, portB, portC] = [freePort(), freePort(), freePort()];
      const b = await startTestHub({ db, port: portB, tls, clusterUrl: `https://localhost:${portB}` });
      hubs.push(b);
      const a = await startTestHub({
        db,
        port: portA,
        tls,
        clusterUrl: `https://localhost:${portA}`,
        clusterCaFile: pki.ca,
      });
      hubs.push(a);
      const cMetrics = freePort();
      const c = await startTestHub({
        db,
        port: portC,
        clusterUrl: `http://127.0.0.1:${portC}`,
        clusterCaFile: cClusterCa,
        metricsPort: cMetrics,
      });
      hubs.push(c);
      const { enrollmentToken } = await b.registry.add("south");
      agent = await startAgentProcess({
        aet: "SOUTH",
        config: { hub: { caFile: pki.ca } },
        args: ["--site", "south", "--hub", b.tunnelUrl, "--enroll", enrollmentToken],
      });
      await eventually(
        "south on hub B, seen from A and C",
        () => b.sessions.get("south") && a.sessions.online("south") && c.sessions.online("south"),
      );
      const { token } = await a.tokens.create("ops", "operator");
      const qido = async (base: string) => {
        const r = await fetch(`${base}/dicomweb/sites/south/studies?PatientID=none`, {
          headers: { authorization: `Bearer ${token}` },
          client,
        });
        return { status: r.status, text: await r.text() };
      };

      // Hub A: the request goes to hub B over wss and on to the agent, which answers it.
      const viaA = await qido(`https://localhost:${portA}`);
      assert.notEqual(viaA.status, 503, viaA.text);
      assert.equal(viaA.status, (await qido(`https://localhost:${portB}`)).status, viaA.text);
      assert.ok((await a.sessions.featuresOf("south"))?.has(FEATURE_DELIVERY), "the probe crossed the link");
      assert.ok(a.lines.some((l) => /"msg":"hub link opened"/.test(l)), a.lines.join("\n"));

      // Hub C trusts the system's roots and another CA: hub B's certificate is refused, and said once.
      const viaC = await qido(`http://127.0.0.1:${portC}`);
      assert.equal(viaC.status, 503, viaC.text);
      assert.match(viaC.text, /site south is on a hub that cannot be reached/);
      assert.equal(await qido(`http://127.0.0.1:${portC}`).then((r) => r.status), 503);
      const refused = c.lines.filter((l) => /hub link refused/.test(l));
      assert.equal(refused.length, 1, c.lines.join("\n"));
      assert.match(refused[0], /"level":"warn"/);
      assert.match(refused[0], /TLS certificate is not trusted \(clusterCaFile\)/);
      assert.match(refused[0], new RegExp(`wss://localhost:${portB}/cluster`));
      assert.match(refused[0], /certificate/i);
      assert.ok(!c.lines.some((l) => /"msg":"hub link opened"/.test(l)));

      // C's clusterCaFile renewed. A garbled file first: refused, the CA in use kept, nothing opens.
      const clusterCaExpiry = async () =>
        value(
          parsePrometheus(await (await fetch(`http://127.0.0.1:${cMetrics}/metrics`)).text()),
          "conduit_hub_tls_certificate_expiry_seconds",
          { certificate: "cluster-ca" },
        );
      assert.equal(await clusterCaExpiry(), await opensslNotAfter(other.ca));
      await Deno.writeTextFile(cClusterCa, "not a certificate\n");
      assert.equal(c.reloadTls(), false);
      const kept = c.lines.filter((l) => /cluster CA not reloaded/.test(l));
      assert.equal(kept.length, 1, c.lines.join("\n"));
      assert.match(kept[0], /"level":"error"/);
      assert.match(kept[0], /links to other hubs keep trusting the one it had/);
      assert.equal(JSON.parse(kept[0]).reason, `clusterCaFile: ${cClusterCa} is not a PEM certificate`);
      assert.equal((await qido(`http://127.0.0.1:${portC}`)).status, 503);
      assert.equal(await clusterCaExpiry(), await opensslNotAfter(other.ca));
      // The CA of hub B's certificate: the next link opens, and the site answers through C.
      await Deno.copyFile(pki.ca, cClusterCa);
      assert.equal(c.reloadTls(), true);
      assert.ok(
        c.lines.some((l) =>
          /"msg":"cluster CA reloaded: new links to other hubs trust it, open ones go on"/.test(l)
        ),
        c.lines.join("\n"),
      );
      const viaCNow = await qido(`http://127.0.0.1:${portC}`);
      assert.equal(viaCNow.status, viaA.status, viaCNow.text);
      assert.ok(c.lines.some((l) => /"msg":"hub link opened"/.test(l)), c.lines.join("\n"));
      assert.equal(await clusterCaExpiry(), await opensslNotAfter(pki.ca));
    } finally {
      client.close();
      await agent?.stop();
      for (const h of hubs.reverse()) await h.stop();
      await pg.stop();
      await Deno.remove(pki.dir, { recursive: true });
      await Deno.remove(other.dir, { recursive: true });
    }
  },
});
