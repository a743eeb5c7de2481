import assert from "node:assert/strict";
import { exposureWarning, isLoopbackHost } from "./exposure.ts";

Deno.test("isLoopbackHost() takes 127.0.0.0/8, ::1 and localhost, nothing else", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.5", "agent.example.org", "127.0.0.1.nip.io", "1270.0.0.1"]) {
    assert.equal(isLoopbackHost(h), false, h);
  }
  assert.equal(exposureWarning("127.0.0.1"), undefined);
  assert.match(
    exposureWarning("0.0.0.0")!,
    /^http\.host 0\.0\.0\.0 is not loopback: the HTTP API has no auth/,
  );
});
