import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { loadConfig } from "../config/load.ts";
import { credentialCheck, nodeAetChecks, tlsChecks } from "./local.ts";

const configOf = (yaml: string) =>
  loadConfig({ flags: { config: "a.yaml" }, env: {}, readFile: () => yaml }).config;

Deno.test("credentialCheck(): the enroll hint names the --config the check was given", () => {
  const data = Deno.makeTempDirSync({ prefix: "check-credential-" });
  try {
    const config = configOf(`data: ${data}\nhub: { url: ws://127.0.0.1:1/tunnel }\n`);
    // Until 2026-12-07 the hint left --config out, and the enrollment went to the default data directory.
    assert.match(
      credentialCheck(config, "/etc/conduit/agent.yaml")!.detail,
      /enroll --config \/etc\/conduit\/agent\.yaml --token TOKEN/,
    );
    assert.match(credentialCheck(config)!.detail, /enroll --token TOKEN/);
  } finally {
    Deno.removeSync(data, { recursive: true });
  }
});

Deno.test("nodeAetChecks(): a warning per AE title two nodes share", () => {
  const config = configOf(
    "nodes:\n  a: { aet: PACS, host: h, port: 104 }\n  b: { aet: PACS, host: i, port: 104 }\n  c: { aet: OTHER, host: h, port: 105 }\n",
  );
  const checks = nodeAetChecks(config);
  assert.equal(checks.length, 1);
  assert.equal(checks[0].status, "warn");
  assert.match(checks[0].detail, /nodes a, b share the AE title PACS/);
});

Deno.test("nodeAetChecks(): a node that asks for Storage Commitment, refused as a caller, is warned of", () => {
  const nodes = "nodes:\n  pacs: { aet: ORTHANC, host: h, port: 104, storageCommitment: true }\n" +
    "  plain: { aet: PLAIN, host: h, port: 105 }\n";
  // Until 2026-12-07 `agent check` said all was well, and every report of the node was rejected.
  const refused = nodeAetChecks(configOf(`${nodes}dimse: { allowedCallingAets: [MOD1, PLAIN] }\n`));
  assert.deepEqual(refused.map((c) => [c.status, c.what]), [["warn", "node pacs"]]);
  assert.match(refused[0].detail, /reports come on associations it opens as ORTHANC, .*add ORTHANC/);
  assert.equal(nodeAetChecks(configOf(`${nodes}dimse: { allowedCallingAets: [MOD1, ORTHANC] }\n`)).length, 0);
  assert.equal(nodeAetChecks(configOf(nodes)).length, 0, "any caller allowed (the default)");
});

Deno.test("tlsChecks(): a certificate that cannot be read fails its own line; the key's says it was not checked", () => {
  const dir = Deno.makeTempDirSync({ prefix: "check-tls-" });
  try {
    const key = `${dir}/agent.key`;
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    Deno.writeTextFileSync(key, privateKey.export({ type: "pkcs8", format: "pem" }) as string, {
      mode: 0o600,
    });
    for (const cert of [`${dir}/nope.pem`, dir]) {
      const checks = tlsChecks(configOf(`dimse: { tls: { port: 2762, cert: ${cert}, key: ${key} } }\n`));
      const line = (what: string) => checks.find((c) => c.what === what)!;
      assert.equal(line("TLS dimse.tls.cert").status, "fail");
      // Until 2026-12-08 the key's line failed too, with the certificate's raw ENOENT or EISDIR.
      assert.equal(line("TLS dimse.tls.key").status, "warn", line("TLS dimse.tls.key").detail);
      assert.match(
        line("TLS dimse.tls.key").detail,
        /not checked against .*, which cannot be read \(see its line\)/,
      );
      assert.doesNotMatch(line("TLS dimse.tls.key").detail, /ENOENT|EISDIR/);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
