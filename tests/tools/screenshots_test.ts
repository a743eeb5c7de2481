import assert from "node:assert/strict";
import * as path from "node:path";
import { refresh } from "./screenshots.ts";

Deno.test("docs:screenshots replaces the documented images the run made, and names those it did not", async () => {
  const root = await Deno.makeTempDir({ prefix: "conduit-shots-" });
  try {
    const shots = path.join(root, "shots"), docs = path.join(root, "docs");
    await Deno.mkdir(shots);
    await Deno.mkdir(docs);
    for (const name of ["admin.png", "viewer.png", "notes.txt"]) {
      await Deno.writeTextFile(path.join(docs, name), "old");
    }
    // Made before the run: not this run's, kept out.
    await Deno.writeTextFile(path.join(shots, "viewer.png"), "earlier run");
    await Deno.utime(path.join(shots, "viewer.png"), 1000, 1000);
    const since = Date.now() - 1000;
    await Deno.writeTextFile(path.join(shots, "admin.png"), "new");
    await Deno.writeTextFile(path.join(shots, "flow-admin.png"), "not documented");
    assert.deepEqual(await refresh(shots, docs, since), { copied: ["admin.png"], stale: ["viewer.png"] });
    assert.equal(await Deno.readTextFile(path.join(docs, "admin.png")), "new");
    assert.equal(await Deno.readTextFile(path.join(docs, "viewer.png")), "old");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(docs))).map((e) => e.name).sort(), [
      "admin.png",
      "notes.txt",
      "viewer.png",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
