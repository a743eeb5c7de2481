import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import {
  encodingOf,
  findElement,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  stringValue,
} from "@conduit/shared/dicom";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { deidentifyFile } from "./engine.ts";
import { standardProfile } from "./profile.ts";

const KEY = new TextEncoder().encode("engine test key");

const PROFILE = standardProfile(["retain-long-modified-dates"], {
  name: "test",
  actions: new Map(),
  shiftDates: { minDays: 10, maxDays: 20 },
});
const BASIC = standardProfile();

async function oneCt(dir: string, seed = "engine") {
  const [spec] = generateStudies({
    seed,
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 64,
    columns: 64,
  });
  const file = path.join(dir, "in.dcm");
  await Deno.writeFile(file, generateInstance(spec));
  return { spec, file };
}

function parsed(bytes: Uint8Array) {
  const h = readPart10Header(bytes);
  const ds = parseDataSet(bytes, encodingOf(h.transferSyntax), { start: h.datasetOffset }).dataset;
  const get = (tag: number) => {
    const el = findElement(ds, tag);
    return el ? stringValue(bytes, el) : undefined;
  };
  return { h, ds, get };
}

Deno.test("deidentifyFile() applies the profile, pseudonymizes consistently and copies pixel data as bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-" });
  const { spec, file } = await oneCt(dir);
  const out = path.join(dir, "out.dcm");
  const result = await deidentifyFile(file, out, { key: KEY, profile: PROFILE, patientNamePrefix: "TRIAL" });
  assert.equal(result.status, "done");
  const bytes = await Deno.readFile(out);
  assert.equal(
    result.status === "done" && result.bytes,
    bytes.length,
    "the size reported is the size written",
  );
  const { h, ds, get } = parsed(bytes);
  const newSop = pseudonymizeUid(KEY, spec.sopInstanceUid);
  assert.equal(result.status === "done" && result.sopInstanceUid, newSop);
  assert.equal(h.sopInstanceUid, newSop, "the File Meta group names the new UID");
  assert.equal(get(0x00080018), newSop);
  assert.equal(get(0x0020000d), pseudonymizeUid(KEY, spec.studyInstanceUid));
  assert.match(get(0x00100010)!, /^TRIAL\^/);
  assert.notEqual(get(0x00100020), spec.patientId);
  assert.equal(findElement(ds, 0x00080080), undefined, "X removes");
  assert.equal(findElement(ds, 0x00100030)!.length, 0, "Z empties");
  assert.equal(get(0x00120062), "YES");
  assert.equal(get(0x00280303), "MODIFIED");
  const shiftedDays =
    (Date.UTC(+spec.studyDate!.slice(0, 4), +spec.studyDate!.slice(4, 6) - 1, +spec.studyDate!.slice(6)) -
      Date.UTC(
        +get(0x00080020)!.slice(0, 4),
        +get(0x00080020)!.slice(4, 6) - 1,
        +get(0x00080020)!.slice(6),
      )) / 86_400_000;
  assert.ok(shiftedDays >= 10 && shiftedDays <= 20, `study date shifted by ${shiftedDays} days`);
  // No original identifier survives anywhere in the output.
  const text = new TextDecoder("latin1").decode(bytes);
  for (const original of [spec.patientId, spec.patientName, spec.sopInstanceUid, spec.studyInstanceUid]) {
    assert.ok(!text.includes(original), `${original} left in the output`);
  }
  // Pixel data: the same bytes.
  const input = await Deno.readFile(file);
  const pin = parsed(input).ds.elements.find((e) => e.tag === PIXEL_DATA)!;
  const pout = ds.elements.find((e) => e.tag === PIXEL_DATA)!;
  assert.ok(
    Buffer.from(bytes.subarray(pout.valueOffset, pout.end)).equals(
      Buffer.from(input.subarray(pin.valueOffset, pin.end)),
    ),
  );
});

Deno.test("deidentifyFile() gives identical bytes for the same input and key, other UIDs for another key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-" });
  const { file } = await oneCt(dir);
  const [a, b, c] = ["a.dcm", "b.dcm", "c.dcm"].map((n) => path.join(dir, n));
  await deidentifyFile(file, a, { key: KEY, profile: PROFILE });
  await deidentifyFile(file, b, { key: KEY, profile: PROFILE });
  await deidentifyFile(file, c, { key: new TextEncoder().encode("another key"), profile: PROFILE });
  assert.ok(Buffer.from(await Deno.readFile(a)).equals(Buffer.from(await Deno.readFile(b))));
  assert.notEqual(
    parsed(await Deno.readFile(a)).get(0x0020000d),
    parsed(await Deno.readFile(c)).get(0x0020000d),
  );
});

