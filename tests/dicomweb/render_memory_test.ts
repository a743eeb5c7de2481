/**
 * What rendering holds at the site: a frame too large to render (more than 64 Mi samples) is refused from
 * its header, without its bytes being read, so asking a 144 MB frame for a rendered image, a thumbnail
 * and a rendered frame at once leaves the agent's memory where it was, and each answer says why (406).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { peakRssDuring, rssBytes, scratchDir, skipReason } from "../support/peers.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { oneSite, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`render_memory_test: skipped: ${skip}`);

const MB = 1024 * 1024;

Deno.test({
  name: "a frame too large to render is refused unread: the agent's memory does not grow by it",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await scratchDir("render-memory-");
    // 9000 × 8000 × 1 sample of 16 bits: 72 Mi samples, over the 64 Mi rendered; 144 MB of pixel data.
    const big = await writeGeneratedSeries(path.join(dir, "big"), {
      rows: 9000,
      columns: 8000,
      pixelBytes: 9000 * 8000 * 2,
      seed: "render-memory-big",
    });
    const rig = await oneSite(big.paths);
    try {
      const base = `http://127.0.0.1:${rig.hub.port}/dicomweb/sites/north/studies/${big.studyUid}`;
      const ask = async (p: string) => {
        const r = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${rig.token}` } });
        return { status: r.status, text: await r.text() };
      };
      const before = rssBytes(rig.north.pid);
      const { peak, result } = await peakRssDuring(
        rig.north.pid,
        Promise.all([ask("/rendered"), ask("/thumbnail"), ask("/series/" + big.seriesUid + "/rendered")]),
      );
      for (const r of result) {
        assert.equal(r.status, 406, r.text);
        assert.match(r.text, /8000 × 9000 × 1 samples is too large to render/);
      }
      // Reading the frame for each of the three requests held 3 × 144 MB at once before.
      const grew = (peak - before) / MB;
      assert.ok(
        grew < 100,
        `the agent grew by ${grew.toFixed(0)} MB while refusing (${before / MB | 0} MB before)`,
      );
    } finally {
      await stopOneSite(rig);
    }
  },
});
