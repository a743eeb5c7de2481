/**
 * The hub-to-hub link over TLS: three hubs in this process on one real PostgreSQL started by the test, with
 * certificates made by `openssl` (a private CA). Hubs B and A serve HTTPS and give `https://` cluster URLs;
 * a real agent holds its tunnel to hub B over wss. Hub A, whose `clusterCaFile` names the CA, carries a
 * DICOMweb request and a features probe for the site to hub B over wss. Hub C, which does not trust the CA,
 * is refused by hub B's certificate: 503 for the site, and one log line naming the TLS certificate.
 */
import assert from "node:assert/strict";
import { FEATURE_DELIVERY } from "@conduit/shared/tunnel";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { freePort, hasTool } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { makeTestPki } from "../support/pki.ts";

const skip = postgresMissing() ?? (hasTool("openssl") ? undefined : "openssl not installed");

Deno.test({
  name: "hubs with https cluster URLs reach each other over wss; an untrusted certificate is refused",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makeTestPki(["hub"]);
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
      const c = await startTestHub({ db, port: portC, clusterUrl: `http://127.0.0.1:${portC}` });
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

      // Hub C trusts only the system's roots: hub B's certificate is refused, and said once.
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
    } finally {
      client.close();
      await agent?.stop();
      for (const h of hubs.reverse()) await h.stop();
      await pg.stop();
      await Deno.remove(pki.dir, { recursive: true });
    }
  },
});
