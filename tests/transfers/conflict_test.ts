/**
 * A study sent again with other bytes under the same SOP Instance UIDs (here: de-identified again under
 * another pseudonym, the UIDs coming from the same key) to a site that keeps the first (archive.duplicates
 * keepFirst, the default): the job says the site kept what it had, instead of `success` naming a pseudonym
 * the site does not hold (QA 2026-12-07). Real hub, real agents, the typed client.
 */
import assert from "node:assert/strict";
import { findElement, stringValue } from "@conduit/shared/dicom";
import { parsePart10 } from "../support/ps315_walk.ts";
import { archivedBySop } from "../support/exact_files.ts";
import { finished, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`conflict_test: skipped: ${skip}`);

rigTest(
  "a study sent again under another pseudonym to a site that keeps the first fails, saying why, and the site keeps the first",
  async (r) => {
    const study = await seed(r, "conflict", 2);
    const f = parsePart10(await Deno.readFile(study.paths[0]));
    const original = stringValue(f.bytes, findElement(f.dataset, 0x00100020)!);
    const send = async (pseudonym: string) => {
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [study.studyUid],
        deid: { profile: "basic", pseudonyms: { [original]: pseudonym } },
      });
      return await finished(r, id);
    };
    const first = await send("TRIAL-A");
    assert.equal(first.status, "success", JSON.stringify(first.tasks));
    assert.equal(first.tasks[0].pseudonymized?.patientId, "TRIAL-A");

    const again = await send("TRIAL-B");
    assert.equal(again.status, "failure", JSON.stringify(again.tasks));
    assert.equal(again.totals.done, 0, JSON.stringify(again.totals));
    assert.match(again.tasks[0].lastError ?? "", /already holds other bytes under this SOP Instance UID/);

    // South holds the first pseudonym, as the first job said, and nothing of the second.
    const held = [...(await archivedBySop(r.south.dataDir)).values()];
    assert.equal(held.length, 2);
    for (const file of held) {
      const p = parsePart10(await Deno.readFile(file));
      assert.equal(stringValue(p.bytes, findElement(p.dataset, 0x00100020)!), "TRIAL-A");
    }
  },
);
