/**
 * A batch's Pseudonym column gives each pseudonym to one patient: a row giving another patient a pseudonym an
 * earlier row gave is not applied (that patient gets its keyed pseudonym), so two patients never become one
 * at the destination. Real hub, real agents, the typed client.
 */
import assert from "node:assert/strict";
import { toBase64 } from "@conduit/shared/base64";
import { eventually } from "../support/hub.ts";
import { runDcmtk } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { finished, type Rig, rigTest, skip } from "./_rig.ts";

if (skip) console.warn(`deid_pseudonym_test: skipped: ${skip}`);

/** A study of 2 objects for patient `patientId`, stored at north. */
async function patientStudy(r: Rig, seed: string, patientId: string) {
  const dir = await Deno.makeTempDir({ prefix: "deid-pseudonym-" });
  const s = await writeGeneratedSeries(dir, { count: 2, rows: 16, columns: 16, seed, modality: "MR" });
  for (const p of s.paths) {
    const mod = await runDcmtk("dcmodify", ["-nb", "-m", `(0010,0020)=${patientId}`, p]);
    assert.equal(mod.code, 0, mod.stderr);
  }
  assert.equal((await storescu(s.paths, r.north)).code, 0);
  return s.studyUid;
}

rigTest(
  "a batch's pseudonym given to a second patient is not applied to it, saying which row has it",
  async (r) => {
    const a = await patientStudy(r, "pseudo-a", "PSEUDO-PAT-A");
    const b = await patientStudy(r, "pseudo-b", "PSEUDO-PAT-B");
    const csv = `Study Instance UID,Pseudonym\n${a},TRIAL-1\n${b},TRIAL-1\n`;
    const batch = await r.client.batch.upload.mutate({
      kind: "transfer",
      filename: "rows.csv",
      contentBase64: toBase64(new TextEncoder().encode(csv)),
      sites: ["north"],
      destination: { site: "south" },
      deid: { profile: "basic" },
    });
    const status = await eventually("the batch done", async () => {
      const s = await r.client.batch.status.query({ id: batch.id });
      return s.status === "done" ? s : undefined;
    });
    const job = await finished(r, status.transferId!);
    assert.equal(job.status, "success", JSON.stringify(job.tasks));
    assert.equal(job.deid?.pseudonyms, 1, "one patient in the table");
    const byStudy = new Map(job.tasks.map((t) => [t.studyInstanceUid, t.pseudonymized?.patientId]));
    assert.equal(byStudy.get(a), "TRIAL-1");
    assert.ok(byStudy.get(b) && byStudy.get(b) !== "TRIAL-1", `B is not A at south: ${byStudy.get(b)}`);
    const results = atob((await r.client.batch.results.query({ id: batch.id, format: "csv" })).contentBase64);
    const line = results.split("\r\n").find((l) => l.startsWith("3,"))!;
    assert.match(line, /pseudonym not applied: row 2 gives the pseudonym TRIAL-1 to another patient/);
    assert.ok(!/PSEUDO-PAT-A/.test(line), "the note does not name the other patient");
  },
);
