import assert from "node:assert/strict";
import { TransferSyntax } from "@conduit/shared/dicom";
import { encodeIdentifier } from "./identifier_codec.ts";
import { Buffer } from "node:buffer";
import { Dataset, libraryEncode } from "./_library.ts";
import { implicitElement } from "../../tests/support/pdu_dimse.ts";

const SYNTAXES = [TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian];

/** Identifiers as the agent answers and asks them (agent/query/find.ts, scu.ts, nodes/operations.ts). */
const IDENTIFIERS: Record<string, unknown>[] = [
  {
    QueryRetrieveLevel: "STUDY",
    RetrieveAETitle: "CONDUIT",
    PatientName: [{ Alphabetic: "DOE^JANE" }],
    PatientID: "PAT0001",
    PatientBirthDate: "19650507",
    StudyInstanceUID: "2.25.200752886220562949355131441331260475555",
    StudyDate: "20260101",
    StudyTime: "101500.123",
    StudyDescription: "CT ROUTINE",
    AccessionNumber: "",
    ModalitiesInStudy: ["CT", "SR"],
    NumberOfStudyRelatedInstances: 5,
    NumberOfStudyRelatedSeries: 12,
  },
  {
    QueryRetrieveLevel: "IMAGE",
    RetrieveAETitle: "BEE",
    StudyInstanceUID: "1.2.3",
    SeriesInstanceUID: "1.2.3.4",
    SOPInstanceUID: "1.2.3.4.5",
    SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
    InstanceNumber: 7,
  },
  // Requested keys with nothing to return, an odd and an even value, a person name asked as an object.
  { QueryRetrieveLevel: "SERIES", Modality: "", SeriesNumber: "", PatientName: [], SeriesDescription: "ABC" },
  { QueryRetrieveLevel: "PATIENT", PatientName: "SMITH*", PatientID: "", IssuerOfPatientID: "X" },
  { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", StudyDate: "20260101-20261231" },
  // UID lists (C-MOVE of several studies), as one string and as a list; an empty alphabetic name.
  { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3\\1.2.34", PatientName: [{ Alphabetic: "" }] },
  { QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2", SeriesInstanceUID: ["1.2.3", "1.2.45"] },
];

Deno.test("identifiers are encoded byte for byte as the library encodes them", () => {
  for (const ts of SYNTAXES) {
    for (const identifier of IDENTIFIERS) {
      const ours = encodeIdentifier(identifier, ts);
      assert.ok(ours, `encoded: ${JSON.stringify(identifier).slice(0, 80)}`);
      assert.deepEqual([...ours], [...libraryEncode(identifier, ts)], `${ts} ${JSON.stringify(identifier)}`);
    }
  }
});

Deno.test("what the codec does not write is left to the library", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "non-ASCII text",
      { PatientName: [{ Alphabetic: "MÜLLER^JÜRGEN" }] },
      TransferSyntax.ImplicitVRLittleEndian,
    ],
    [
      "a sequence",
      { ReferencedStudySequence: [{ ReferencedSOPInstanceUID: "1.2" }] },
      TransferSyntax.ImplicitVRLittleEndian,
    ],
    [
      "ideographic names",
      { PatientName: [{ Alphabetic: "A", Ideographic: "B" }] },
      TransferSyntax.ImplicitVRLittleEndian,
    ],
    ["a decimal string as a number", { SliceThickness: 1.25 }, TransferSyntax.ImplicitVRLittleEndian],
    ["an unknown keyword", { NotADicomKeyword: "x" }, TransferSyntax.ImplicitVRLittleEndian],
    ["big endian", { PatientID: "X" }, TransferSyntax.ExplicitVRBigEndian],
    [
      "an attribute of more than one VR",
      { SmallestImagePixelValue: 0 },
      TransferSyntax.ExplicitVRLittleEndian,
    ],
  ];
  for (const [what, identifier, ts] of cases) assert.equal(encodeIdentifier(identifier, ts), undefined, what);
});

/** An identifier as an SCU sends it (implicit VR little endian), read the way the SCP reads one. */
function received(elements: [tag: number, bytes: number[] | string][]): Record<string, unknown> {
  const parts = elements.map(([tag, v]) => {
    const bytes = typeof v === "string" ? [...v].map((c) => c.charCodeAt(0)) : v;
    return implicitElement(tag, new Uint8Array(bytes.length % 2 ? [...bytes, 0x20] : bytes));
  });
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  return new Dataset(Buffer.from(all), TransferSyntax.ImplicitVRLittleEndian).getElements();
}

Deno.test("identifiers are read under every value of their Specific Character Set, code extensions included", () => {
  const ESC = 0x1b;
  // PS3.5 H.3.1: =山田^太郎 (ideographic group only), JIS X 0208 between ESC $ B and ESC ( B.
  const japanese = received([
    [0x00080005, "\\ISO 2022 IR 87"],
    [0x00080052, "STUDY"],
    [0x00081030, [ESC, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, ESC, 0x28, 0x42]], // 山田
    [0x00100010, [
      0x3d,
      ...[ESC, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, ESC, 0x28, 0x42, 0x5e],
      ...[ESC, 0x24, 0x42, 0x42, 0x40, 0x4f, 0x3a, ESC, 0x28, 0x42],
    ]],
  ]);
  assert.deepEqual(japanese.PatientName, [{ Ideographic: "山田^太郎" }]);
  assert.equal(japanese.StudyDescription, "山田");
  // PS3.5 I.2: 김희중 in KS X 1001, designated into G1 by ESC $ ) C.
  const korean = received([
    [0x00080005, "\\ISO 2022 IR 149"],
    [0x00100010, [ESC, 0x24, 0x29, 0x43, 0xb1, 0xe8, 0xc8, 0xf1, 0xc1, 0xdf]],
    [0x00100020, [ESC, 0x24, 0x29, 0x43, 0xb1, 0xe8, 0x31]],
  ]);
  assert.deepEqual(korean.PatientName, [{ Alphabetic: "김희중" }]);
  assert.equal(korean.PatientID, "김1");
  // No character set but bytes above 7F anyway: ISO 8859-1, as stored objects are indexed.
  const latin = received([[0x00100010, "Buc^J\xe9r\xf4me"]]);
  assert.deepEqual(latin.PatientName, [{ Alphabetic: "Buc^Jérôme" }]);
  // ASCII values and the library's other readings are as before.
  const ascii = received([[0x00080005, "\\ISO 2022 IR 87"], [0x00100010, "Yamada*"], [0x00100020, "H31"]]);
  assert.deepEqual(ascii.PatientName, [{ Alphabetic: "Yamada*" }]);
  assert.equal(ascii.PatientID, "H31");
});
