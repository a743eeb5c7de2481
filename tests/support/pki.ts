/**
 * A throw-away PKI for TLS tests, made with `openssl` in a temporary directory: a CA, one certificate
 * per named party (server and client use, for `localhost` and 127.0.0.1), and a self-signed "rogue"
 * certificate no one trusts. Keys are unencrypted PEM files. The CA can revoke a certificate and write its
 * revocation list (CRL) with `openssl ca`, as docs/tunnel.md tells a project's CA to.
 */
import * as path from "node:path";
import { runDcmtk } from "./peers.ts";

export interface Party {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA certificate (PEM) everyone trusts. */
  ca: string;
  /** A certificate and key signed by the CA, per party asked for. */
  parties: Record<string, Party>;
  /** A self-signed certificate and key with the same names, signed by no trusted CA. */
  rogue: Party;
  /** Where the CA's revocation list (PEM) is written: by writeCrl or revokeCert, not before. */
  crl: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const LEAF_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth,clientAuth",
  "subjectAltName=DNS:localhost,IP:127.0.0.1",
].join("\n") + "\n";

/**
 * Makes a CA, a certificate per party, and a rogue certificate under a new temporary directory, each valid
 * for `days` from now (2 unless given: within the 30 days the agent and hub warn of).
 */
export async function makeTestPki(parties: string[], opts: { days?: number } = {}): Promise<TestPki> {
  const days = String(opts.days ?? 2);
  const dir = await Deno.makeTempDir({ prefix: "conduit-pki-" });
  await Deno.writeTextFile(path.join(dir, "leaf.ext"), LEAF_EXTENSIONS);
  const rsa = ["-newkey", "rsa:2048", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...rsa,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    days,
    "-subj",
    "/CN=Conduit Test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  const out: Record<string, Party> = {};
  for (const name of parties) {
    await openssl(
      ["req", ...rsa, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`],
      dir,
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      days,
      "-extfile",
      "leaf.ext",
    ], dir);
    out[name] = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  }
  await openssl([
    "req",
    "-x509",
    ...rsa,
    "-keyout",
    "rogue.key",
    "-out",
    "rogue.pem",
    "-days",
    days,
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], dir);
  return {
    dir,
    ca: path.join(dir, "ca.pem"),
    parties: out,
    rogue: { cert: path.join(dir, "rogue.pem"), key: path.join(dir, "rogue.key") },
    crl: path.join(dir, "ca.crl"),
  };
}

/** The `openssl ca` configuration of the test CA (its database of revocations beside it), written once. */
async function caConfig(pki: TestPki): Promise<string> {
  const cnf = path.join(pki.dir, "ca.cnf");
  try {
    await Deno.stat(cnf);
    return cnf;
  } catch {
    // Not written yet.
  }
  await Deno.writeTextFile(path.join(pki.dir, "index.txt"), "");
  await Deno.writeTextFile(path.join(pki.dir, "crlnumber"), "01\n");
  await Deno.writeTextFile(
    cnf,
    "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ncertificate = ca.pem\n" +
      "private_key = ca.key\ndefault_md = sha256\ndefault_crl_days = 2\n",
  );
  return cnf;
}

/**
 * Writes the CA's revocation list to `pki.crl` (`openssl ca -gencrl`): the certificates revoked so far
 * (none at first), next update in 2 days unless `nextUpdate` (YYYYMMDDHHMMSSZ) says otherwise.
 */
export async function writeCrl(pki: TestPki, opts: { lastUpdate?: string; nextUpdate?: string } = {}) {
  const cnf = await caConfig(pki);
  const dates = [
    ...(opts.lastUpdate ? ["-crl_lastupdate", opts.lastUpdate] : []),
    ...(opts.nextUpdate ? ["-crl_nextupdate", opts.nextUpdate] : []),
  ];
  await openssl(["ca", "-config", cnf, "-gencrl", ...dates, "-out", pki.crl], pki.dir);
}

/** Revokes `party`'s certificate (`openssl ca -revoke`, reason keyCompromise) and writes the CRL again. */
export async function revokeCert(pki: TestPki, party: Party): Promise<void> {
  const cnf = await caConfig(pki);
  await openssl(["ca", "-config", cnf, "-revoke", party.cert, "-crl_reason", "keyCompromise"], pki.dir);
  await writeCrl(pki);
}

/**
 * A self-signed certificate (version 3, for `localhost` and 127.0.0.1) and its key under `dir` whose validity
 * ended on 2020-01-01 (`openssl ca` sets the dates; `openssl req -days` takes none in the past): for the
 * checks that must refuse an expired one.
 */
export async function makeExpiredCert(dir: string, name = "expired"): Promise<Party> {
  const work = path.join(dir, `${name}-ca`);
  await Deno.mkdir(work, { recursive: true });
  await Deno.writeTextFile(path.join(work, "index.txt"), "");
  await Deno.writeTextFile(path.join(work, "serial"), "01\n");
  await Deno.writeTextFile(
    path.join(work, "ca.cnf"),
    "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n" +
      "default_md = sha256\npolicy = p\nunique_subject = no\nx509_extensions = x\n[p]\ncommonName = supplied\n" +
      // Version 3, with the names the other test certificates have (rustls refuses a version 1 certificate).
      "[x]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth,clientAuth\n",
  );
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  await newKeyAndRequest(key, "req.csr", name, work);
  await openssl([
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-selfsign",
    "-keyfile",
    key,
    "-in",
    "req.csr",
    "-out",
    cert,
    "-startdate",
    "20190101000000Z",
    "-enddate",
    "20200101000000Z",
    "-notext",
  ], work);
  return { cert, key };
}

/** A new RSA key at `key` and a certificate request for it at `csr` (subject CN `cn`), made in `cwd`. */
async function newKeyAndRequest(key: string, csr: string, cn: string, cwd: string): Promise<void> {
  await openssl([
    "req",
    "-new",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${cn}`,
  ], cwd);
}

/**
 * A self-signed X.509 version 1 certificate for `localhost` and its key under `dir`, valid 2 days: what
 * `openssl x509 -req` makes without extensions, which rustls refuses.
 */
export async function makeVersion1Cert(dir: string, name = "v1"): Promise<Party> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  const csr = path.join(dir, `${name}.csr`);
  await newKeyAndRequest(key, csr, "localhost", dir);
  await openssl(["x509", "-req", "-in", csr, "-key", key, "-days", "2", "-out", cert], dir);
  return { cert, key };
}

/** The notAfter of the (first) certificate of `file` as openssl reads it, in Unix seconds. */
export async function opensslNotAfter(file: string): Promise<number> {
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-enddate", "-in", file],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim(); // notAfter=Dec 15 09:40:00 2026 GMT
  const t = Date.parse(text.replace(/^notAfter=/, ""));
  if (!Number.isFinite(t)) throw new Error(`openssl x509 -enddate said ${text}`);
  return t / 1000;
}

/**
 * The certificate a TLS server on 127.0.0.1:`port` presents to `openssl s_client` (as openssl prints it,
 * PEM), or undefined when the handshake gives none.
 */
export async function servedCertificate(port: number, args: string[] = []): Promise<string | undefined> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(
    new TextDecoder().decode(out.stdout),
  )
    ?.[0];
}

/** The agent's `dimse.tls` section: `port` served with `pki`'s `agent` party, client certificates required. */
export function agentTlsConfig(pki: TestPki, port: number) {
  const { cert, key } = pki.parties.agent;
  return { port, cert, key, ca: pki.ca, requireClientCert: true };
}

/** DCMTK's `echoscu +tls` as `party` (the `dcmtk` party unless given) to `aet` at 127.0.0.1:`port`. */
export function echoscuTls(
  pki: TestPki,
  aet: string,
  port: number,
  opts: { timeoutMs?: number; party?: Party } = {},
): ReturnType<typeof runDcmtk> {
  const { key, cert } = opts.party ?? pki.parties.dcmtk;
  const args = ["+tls", key, cert, "+cf", pki.ca, "-aec", aet, "127.0.0.1", String(port)];
  return runDcmtk("echoscu", args, { timeoutMs: opts.timeoutMs ?? 10_000 });
}
