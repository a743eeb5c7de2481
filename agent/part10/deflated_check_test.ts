import assert from "node:assert/strict";
import { buildFileMeta, TransferSyntax } from "@conduit/shared/dicom";
import { checkDeflated } from "./deflated_check.ts";
import { DEFECT_REASON, defectiveObject, deflated } from "../../tests/support/structure_defects.ts";
import { ctObject, noise } from "../../tests/support/faults.ts";

/** A file of a File Meta group then `dataset`; checked as a received deflated object is. */
async function checked(dataset: Uint8Array) {
  const meta = buildFileMeta({
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: "1.2.3",
    transferSyntax: TransferSyntax.DeflatedExplicitVRLittleEndian,
  });
  const file = await Deno.makeTempFile({ prefix: "deflated-check-" });
  try {
    const bytes = new Uint8Array(meta.length + dataset.length);
    bytes.set(meta);
    bytes.set(dataset, meta.length);
    await Deno.writeFile(file, bytes);
    return await checkDeflated(file, dataset.length);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("checkDeflated: a good deflated data set passes, a large one in many blocks too", async () => {
  assert.equal(await checked(deflated(ctObject("dfl-good", { rows: 16, columns: 16 }).dataset)), undefined);
  // 2048 x 2048 x 16 bits: 8 MiB inflated, many inflate blocks, each checked as it comes
  assert.equal(
    await checked(deflated(ctObject("dfl-large", { rows: 2048, columns: 2048 }).dataset)),
    undefined,
  );
});

Deno.test("checkDeflated: the structure defects a C-STORE's data set is refused for are found inflated", async () => {
  assert.deepEqual(await checked(defectiveObject("dfl-meta", "file-meta", true).dataset), { fileMeta: true });
  for (const defect of ["unknown-vr", "undefined-length"] as const) {
    const found = await checked(defectiveObject(`dfl-${defect}`, defect, true).dataset);
    assert.ok(found && "problem" in found, defect);
    assert.match(found.problem, DEFECT_REASON[defect]);
  }
});

Deno.test("checkDeflated: a stream that is not deflate, or is cut short, is a problem", async () => {
  const notDeflate = await checked(noise(4000, 7));
  assert.ok(notDeflate && "problem" in notDeflate);
  assert.match(notDeflate.problem, /does not inflate/);
  const whole = deflated(ctObject("dfl-cut", { rows: 64, columns: 64 }).dataset);
  const cut = await checked(whole.subarray(0, whole.length - 200));
  assert.ok(cut && "problem" in cut);
  assert.match(cut.problem, /does not inflate|ends/);
  // cut inside the inflated data: the data set ends inside Pixel Data
  const raw = ctObject("dfl-short", { rows: 64, columns: 64 }).dataset;
  const short = await checked(deflated(raw.subarray(0, raw.length - 100)));
  assert.ok(short && "problem" in short);
  assert.match(short.problem, /ends inside element \(7FE0,0010\)/i);
});
