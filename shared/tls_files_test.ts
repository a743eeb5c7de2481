import assert from "node:assert/strict";
import { checkedPem, TlsFileError } from "./tls_files.ts";

/** A reader that fails as node:fs does for `code`. */
const failing = (code: string) => () => {
  throw Object.assign(new Error(`${code}: from the file system`), { code });
};

Deno.test("checkedPem() says why a file cannot be read: missing, a directory, not allowed", () => {
  const cases: [string, string][] = [
    ["ENOENT", "no such file"],
    ["EISDIR", "a directory, not a file"],
    ["EACCES", "permission denied"],
    ["EIO", "EIO"],
  ];
  for (const [code, why] of cases) {
    assert.throws(
      () => checkedPem(failing(code), "tls.certFile", "/etc/conduit/hub.pem", "certificate"),
      (err) =>
        err instanceof TlsFileError &&
        err.message === `tls.certFile: cannot read /etc/conduit/hub.pem: ${why}`,
    );
  }
});

Deno.test("checkedPem() refuses an empty file and bytes that are not PEM, naming the file", () => {
  for (const text of ["", "garbage\n", "\u0000\u00ff".repeat(1000)]) {
    assert.throws(
      () => checkedPem(() => text, "tls.keyFile", "/etc/conduit/hub.key", "key"),
      /^TlsFileError: tls\.keyFile: \/etc\/conduit\/hub\.key is not a PEM private key$/,
    );
    assert.throws(
      () => checkedPem(() => text, "tls.certFile", "/etc/conduit/hub.pem", "certificate"),
      /tls\.certFile: \/etc\/conduit\/hub\.pem is not a PEM certificate$/,
    );
  }
});
