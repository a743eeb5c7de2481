/**
 * What rendering holds at the site: a frame too large to render (more than 64 Mi samples) is refused from
 * its header, without its bytes being read, so asking a 144 MB frame for a rendered image, a thumbnail
 * and a rendered frame at once leaves the agent's memory where it was, and each answer says why (406).
 * And frames are read for the one rendering worker two at a time, whoever asks: 15 rendered frames of
 * 18 MB asked at once all come, and the agent grows by about what one render alone takes, not 15 times.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { peakRssDuring, rssBytes, runDcmtk, scratchDir, skipReason } from "../support/peers.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { type OneSite, oneSite, stopOneSite } from "./_one_site.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason("storescu", "dcmodify");
if (skip) console.warn(`render_memory_test: skipped: ${skip}`);

const MB = 1024 * 1024;

/** The rig of the file's two tests: north holds the large frame's study and the multi-frame one. */
interface Rig extends OneSite {
  big: Awaited<ReturnType<typeof writeGeneratedSeries>>;
  cine: Awaited<ReturnType<typeof writeGeneratedSeries>>;
}

/** Frames of the multi-frame object. */
const FRAMES = 16;

/**
 * One hub and agent for the file's tests, north given both studies by C-STORE: the tests only read them (the
 * first asks for renders it refuses, the second renders frames). Both files are written while the hub and the
 * agent start.
 */
const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const dir = await scratchDir("render-memory-");
    const writing = (async () => {
      // 9000 × 8000 × 1 sample of 16 bits: 72 Mi samples, over the 64 Mi rendered; 144 MB of pixel data.
      const big = await writeGeneratedSeries(path.join(dir, "big"), {
        rows: 9000,
        columns: 8000,
        pixelBytes: 9000 * 8000 * 2,
        seed: "render-memory-big",
      });
      // 16 frames of 3000 × 3000 × 16 bits (18 MB each, 288 MB of pixel data), made multi-frame.
      const cine = await writeGeneratedSeries(path.join(dir, "cine"), {
        rows: 3000,
        columns: 3000,
        pixelBytes: FRAMES * 3000 * 3000 * 2,
        seed: "render-memory-cine",
      });
      const edit = await runDcmtk("dcmodify", [
        "-nb",
        "-i",
        `(0028,0008)=${FRAMES}`,
        "-m",
        "(0028,0010)=3000",
        "-m",
        "(0028,0011)=3000",
        cine.paths[0],
      ]);
      assert.equal(edit.code, 0, edit.stderr);
      return { big, cine };
    })();
    // North does not fsync what it stores (dimse.sync: false): 432 MB of pixel data, whose durability is not
    // what these tests are about.
    const site = await oneSite(writing.then(({ big, cine }) => [...big.paths, ...cine.paths]), {
      dimse: { sync: false },
    });
    return { ...site, ...await writing };
  },
  stop: stopOneSite,
});

/**
 * `p` under a study of north through the hub, with the rig's token: its status and its body's length.
 * Rendered images are asked as PNG: these tests are about the frames read, not the encoder, and the agent's
 * JPEG encoder (plain JavaScript) took about a second per 3000 × 3000 frame here, PNG a fifth of that.
 */
async function ask(rig: OneSite, study: string, p: string) {
  const r = await fetch(`http://127.0.0.1:${rig.hub.port}/dicomweb/sites/north/studies/${study}${p}`, {
    headers: { authorization: `Bearer ${rig.token}`, accept: "image/png" },
  });
  const body = new Uint8Array(await r.arrayBuffer());
  return { status: r.status, text: new TextDecoder().decode(body.subarray(0, 2000)), bytes: body.byteLength };
}

shared.test("a frame too large to render is refused unread: the agent's memory does not grow by it", async (rig) => {
  const { big } = rig;
  const before = rssBytes(rig.north.pid);
  const { peak, result } = await peakRssDuring(
    rig.north.pid,
    Promise.all(
      ["/rendered", "/thumbnail", `/series/${big.seriesUid}/rendered`].map((p) => ask(rig, big.studyUid, p)),
    ),
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
});

shared.test(
  "renders asked at once read their frames two at a time: 15 frames of 18 MB take about what one does",
  async (rig) => {
    const { cine } = rig;
    const sop = (await (await fetch(
      `http://127.0.0.1:${rig.hub.port}/dicomweb/sites/north/studies/${cine.studyUid}/instances`,
      { headers: { authorization: `Bearer ${rig.token}` } },
    )).json())[0]["00080018"].Value[0];
    const at = `/series/${cine.seriesUid}/instances/${sop}`;
    const before = rssBytes(rig.north.pid);
    const render = (frame: number) => ask(rig, cine.studyUid, `${at}/frames/${frame}/rendered`);
    const one = await peakRssDuring(rig.north.pid, render(1));
    const all = await peakRssDuring(
      rig.north.pid,
      Promise.all(Array.from({ length: FRAMES - 1 }, (_, i) => render(i + 2))),
    );
    for (const r of [one.result, ...all.result]) {
      assert.equal(r.status, 200, r.text);
      assert.ok(r.bytes > 1000, `a rendered frame of ${r.bytes} bytes`);
    }
    // One render alone grows the agent by its working set (about 130 MB for 9 M samples as PNG; 200 to 360
    // MB as JPEG); the 15 others asked at once each read their frame on arrival before, and grew it by 360 to
    // 380 MB more than that as PNG (650 MB as JPEG); with two read at a time, about 105 MB more (100 to 150
    // MB as JPEG). As PNG the bound is 250 MB (300 as JPEG), half-way between the two.
    const alone = (one.peak - before) / MB, together = (all.peak - before) / MB;
    assert.ok(
      together < alone + 250,
      `the agent grew by ${together.toFixed(0)} MB for 15 renders at once, ${alone.toFixed(0)} MB for one`,
    );
  },
);

shared.tearDown("render_memory_test: the rig stopped");
