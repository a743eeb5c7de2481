/**
 * A crash's stray whose header is longer than the head the receive path keeps (64 KiB before the pixel
 * data: a large overlay, say) is read from its file in the archive, under the data directory, and indexed:
 * it was answered Success before the crash.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { FileArchive } from "../archive/file_archive.ts";
import { HEAD_BYTES } from "../part10/file_stream.ts";
import { reconcileAfterCrash } from "./recover.ts";
import { ingestRig } from "./testing.ts";

const quiet = new Logger({}, "error", { write: () => {} });

/** `file` with an Overlay Data (6000,3000) OB of `size` bytes just before its Pixel Data (explicit VR LE). */
function withOverlay(file: Uint8Array, size: number): Uint8Array {
  const pixel = [0xe0, 0x7f, 0x10, 0x00];
  let at = -1;
  for (let i = file.length - 4; i >= 0; i--) {
    if (pixel.every((b, k) => file[i + k] === b)) {
      at = i;
      break;
    }
  }
  assert.ok(at > 0, "the generated object has pixel data");
  const element = new Uint8Array(12 + size);
  element.set([0x00, 0x60, 0x00, 0x30, 0x4f, 0x42, 0, 0]); // (6000,3000) OB
  new DataView(element.buffer).setUint32(8, size, true);
  const out = new Uint8Array(file.length + element.length);
  out.set(file.subarray(0, at));
  out.set(element, at);
  out.set(file.subarray(at), at + element.length);
  return out;
}

Deno.test("a stray with a header longer than the kept head is indexed at the next start, not removed", async () => {
  const rig = await ingestRig("big-header-stray", false);
  const cwd = Deno.cwd();
  try {
    const [spec] = [...generateStudies({
      seed: "big-header",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 1 }],
      rows: 8,
      columns: 8,
    })];
    const bytes = withOverlay(generateInstance(spec), HEAD_BYTES + 4096);
    const key = `archive/${spec.studyInstanceUid}/${spec.seriesInstanceUid}/${spec.sopInstanceUid}.dcm`;
    fs.mkdirSync(path.dirname(path.join(rig.dir, key)), { recursive: true });
    fs.writeFileSync(path.join(rig.dir, key), bytes);
    // Not where the data directory is: a path relative to it must not be read from here.
    Deno.chdir(await Deno.makeTempDir({ prefix: "elsewhere-" }));
    const result = await reconcileAfterCrash(
      rig.db,
      new FileArchive(rig.dir, false),
      rig.dir,
      rig.ingest,
      quiet,
    );
    assert.equal(result.indexed, 1);
    assert.equal(result.removed, 0);
    assert.ok(fs.existsSync(path.join(rig.dir, key)));
    const row = rig.db.statement("SELECT path FROM instances WHERE sop_instance_uid = ?").get(
      spec.sopInstanceUid,
    ) as
      | { path: string }
      | undefined;
    assert.equal(row?.path, key);
  } finally {
    Deno.chdir(cwd);
    await rig.tearDown();
  }
});
