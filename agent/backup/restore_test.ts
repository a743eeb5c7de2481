import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { planRestore, restoreAgent } from "./restore.ts";
import { sha256File } from "./files.ts";

/** A backup directory of `site` (a manifest, a stand-in database, the site's credential) and a data directory. */
async function backupOf(site: string, target: string | undefined) {
  const work = fs.mkdtempSync("/tmp/conduit-restore-site-");
  const from = path.join(work, "backup");
  const dataDir = path.join(work, "data");
  fs.mkdirSync(from);
  fs.mkdirSync(dataDir);
  const credential = (s: string) =>
    JSON.stringify({ site: s, credential: "c", hub: "ws://127.0.0.1:1/tunnel", enrolledAt: "2026-12-07" });
  fs.writeFileSync(path.join(from, "agent.db"), "a stand-in database");
  fs.writeFileSync(path.join(from, "hub-credential.json"), credential(site));
  fs.writeFileSync(
    path.join(from, "manifest.json"),
    JSON.stringify({
      kind: "conduit-agent-backup",
      format: 1,
      version: "0.1.0",
      createdAt: "2026-12-07T00:00:00Z",
      dataDir: "/elsewhere",
      schema: { migration: null, appliedAt: null },
      database: { file: "agent.db", bytes: 19, sha256: await sha256File(path.join(from, "agent.db")) },
      counts: {},
      credential: true,
      archive: { included: false },
    }),
  );
  if (target) fs.writeFileSync(path.join(dataDir, "hub-credential.json"), credential(target));
  return { work, from, dataDir };
}

Deno.test("restoreAgent() and planRestore() refuse another site's backup and change nothing", async () => {
  const { work, from, dataDir } = await backupOf("north", "south");
  try {
    const words = /backup of site north, and .* is enrolled as site south: .*nothing was changed/;
    await assert.rejects(() => planRestore(from, dataDir), words);
    await assert.rejects(() => restoreAgent(from, dataDir), words);
    assert.deepEqual(fs.readdirSync(dataDir), ["hub-credential.json"]);
    assert.match(fs.readFileSync(path.join(dataDir, "hub-credential.json"), "utf8"), /"south"/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

Deno.test("restoreAgent(): a site's own backup, or one into a data directory not enrolled, is not refused for it", async () => {
  for (const target of ["north", undefined]) {
    const { work, from, dataDir } = await backupOf("north", target);
    try {
      // Refused or not for other reasons (the stand-in database), but never for the site.
      const planned = await planRestore(from, dataDir);
      assert.equal(planned.credential, target ? "kept" : "restored");
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
});
