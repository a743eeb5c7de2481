import assert from "node:assert/strict";
import { TransferSyntax } from "@conduit/shared/dicom";
import { encodeIdentifier } from "./identifier_codec.ts";
import { libraryEncode } from "./_library.ts";

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
