import assert from "node:assert/strict";
import * as path from "node:path";
import { loadCredential } from "./credential.ts";

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
