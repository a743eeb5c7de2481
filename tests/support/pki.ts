/**
 * A throw-away PKI for TLS tests, made with `openssl` in a temporary directory: a CA, one certificate
 * per named party (server and client use, for `localhost` and 127.0.0.1), and a self-signed "rogue"
 * certificate no one trusts. Keys are unencrypted PEM files.
 */
import * as path from "node:path";

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

/** Makes a CA, a certificate per party, and a rogue certificate under a new temporary directory. */
export async function makeTestPki(parties: string[]): Promise<TestPki> {
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
    "2",
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
      "2",
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
    "2",
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
  };
}
