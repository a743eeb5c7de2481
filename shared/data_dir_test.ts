import assert from "node:assert/strict";
import { entriesError, unusableEntries } from "./data_dir.ts";

/** A stand-in for node:fs over a listing: `denied` names answer EACCES to access(). */
function fakeFs(entries: Record<string, "file" | "dir">, denied: Record<string, number>) {
  const constants = { R_OK: 4, W_OK: 2, X_OK: 1 };
  return {
    constants,
    readdirSync: () => Object.keys(entries),
    statSync: (p: string) => ({ isDirectory: () => entries[p.split("/").at(-1)!] === "dir" }),
    accessSync: (p: string, mode: number) => {
      const missing = denied[p.split("/").at(-1)!] ?? 0;
      if (mode & missing) throw Object.assign(new Error("denied"), { code: "EACCES" });
    },
  };
}

Deno.test("unusableEntries() names what this user cannot read and write at the top of a data directory", () => {
  const fs = fakeFs(
    {
      "agent.db": "file",
      tmp: "dir",
      archive: "dir",
      "hub.db.lock": "file",
      "agent.db.replaced-20261207T000000Z": "file",
    },
    { "agent.db": 2, tmp: 4, "hub.db.lock": 2, "agent.db.replaced-20261207T000000Z": 6 },
  );
  // hub.db.lock is only read; a replaced database is never opened.
  assert.deepEqual(unusableEntries("/d", fs), ["agent.db (EACCES)", "tmp (EACCES)"]);
  assert.deepEqual(unusableEntries("/d", fakeFs({ "agent.db": "file" }, {})), []);
  assert.equal(
    entriesError("/d", ["agent.db (EACCES)", "tmp (EACCES)"], () => "conduit").message,
    "cannot use the data directory /d: agent.db (EACCES), tmp (EACCES) in it are not for this user (conduit) " +
      "to read and write, made by a run as another user (root?): chown -R conduit /d, or run as their owner",
  );
});

Deno.test("entriesError() names no user it cannot find (no passwd entry, as in some containers)", () => {
  const err = entriesError("/d", ["tmp (EACCES)"], () => {
    throw new Error("uv_os_get_passwd");
  });
  assert.match(err.message, /not for this user \(this user\) to read and write.*chown -R this user \/d/);
});
