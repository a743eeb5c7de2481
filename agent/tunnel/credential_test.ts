import assert from "node:assert/strict";
import * as path from "node:path";
import { CredentialRefusedError, loadCredential, replaceCredential, saveCredential } from "./credential.ts";

Deno.test("a credential file cut short or not JSON is named in the error, with what to do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-credential-" });
  try {
    const file = path.join(dir, "hub-credential.json");
    // It said only "Unterminated string in JSON at position 12 (line 1 column 13)".
    await Deno.writeTextFile(file, '{"site":"nor');
    assert.throws(
      () => loadCredential(dir),
      (err: Error) =>
        err.message.startsWith(`${file} is not a valid credential file (not JSON: `) &&
        err.message.endsWith("; enroll again"),
    );
    await Deno.writeTextFile(file, '{"site":"north"}');
    assert.throws(
      () => loadCredential(dir),
      new RegExp(`^Error: ${file} is not a valid credential file; enroll`),
    );
    assert.equal(loadCredential(path.join(dir, "none")), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replaceCredential() keeps the site, hub and enrollment time, and refuses another site's credential", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-credential-" });
  try {
    const first = {
      site: "north",
      credential: "cts.north.old",
      hub: "ws://h/tunnel",
      enrolledAt: "2026-01-01",
    };
    saveCredential(dir, first);
    assert.throws(
      () => replaceCredential(dir, "cts.south.new"),
      (err: Error) => err instanceof CredentialRefusedError && /not for site north/.test(err.message),
    );
    assert.deepEqual(loadCredential(dir), first);
    assert.deepEqual(replaceCredential(dir, "cts.north.new"), { ...first, credential: "cts.north.new" });
    assert.deepEqual(loadCredential(dir), { ...first, credential: "cts.north.new" });
    assert.equal((await Deno.stat(path.join(dir, "hub-credential.json"))).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["hub-credential.json"]);
    assert.throws(() => replaceCredential(path.join(dir, "none"), "cts.north.x"), /holds no credential/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
