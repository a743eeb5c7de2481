import assert from "node:assert/strict";
import * as path from "node:path";
import { stagedName, sweepStaged } from "./staged.ts";

Deno.test("sweepStaged() removes the staged files of runs that ended, keeps a live run's and everything else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-staged-" });
  try {
    // A process that has ended: its pid names no running process (unless reused meanwhile, which only keeps).
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const mine = path.basename(stagedName(dir, "0123abcd", 7));
    const names = {
      removed: [
        `.deid-${gone.pid}-89abcdef-0.dcm`,
        `.deid-${gone.pid}-89abcdef-1.dcm.part`,
        ".deid-89abcdef-2.dcm", // named before the pid was added: no run of this version is writing it
      ],
      kept: [mine, `${mine}.part`],
      other: ["2.25.1.dcm", ".deid-notes.txt", ".deid-1-xyz-0.dcm", "x.dcm.part"],
    };
    for (const name of [...names.removed, ...names.kept, ...names.other]) {
      await Deno.writeTextFile(path.join(dir, name), "x");
    }
    assert.deepEqual(sweepStaged(dir), { removed: 3, kept: 2 });
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, [...names.kept, ...names.other].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