Deno.test("deidentifyFile() holds back objects that may carry burned-in text, and reports unreadable files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-" });
  const sc = "/usr/lib/python3/dist-packages/pydicom/data/test_files/SC_rgb_rle.dcm";
  const hasSc = await Deno.stat(sc).then(() => true, () => false);
  if (hasSc) {
    const held = await deidentifyFile(sc, path.join(dir, "sc.dcm"), { key: KEY, profile: PROFILE });
    assert.deepEqual(held, { status: "held", reason: "modality OT without Burned In Annotation" });
    const allowed = await deidentifyFile(sc, path.join(dir, "sc.dcm"), {
      key: KEY,
      profile: PROFILE,
      allowBurnedIn: true,
    });
    assert.equal(allowed.status, "done");
  }
  await Deno.writeTextFile(path.join(dir, "junk.dcm"), "not dicom");
  const failed = await deidentifyFile(path.join(dir, "junk.dcm"), path.join(dir, "x.dcm"), {
    key: KEY,
    profile: PROFILE,
  });
  assert.equal(failed.status, "failed");

  // Cut inside the pixel data, or without SOP Instance UID: the reason says so and nothing is written.
  const { spec, file } = await oneCt(dir, "cut");
  const whole = await Deno.readFile(file);
  await Deno.writeFile(path.join(dir, "cut.dcm"), whole.subarray(0, whole.length - 100));
  // Its SOP Instance UID turned into (0008,0019), which keeps the order of the elements.
  const noUid = generateInstance(spec);
  const { ds } = parsed(noUid);
  noUid[findElement(ds, 0x00080018)!.offset + 2] = 0x19;
  await Deno.writeFile(path.join(dir, "no-uid.dcm"), noUid);
  for (
    const [name, reason] of [
      ["cut.dcm", "not a readable DICOM file: file ends inside the pixel data"],
      [
        "no-uid.dcm",
        "cannot de-identify: the data set has no SOP Class UID or SOP Instance UID (0008,0016/0018)",
      ],
    ]
  ) {
    const out = path.join(dir, `out-${name}`);
    const r = await deidentifyFile(path.join(dir, name), out, { key: KEY, profile: PROFILE });
    assert.deepEqual(r, { status: "failed", reason }, name);
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("out-")), [], "no output");
  }
});

Deno.test({
  name: "deidentifyFile() output passes dciodvfy when its input does",
  ignore: !(await Deno.stat("/usr/bin/dciodvfy").then(() => true, () => false)),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "deid-" });
    const { file } = await oneCt(dir, "dciodvfy");
    const out = path.join(dir, "out.dcm");
    await deidentifyFile(file, out, { key: KEY, profile: PROFILE });
    const errors = async (f: string) => {
      const r = await new Deno.Command("/usr/bin/dciodvfy", { args: [f], stdout: "piped", stderr: "piped" })
        .output();
      return (new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr)).split("\n").filter((
        l,
      ) => /^Error/.test(l));
    };
    assert.deepEqual(await errors(file), []);
    assert.deepEqual(await errors(out), []);
  },
});

Deno.test("deidentifyFile() adds the method code sequence and trial attributes, replacing earlier values", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-" });
  const { file } = await oneCt(dir, "trial");
  const once = path.join(dir, "once.dcm");
  const twice = path.join(dir, "twice.dcm");
  const trial = { sponsorName: "ACME", protocolId: "P-1", siteId: "north" };
  await deidentifyFile(file, once, { key: KEY, profile: PROFILE, trial });
  // A second pass over an output replaces the added elements instead of doubling them.
  await deidentifyFile(once, twice, {
    key: KEY,
    profile: BASIC,
  });
  for (const [f, codes] of [[once, ["113100", "113107"]], [twice, ["113100"]]] as const) {
    const { ds, get } = parsed(await Deno.readFile(f));
    const seq = findElement(ds, 0x00120064)!;
    const bytes = await Deno.readFile(f);
    assert.deepEqual(seq.items!.map((item) => stringValue(bytes, findElement(item, 0x00080100)!)), codes);
    for (const item of seq.items!) assert.equal(stringValue(bytes, findElement(item, 0x00080102)!), "DCM");
    assert.equal(ds.elements.filter((e) => e.tag === 0x00120062).length, 1, "one Patient Identity Removed");
    if (f === once) {
      assert.equal(get(0x00120010), "ACME");
      assert.equal(get(0x00120030), "north");
      assert.equal(get(0x00120040), get(0x00100020), "the subject is the pseudonymous patient");
    }
  }
});

Deno.test("deidentifyFile() with hashDataset says where the written data set lies and its SHA-256", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-" });
  const small = (await oneCt(dir, "hash-small")).file;
  const [bigSpec] = generateStudies({
    seed: "hash-big",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 2100,
    columns: 2100,
  });
  const big = path.join(dir, "big.dcm"); // above the size read whole: header read, the rest copied
  await Deno.writeFile(big, generateInstance(bigSpec));
  const deflated = "/usr/lib/python3/dist-packages/pydicom/data/test_files/image_dfl.dcm";
  const inputs = [small, big];
  if (await Deno.stat(deflated).then(() => true, () => false)) inputs.push(deflated);
  for (const input of inputs) {
    const out = path.join(dir, "out.dcm");
    const req = { key: KEY, profile: BASIC, allowBurnedIn: true }; // the deflated file is an OT image
    const result = await deidentifyFile(input, out, { ...req, hashDataset: true });
    assert.equal(result.status, "done", input);
    if (result.status !== "done") continue;
    const bytes = await Deno.readFile(out);
    const offset = readPart10Header(bytes).datasetOffset;
    assert.equal(result.bytes, bytes.length, input);
    assert.deepEqual(result.dataset, {
      offset,
      size: bytes.length - offset,
      sha256: createHash("sha256").update(bytes.subarray(offset)).digest("hex"),
    }, input);
    const plain = await deidentifyFile(input, out, req);
    assert.equal(plain.status === "done" && plain.dataset, undefined, "not asked, not hashed");
  }
  await Deno.remove(dir, { recursive: true });
});
