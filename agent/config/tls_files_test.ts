import assert from "node:assert/strict";
import * as path from "node:path";
import { makeTestPki } from "../../tests/support/pki.ts";
import { configSchema } from "./schema.ts";
import { hubTls, nodeTlsMaterial, reloadTlsFiles } from "./tls_files.ts";

const hasOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "reloadTlsFiles() judges each group alone: a bad node keeps its files, the hub's renewed ones are used",
  ignore: !hasOpenssl,
  async fn() {
    const a = await makeTestPki(["site", "node"], { days: 2 });
    const b = await makeTestPki(["site", "node"], { days: 5 });
    const dir = await Deno.makeTempDir({ prefix: "conduit-tls-files-" });
    const file = (name: string) => path.join(dir, name);
    const install = async (from: string, to: string) => await Deno.copyFile(from, file(to));
    try {
      await install(a.ca, "hub-ca.pem");
      await install(a.parties.site.cert, "site.pem");
      await install(a.parties.site.key, "site.key");
      await install(a.parties.node.cert, "node.pem");
      await install(a.parties.node.key, "node.key");
      const config = configSchema.parse({
        hub: {
          caFile: file("hub-ca.pem"),
          clientCertFile: file("site.pem"),
          clientKeyFile: file("site.key"),
        },
        nodes: {
          pacs: {
            aet: "PACS",
            host: "127.0.0.1",
            port: 104,
            tls: { cert: file("node.pem"), key: file("node.key") },
          },
        },
      });
      const started = { hub: hubTls(config), node: nodeTlsMaterial("pacs", config.nodes.pacs) };
      const text = (p: string) => Deno.readTextFileSync(p);
      assert.equal(started.hub.cert, text(a.parties.site.cert));

      // The hub's files renewed; the node's certificate renewed without its key.
      await install(b.ca, "hub-ca.pem");
      await install(b.parties.site.cert, "site.pem");
      await install(b.parties.site.key, "site.key");
      await install(b.parties.node.cert, "node.pem");
      const reloads = reloadTlsFiles(config);
      assert.deepEqual(reloads.map((r) => [r.group, r.error]), [
        ["hub", undefined],
        ["nodes.pacs.tls", `nodes.pacs.tls.key: ${file("node.key")} is not the key of ${file("node.pem")}`],
      ]);
      assert.deepEqual(reloads[0].expiries.map((e) => e.label), ["hub-ca", "hub-client"]);
      assert.deepEqual(hubTls(config), {
        caCerts: [text(b.ca)],
        cert: text(b.parties.site.cert),
        key: text(b.parties.site.key),
      });
      assert.deepEqual(nodeTlsMaterial("pacs", config.nodes.pacs), started.node, "the node's files kept");

      // The node's key follows: its group is used too.
      await install(b.parties.node.key, "node.key");
      assert.ok(reloadTlsFiles(config).every((r) => !r.error));
      assert.equal(nodeTlsMaterial("pacs", config.nodes.pacs)?.cert, text(b.parties.node.cert));
    } finally {
      for (const d of [dir, a.dir, b.dir]) await Deno.remove(d, { recursive: true });
    }
  },
});
