/**
 * A custom profile file with tag ranges and private attributes by creator, through `agent deid` over
 * pydicom's CT_small.dcm and the variants of it in tests/support/private_fixtures.ts (private blocks nested,
 * relocated, reserved by another creator, a private sequence, an overlay). What the profile names ends as
 * it says; the rest as the Basic Profile says (the independent walk of Table E.1-1); the same key gives
 * the same bytes, on one thread or on workers.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { type DataSet, type Element } from "@conduit/shared/dicom";
import { agentCli } from "../support/agent.ts";
import { parsePart10, walk } from "../support/ps315_walk.ts";
import {
  CT_SMALL,
  CUSTOM_PROFILE,
  privateFixturesSkip,
  writePrivateFixtures,
} from "../support/private_fixtures.ts";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { standardProfile } from "../../agent/deid/profile.ts";
import { parseProfileFile } from "../../agent/deid/profile_file.ts";

const skip = await privateFixturesSkip();
if (skip) console.warn(`custom_profile_test: skipped: ${skip}`);

/** What the profile names (the walk leaves these to the checks below). */
const NAMED_STANDARD = (tag: number) =>
  tag === 0x00080080 || (tag >>> 8) === 0x000810 || (tag >>> 8) === 0x001811 ||
  ((tag & 0xff00ffff) >>> 0) === 0x60003000;
const NAMED_PRIVATE: [number, string, number | undefined][] = [
  [0x0009, "GEMS_IDEN_01", 0x04],
  [0x0009, "GEMS_IDEN_01", 0x01],
  [0x0009, "GEMS_IDEN_01", 0xe6],
  [0x0019, "GEMS_ACQU_01", undefined],
  [0x0043, "GEMS_PARM_01", 0x28],
  [0x0027, "GEMS_IMAG_01", 0x41],
  [0x0033, "CONDUIT_TEST", undefined],
];
const exempt = (tag: number, creator: string | undefined) => {
  if (creator === undefined) return NAMED_STANDARD(tag);
  const group = tag >>> 16;
  const isCreator = (tag & 0xffff) <= 0xff;
  return NAMED_PRIVATE.some(([g, c, e]) =>
    g === group && c === creator && (isCreator || e === undefined || e === (tag & 0xff))
  );
};

