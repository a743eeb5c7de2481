/**
 * The conflicts listing on an index an agent of an earlier version wrote (before migration 0010, not yet
 * started since an upgrade): `agent conflicts` reads it read-only, so it cannot migrate it, and lists its
 * conflicts as unresolved instead of failing on the columns it lacks.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Database } from "./db.ts";
import { listConflicts, recordConflict } from "./conflicts.ts";

Deno.test("listConflicts: an index without the resolution columns lists its conflicts as unresolved", async () => {
  const db = await Database.open(
    path.join(await Deno.makeTempDir({ prefix: "conflicts-test-" }), "agent.db"),
  );
  try {
    recordConflict(
      db,
      "1.2.3",
      { storedSha256: "a", receivedSha256: "b", policy: "keepBoth", keptPath: "k" },
      "AE",
    );
    db.write(() => {
      db.statement("ALTER TABLE conflicts DROP COLUMN resolution").run();
      db.statement("ALTER TABLE conflicts DROP COLUMN resolved_at").run();
    });
    for (const unresolved of [false, true]) {
      const page = listConflicts(db, { unresolved });
      assert.equal(page.total, 1);
      assert.equal(page.conflicts[0].sopInstanceUid, "1.2.3");
      assert.equal(page.conflicts[0].resolution, null);
      assert.equal(page.conflicts[0].resolvedAt, null);
    }
  } finally {
    db.close();
  }
});
