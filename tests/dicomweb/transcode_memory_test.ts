/**
 * What transcoding holds at the site: an object whose pixel data decodes to more than the 256 MB transcoded
 * is refused from its header, however small it is stored. A 6 MB RLE object of 3 frames of 8192 × 8192
 * asked as Explicit VR Little Endian is 406 (the agent's log says why), and the agent's memory stays where
 * it was (the decoding made 384 MB of pixels and took the agent to some GB before).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { peakRssDuring, rssBytes, scratchDir, skipReason } from "../support/peers.ts";
import { writeZeroRle } from "../support/rle_fixture.ts";
import { pydicomSkip } from "../support/pydicom.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { oneSite, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescu") || await pydicomSkip();
if (skip) console.warn(`transcode_memory_test: skipped: ${skip}`);

const MB = 1024 * 1024;
const EXPLICIT = "1.2.840.10008.1.2.1";

Deno.test({
  name: "an object that decodes to more than 256 MB is not transcoded, and the agent does not decode it",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await scratchDir("transcode-memory-");
    const src = await writeGeneratedSeries(path.join(dir, "src"), {
      rows: 64,
      columns: 64,
      seed: "transcode-memory",
    });
    const rle = path.join(dir, "rle.dcm");
    await writeZeroRle(src.paths[0], rle, 8192, 8192, 3);
    const rig = await oneSite([rle]);
    try {
      const before = rssBytes(rig.north.pid);
      const { peak, result } = await peakRssDuring(
        rig.north.pid,
        fetch(`http://127.0.0.1:${rig.hub.port}/dicomweb/sites/north/studies/${src.studyUid}`, {
          headers: {
            authorization: `Bearer ${rig.token}`,
            accept: `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT}`,
          },
        }).then(async (r) => ({ status: r.status, text: await r.text() })),
      );
      assert.equal(result.status, 406, result.text.slice(0, 500));
      assert.match(result.text, /cannot be transcoded to 1\.2\.840\.10008\.1\.2\.1/);
      // The site says why in its log (transcode.failed), and sent the object as stored.
      assert.match(
        await Deno.readTextFile(rig.north.logFile),
        /decodes to 402653184 bytes, more than the 268435456 transcoded/,
      );
      const grew = (peak - before) / MB;
      assert.ok(
        grew < 100,
        `the agent grew by ${grew.toFixed(0)} MB refusing (${before / MB | 0} MB before)`,
      );
      // The object itself still comes as stored, to a client that takes it so.
      const stored = await fetch(
        `http://127.0.0.1:${rig.hub.port}/dicomweb/sites/north/studies/${src.studyUid}`,
        {
          headers: {
            authorization: `Bearer ${rig.token}`,
            accept: `multipart/related; type="application/dicom"; transfer-syntax=*`,
          },
        },
      );
      assert.equal(stored.status, 200);
      assert.ok((await stored.arrayBuffer()).byteLength > 6_000_000);
    } finally {
      await stopOneSite(rig);
    }
  },
});