/** Every element of a file by its path, `(gggg,eeee)[i](gggg,eeee)`, with its VR, length and trimmed text. */
function flatten(
  bytes: Uint8Array,
): Map<string, { vr: string; length: number; text: string; raw: Uint8Array }> {
  const p = parsePart10(bytes);
  const out = new Map<string, { vr: string; length: number; text: string; raw: Uint8Array }>();
  const visit = (ds: DataSet, where: string) => {
    for (const el of ds.elements) {
      const h = (el.tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
      const here = `${where}(${h.slice(0, 4)},${h.slice(4)})`;
      out.set(here, entry(p.bytes, el));
      el.items?.forEach((item, i) => visit(item, `${here}[${i}]`));
    }
  };
  visit(p.dataset, "");
  return out;
}
function entry(bytes: Uint8Array, el: Element) {
  const raw = el.length > 0 ? bytes.subarray(el.valueOffset, el.valueOffset + el.length) : new Uint8Array();
  let text = "";
  for (const c of raw) text += String.fromCharCode(c);
  return {
    vr: el.vr,
    length: el.items ? el.items.length : el.length,
    text: text.replace(/[\0 ]+$/, ""),
    raw,
  };
}

Deno.test({
  name:
    "agent deid --profile-file: ranges and private attributes by creator, at any depth, the rest as Basic",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "deid-custom-" });
    try {
      const inDir = path.join(dir, "in");
      await writePrivateFixtures(inDir);
      await Deno.writeTextFile(path.join(dir, "profile.json"), JSON.stringify(CUSTOM_PROFILE, null, 2));
      await Deno.writeFile(path.join(dir, "key"), new TextEncoder().encode("the custom profile test's key!"));
      const run = async (out: string, jobs: string) => {
        const r = await agentCli([
          "deid",
          "--profile",
          "basic",
          "--profile-file",
          path.join(dir, "profile.json"),
          "--key-file",
          path.join(dir, "key"),
          "--in",
          inDir,
          "--out",
          path.join(dir, out),
          "--jobs",
          jobs,
          "--json",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { done: 3, held: [], failed: [], skipped: [] });
        // The outputs are named by their new SOP Instance UIDs: sorted, they follow the inputs' sort only
        // by chance, so each is matched to its input by what it holds.
        return [...Deno.readDirSync(path.join(dir, out))].map((e) => path.join(dir, out, e.name)).sort();
      };
      // On the command's thread, then on two workers (the custom layer crosses to them).
      const first = await run("out", "1");
      const second = await run("again", "2");
      assert.deepEqual(first.map((f) => path.basename(f)), second.map((f) => path.basename(f)));
      for (const [i, f] of first.entries()) {
        assert.ok(
          Buffer.from(Deno.readFileSync(f)).equals(Buffer.from(Deno.readFileSync(second[i]))),
          `${path.basename(f)}: the same key gives the same bytes`,
        );
      }

      // A malformed entry stops the command before any object, naming the file and the entry.
      const bad = path.join(dir, "bad.json");
      await Deno.writeTextFile(
        bad,
        JSON.stringify({ actions: { ...CUSTOM_PROFILE.actions, "(0009,GEMS_IDEN_01,4)": "K" } }),
      );
      const refused = await agentCli(
        ["deid", "--profile", "basic", "--profile-file", bad, "--key-file", path.join(dir, "key")]
          .concat(["--in", inDir, "--out", path.join(dir, "never")]),
      );
      assert.equal(refused.code, 2);
      assert.match(
        refused.stderr,
        /agent deid: profile .*bad\.json: actions: "\(0009,GEMS_IDEN_01,4\)": the element must be two hex digits/,
      );
      assert.equal(
        await Deno.stat(path.join(dir, "never")).then(() => true, () => false),
        false,
        "no output",
      );

      const inputs = new Map<string, Uint8Array>();
      for (const name of ["explicit.dcm", "implicit.dcm", "ct_small.dcm"]) {
        inputs.set(name, Deno.readFileSync(path.join(inDir, name)));
      }
      const byKind = new Map<string, ReturnType<typeof flatten>>();
      for (const f of first) {
        const bytes = Deno.readFileSync(f);
        const flat = flatten(bytes);
        const kind = !flat.has("(0008,9215)")
          ? "ct_small.dcm"
          : parsePart10(bytes).syntax === "1.2.840.10008.1.2"
          ? "implicit.dcm"
          : "explicit.dcm";
        assert.ok(!byKind.has(kind), `${kind} twice`);
        byKind.set(kind, flat);
        // Everything the profile does not name, as the Basic Profile says (independently of the engine).
        const breaches = walk(inputs.get(kind)!, bytes, [], exempt);
        assert.deepEqual(breaches, [], kind);
      }
      assert.equal(byKind.size, 3);

      for (const [kind, out] of byKind) {
        const input = flatten(inputs.get(kind)!);
        const text = (p: string) => out.get(p)?.text;
        const msg = (p: string) => `${kind}: ${p}`;
        // Ranges: (0008,10xx) K keeps Station Name and Manufacturer's Model Name (the table: X/Z/D, not
        // listed); (0008,1030) X, exact, wins over the range that would keep it.
        assert.equal(text("(0008,1010)"), "CT01_OC0", msg("(0008,1010)"));
        assert.equal(text("(0008,1090)"), "RHAPSODE", msg("(0008,1090)"));
        assert.equal(out.has("(0008,1030)"), false, msg("(0008,1030)"));
        // (0018,11xx) X removes attributes the table does not list.
        for (const p of ["(0018,1100)", "(0018,1110)", "(0018,1150)", "(0018,1160)", "(0018,1190)"]) {
          assert.ok(input.has(p) && !out.has(p), msg(p));
        }
        assert.equal(text("(0018,1210)"), "STANDARD", "(0018,12xx) is not in the range: kept (not listed)");
        // GEMS_IDEN_01: element 04 kept (K), 01 replaced (D), every other element of the block removed.
        assert.equal(text("(0009,0010)"), "GEMS_IDEN_01", msg("the kept element's creator stays"));
        assert.equal(text("(0009,1004)"), "HiSpeed CT/i", msg("(0009,1004) K"));
        const replaced = out.get("(0009,1001)")!;
        assert.ok(replaced, msg("(0009,1001) D"));
        assert.ok(replaced.length > 0 && replaced.text !== "GE_GENESIS_FF", msg("(0009,1001) D"));
        for (const p of ["(0009,1002)", "(0009,1027)", "(0009,10E7)"]) {
          assert.equal(out.has(p), false, msg(p));
        }
        // Replacement values (Orthanc's Replace): the given text, not a dummy; as text where the private
        // element is sent as UN.
        assert.equal(text("(0009,10E6)"), "SCANNER-A", msg("(0009,10E6) D with a value"));
        assert.equal(text("(0008,0080)"), "TRIAL SITE 3", msg("Institution Name D with a value"));
        // GEMS_ACQU_01: the whole block kept, but element 03 emptied (the more specific entry).
        assert.equal(text("(0019,0010)"), "GEMS_ACQU_01");
        assert.equal(text("(0019,1004)"), input.get("(0019,1004)")!.text, msg("(0019,1004)"));
        assert.equal(text("(0019,10DE)"), input.get("(0019,10DE)")!.text, msg("(0019,10DE)"));
        assert.equal(out.get("(0019,1003)")?.length, 0, msg("(0019,1003) Z"));
        // GEMS_PARM_01 (0043,1028) OB and GEMS_IMAG_01 (0027,1041) FL: D zeroes their bytes (sent as UN in
        // the implicit file, their VR unknown), the rest of their blocks goes.
        for (const p of ["(0043,1028)", "(0027,1041)"]) {
          const o = out.get(p)!;
          assert.ok(o, msg(p));
          assert.equal(o.raw.length, input.get(p)!.raw.length, msg(p));
          assert.ok(o.raw.every((b) => b === 0), msg(p));
        }
        assert.equal(text("(0043,0010)"), "GEMS_PARM_01");
        assert.equal(out.has("(0043,1029)"), false);
        assert.equal(out.has("(0027,1042)"), false);
        // Blocks the profile does not name go whole, creators included.
        for (const p of ["(0011,0010)", "(0011,1010)", "(0021,0010)", "(0021,1003)", "(0029,0010)"]) {
          assert.equal(out.has(p), false, msg(p));
        }
        if (kind === "ct_small.dcm") continue;

        // Nested one deep: the block position GEMS_IDEN_01 has at the top level (0009,10xx) is another
        // creator's here and goes; GEMS_IDEN_01's element 04 at its own block (0009,11xx) stays.
        const n = "(0008,9215)[0]";
        assert.equal(text(`${n}(0008,0104)`), "nested code", msg("the standard sequence is kept"));
        assert.equal(out.has(`${n}(0009,0010)`), false, msg("OTHER_VENDOR's creator"));
        assert.equal(out.has(`${n}(0009,1004)`), false, msg("OTHER_VENDOR's (0009,1004)"));
        assert.equal(text(`${n}(0009,0011)`), "GEMS_IDEN_01", msg("the relocated creator"));
        assert.equal(text(`${n}(0009,1104)`), "RELOCATED", msg("the relocated element 04"));
        assert.equal(out.has(`${n}(0009,1102)`), false, msg("the relocated element 02"));
        // Two deep: a creator in other case is another creator; "GEMS_ACQU_01 " trimmed is the one.
        const d = `${n}(0040,0260)[0]`;
        assert.equal(out.has(`${d}(0019,0010)`), false, msg("gems_acqu_01"));
        assert.equal(out.has(`${d}(0019,1002)`), false, msg("gems_acqu_01's element"));
        assert.equal(text(`${d}(0019,0020)`), "GEMS_ACQU_01", msg("the padded creator"));
        assert.equal(out.get(`${d}(0019,2003)`)?.length, 0, msg("element 03 emptied"));
        assert.equal(text(`${d}(0019,2004)`), "1.5", msg("element 04 kept"));
        // A kept private sequence: its private content kept, its standard content judged as Basic says
        // (Referring Physician's Name Z, Protocol Name X/D).
        assert.equal(out.get("(0033,1001)")?.length, 1, msg("the private sequence kept"));
        const s = "(0033,1001)[0]";
        assert.equal(text(`${s}(0033,1002)`), "INNER-KEPT", msg("inner private"));
        assert.equal(text(`${s}(0033,0010)`), "CONDUIT_TEST", msg("inner creator"));
        assert.equal(out.get(`${s}(0008,0090)`)?.length ?? 0, 0, msg("inner Referring Physician's Name"));
        const protocol = out.get(`${s}(0018,1030)`);
        assert.ok(!protocol || protocol.text !== "inner protocol", msg("inner Protocol Name"));
        // The overlay: (60xx,3000) K keeps its data, so its group stays; Overlay Comments X as the table.
        assert.equal(out.get("(6000,3000)")?.raw.join(), "0,1,2,3,4,5,6,7", msg("Overlay Data"));
        assert.equal(text("(6000,0040)"), "G", msg("Overlay Type stays with its plane"));
        assert.equal(out.has("(6000,4000)"), false, msg("Overlay Comments"));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a custom profile's private entries win over Retain Safe Private's list, element before block",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "deid-custom-safe-" });
    try {
      const { options, layer } = parseProfileFile(
        JSON.stringify({
          options: ["retain-safe-private"],
          actions: {
            '(0019,"GEMS_ACQU_01",xx)': "Z", // the block: its safe elements emptied too
            '(0019,"GEMS_ACQU_01",23)': "X", // on the safe list: removed all the same
            '(0019,"GEMS_ACQU_01",27)': "K", // kept: the element before the block
          },
        }),
        "safe.json",
      );
      const out = path.join(dir, "out.dcm");
      const r = await deidentifyFile(CT_SMALL, out, {
        key: new TextEncoder().encode("safe private and custom"),
        profile: standardProfile(options, layer),
        sync: false,
      });
      assert.equal(r.status, "done");
      const input = flatten(Deno.readFileSync(CT_SMALL));
      const o = flatten(Deno.readFileSync(out));
      assert.equal(o.has("(0019,1023)"), false, "custom X over the safe list");
      assert.equal(o.get("(0019,1024)")?.length, 0, "the block's Z over the safe list");
      assert.equal(o.get("(0019,1002)")?.length, 0, "the block's Z");
      assert.equal(
        o.get("(0019,1027)")?.text,
        input.get("(0019,1027)")!.text,
        "the element's K over the block",
      );
      assert.equal(o.get("(0019,0010)")?.text, "GEMS_ACQU_01");
      assert.equal(
        o.get("(0043,1027)")?.text,
        input.get("(0043,1027)")!.text,
        "the safe list where no entry",
      );
      assert.equal(o.get("(0043,0010)")?.text, "GEMS_PARM_01");
      assert.equal(o.has("(0043,1010)"), false, "neither named nor safe: removed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
