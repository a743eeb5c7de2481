/**
 * HAProxy in front of a test hub, with deploy/examples/mtls/haproxy.cfg as shipped (its ports and files
 * replaced by this machine's): the mTLS test and the slow-request test run the proxy a deployment runs.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnLogged, toolPath, waitReady } from "./peers.ts";
import { acceptsTcp, onFreePorts } from "./processes.ts";
import { type TestPki, writeCrl } from "./pki.ts";

async function exists(file: string): Promise<boolean> {
  return await Deno.stat(file).then(() => true, () => false);
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * deploy/examples/mtls/haproxy.cfg as shipped, on this machine's ports and files: the sites' frontend on
 * `sitesPort`, the people's on `peoplePort`, the hub on `hubPort`.
 */
async function exampleConfig(
  ports: { sites: number; people: number; hub: number },
  pem: string,
  ca: string,
  crl: string,
) {
  const shipped = await Deno.readTextFile(path.join(ROOT, "deploy/examples/mtls/haproxy.cfg"));
  const cfg = shipped
    .replace("bind :8443", `bind 127.0.0.1:${ports.sites}`)
    .replace("bind :443", `bind 127.0.0.1:${ports.people}`)
    .replace("server hub 127.0.0.1:8080", `server hub 127.0.0.1:${ports.hub}`)
    .replaceAll("/etc/haproxy/hub.example.org.pem", pem)
    .replace("/etc/haproxy/conduit-sites-ca.pem", ca)
    .replace("/etc/haproxy/conduit-sites-ca.crl", crl)
    .replace(/^\s*log \/dev\/log.*$/m, "") // no syslog here
    .replace(/^\s*log global$/m, "")
    .replace(/maxconn \d+/, "maxconn 1000"); // a test process may open fewer files than a server
  assert.doesNotMatch(cfg, /^\s*bind :/m, "every port of the example replaced");
  assert.doesNotMatch(cfg, /^[^#]*\/etc\//m, "every file of the example replaced");
  return cfg;
}

/**
 * HAProxy as shipped in front of the hub, on `ports` (the frontends' ports when given, else free ones, drawn
 * again when another process takes one first: `ports` of the answer), serving `pki`'s `localhost`
 * certificate and taking the sites' client certificates of `pki`'s CA only, but for those its revocation list
 * names (`pki.crl` as it is then; an empty one written when there is none yet).
 */
export async function startProxy(pki: TestPki, given: { sites?: number; people?: number; hub: number }) {
  const pem = path.join(pki.dir, "proxy.pem");
  await Deno.writeTextFile(
    pem,
    (await Deno.readTextFile(pki.parties.localhost.cert)) +
      (await Deno.readTextFile(pki.parties.localhost.key)),
  );
  const cfg = path.join(pki.dir, "haproxy.cfg");
  if (!await exists(pki.crl)) await writeCrl(pki);
  return await onFreePorts(
    ["haproxy sites", "haproxy people"],
    [given.sites, given.people],
    async ([sites, people]) => {
      const ports = { sites, people, hub: given.hub };
      await Deno.writeTextFile(cfg, await exampleConfig(ports, pem, pki.ca, pki.crl));
      const proxy = await spawnLogged("haproxy", toolPath("haproxy")!, ["-db", "-f", cfg]);
      await waitReady(
        proxy,
        "haproxy",
        async () => await acceptsTcp(ports.sites) && await acceptsTcp(ports.people),
        20_000,
        [ports.sites, ports.people],
      );
      return Object.assign(proxy, { ports });
    },
  );
}
