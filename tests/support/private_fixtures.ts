/**
 * Test objects with private attributes where they are hard to find, and a custom profile that names them:
 * pydicom's CT_small.dcm (GE private blocks) and two variants pydicom makes of it at test time (explicit and
 * implicit VR; nothing generated is committed): private blocks nested two sequences deep, a block reserved by
 * another creator at the position the GE creator has at the top level, the GE creator at another block, a
 * creator in other case and one padded with a space, a private sequence holding standard attributes, and an
 * overlay plane. Used by tests/deid/custom_profile_test.ts (the command) and tests/interop (a route).
 */
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR } from "./test_files.ts";
import { pydicomSkip, runPydicom } from "./pydicom.ts";

export const CT_SMALL = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");

/** Why the fixtures cannot be made here (no pydicom, no CT_small.dcm), or undefined when they can. */
export async function privateFixturesSkip(): Promise<string | undefined> {
  const noPydicom = await pydicomSkip();
  if (noPydicom) return noPydicom;
  return await Deno.stat(CT_SMALL).then(() => undefined, () => `no ${CT_SMALL}`);
}

/** Makes the two variants of CT_small.dcm. */
const GENERATE = `
import sys, copy
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
src, out_explicit, out_implicit = sys.argv[1:4]
ds = pydicom.dcmread(src)
def item_with(*els):
    it = Dataset()
    for tag, vr, value in els:
        it.add_new(tag, vr, value)
    return it
deep = item_with(
    (0x00080100, "SH", "P1"), (0x00080102, "SH", "99TEST"), (0x00080104, "LO", "deep code"),
    (0x00190010, "LO", "gems_acqu_01"), (0x00191002, "SL", 7),
    (0x00190020, "LO", "GEMS_ACQU_01 "), (0x00192003, "DS", "9.5"), (0x00192004, "DS", "1.5"),
)
first = item_with(
    (0x00080100, "SH", "D1"), (0x00080102, "SH", "99TEST"), (0x00080104, "LO", "nested code"),
    (0x00090010, "LO", "OTHER_VENDOR"), (0x00091004, "SH", "DECOY-1004"),
    (0x00090011, "LO", "GEMS_IDEN_01"), (0x00091104, "SH", "RELOCATED"), (0x00091102, "SH", "NESTED-CT01"),
)
first.add_new(0x00400260, "SQ", Sequence([deep]))
ds.add_new(0x00089215, "SQ", Sequence([first]))
inner = item_with(
    (0x00080090, "PN", "REFERRING^INSIDE"), (0x00181030, "LO", "inner protocol"),
    (0x00330010, "LO", "CONDUIT_TEST"), (0x00331002, "LO", "INNER-KEPT"),
)
ds.add_new(0x00330010, "LO", "CONDUIT_TEST")
ds.add_new(0x00331001, "SQ", Sequence([inner]))
ds.add_new(0x60000010, "US", 8)
ds.add_new(0x60000011, "US", 8)
ds.add_new(0x60000040, "CS", "G")
ds.add_new(0x60000050, "SS", [1, 1])
ds.add_new(0x60000100, "US", 1)
ds.add_new(0x60000102, "US", 0)
ds.add_new(0x60003000, "OW", bytes(range(8)))
ds.add_new(0x60004000, "LT", "overlay comment")
ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
ds.save_as(out_explicit, write_like_original=False)
ds2 = copy.deepcopy(ds)
ds2.SOPInstanceUID = ds.SOPInstanceUID + ".8"
ds2.file_meta.MediaStorageSOPInstanceUID = ds2.SOPInstanceUID
ds2.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
ds2.is_implicit_VR = True
ds2.is_little_endian = True
ds2.save_as(out_implicit, write_like_original=False)
`;

/**
 * Writes `explicit.dcm`, `implicit.dcm` (the variants) and `ct_small.dcm` (a copy) into `dir`; returns
 * their paths in that order.
 */
export async function writePrivateFixtures(dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const files = ["explicit.dcm", "implicit.dcm", "ct_small.dcm"].map((f) => path.join(dir, f));
  await runPydicom(GENERATE, [CT_SMALL, files[0], files[1]]);
  await Deno.copyFile(CT_SMALL, files[2]);
  return files;
}

/** A custom profile (docs/deidentification.md#custom-profiles) that names attributes of the fixtures. */
export const CUSTOM_PROFILE = {
  name: "qa-custom",
  actions: {
    "(0008,10xx)": "K",
    "(0008,1030)": "X",
    "(0018,11xx)": "X",
    "(60xx,3000)": "K",
    '(0009,"GEMS_IDEN_01",04)': "K",
    "(0009,GEMS_IDEN_01,01)": "D",
    "(0009,GEMS_IDEN_01,E6)": { action: "D", value: "SCANNER-A" },
    InstitutionName: { action: "D", value: "TRIAL SITE 3" },
    '(0019,"GEMS_ACQU_01",xx)': "K",
    '(0019,"GEMS_ACQU_01",03)': "Z",
    '(0043,"GEMS_PARM_01",xx28)': "D",
    '(0027,"GEMS_IMAG_01",41)': "D",
    '(0033,"CONDUIT_TEST",xx)': "K",
  },
};
