import assert from "node:assert/strict";
import { type NodeOperations, UnknownNodeError } from "../nodes/operations.ts";
import { nodeRoutes } from "./nodes.ts";

/** The routes over operations that know one node, `pacs`, and must never be asked to act. */
const app = nodeRoutes({
  node(name: string) {
    if (name !== "pacs") throw new UnknownNodeError(`no node named "${name}" in the configuration`);
  },
  find: () => assert.fail("find called"),
  retrieve: () => assert.fail("retrieve called"),
  storeTo: () => assert.fail("storeTo called"),
} as unknown as NodeOperations);

Deno.test("nodeRoutes(): a body that is not JSON is 400 saying so, not 502 as a DICOM failure", async () => {
  for (const op of ["find", "retrieve", "store"]) {
    const res = await app.request(`/pacs/${op}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{bad",
    });
    assert.equal(res.status, 400, op);
    assert.match((await res.json()).error, /^the body is not JSON: /, op);
  }
  const unknown = await app.request("/nope/find", { method: "POST", body: "{}" });
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
});
