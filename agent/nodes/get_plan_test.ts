import assert from "node:assert/strict";
import { TransferSyntax } from "@conduit/shared/dicom";
import { Status } from "../dimse/handlers.ts";
import { MAX_CONTEXTS } from "../dimse/scu.ts";
import {
  combineResults,
  type ListedInstance,
  listedInstance,
  planGet,
  planRetry,
  syntaxesFor,
  UNCOMPRESSED,
  unknownClassContexts,
} from "./get_plan.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const SR = "1.2.840.10008.5.1.4.1.1.88.22";
const VIDEO = "1.2.840.10008.5.1.4.1.1.77.1.4.1";
const STUDY = "1.2.3";
const ask = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: STUDY };

const listed = (n: number, sopClassUid: string, series = "1.2.3.1"): ListedInstance[] =>
  Array.from({ length: n }, (_, i) => ({
    sopInstanceUid: `${series}.${sopClassUid.split(".").at(-1)}.${i}`,
    sopClassUid,
    seriesInstanceUid: series,
  }));

Deno.test("C-GET contexts: one per SOP class and syntax, the uncompressed ones together, in one C-GET as asked", () => {
  const steps = planGet(ask, [...listed(3, CT), ...listed(1, SR), ...listed(1, VIDEO)]);
  assert.equal(steps.length, 1);
  assert.deepEqual(steps[0].identifiers, [ask]);
  const of = (c: string) =>
    steps[0].contexts.filter((x) => x.sopClassUid === c).map((x) => x.transferSyntaxes);
  // Each context but the first lists one syntax: the node cannot choose one the object is not in.
  for (const c of [CT, SR, VIDEO]) {
    assert.deepEqual(of(c)[0], UNCOMPRESSED);
    assert.ok(of(c).slice(1).every((ts) => ts.length === 1));
  }
  const ct = of(CT).flat();
  for (const ts of [TransferSyntax.JpegBaseline, TransferSyntax.JpegLsLossless, TransferSyntax.Jpeg2000]) {
    assert.ok(ct.includes(ts), ts);
  }
  assert.ok(
    ct.includes(TransferSyntax.HtJpeg2000) && ct.includes("1.2.840.10008.1.2.4.110"),
    "HTJ2K, JPEG XL",
  );
  assert.ok(!ct.includes(TransferSyntax.Mpeg4), "no video syntax for CT");
  assert.ok(
    of(VIDEO).flat().includes(TransferSyntax.Mpeg4) && of(VIDEO).flat().includes(TransferSyntax.Hevc),
  );
  // A structured report has no pixel data to compress.
  assert.deepEqual(of(SR).flat().sort(), [...UNCOMPRESSED, ...syntaxesFor(SR)].sort());
  assert.ok(!of(SR).flat().includes(TransferSyntax.JpegBaseline));
});

Deno.test("C-GET contexts: the syntaxes the node lists in Available Transfer Syntax UID, when it does", () => {
  const instances = listed(2, CT).map((l, i) => ({
    ...l,
    availableTransferSyntaxes: [i ? TransferSyntax.JpegLsLossless : TransferSyntax.ExplicitVRLittleEndian],
  }));
  const [step] = planGet(ask, instances);
  assert.deepEqual(step.contexts, [
    { sopClassUid: CT, transferSyntaxes: UNCOMPRESSED },
    { sopClassUid: CT, transferSyntaxes: [TransferSyntax.JpegLsLossless] },
  ]);
  // One instance without it: every syntax, as for a node that never says.
  const [all] = planGet(ask, [...instances, ...listed(1, CT, "1.2.3.9")]);
  assert.equal(all.contexts.length, 1 + syntaxesFor(CT).length);
});

Deno.test("C-GET contexts: a listed Implicit VR Little Endian gets a context of its own, so it is not re-encoded", () => {
  const instances = listed(2, CT).map((l, i) => ({
    ...l,
    availableTransferSyntaxes: [
      i ? TransferSyntax.ImplicitVRLittleEndian : TransferSyntax.ExplicitVRLittleEndian,
    ],
  }));
  const [step] = planGet(ask, instances);
  assert.deepEqual(step.contexts, [
    { sopClassUid: CT, transferSyntaxes: UNCOMPRESSED },
    { sopClassUid: CT, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
  ]);
});

Deno.test("C-GET contexts: too many for one association: series packed over several, each by a C-GET at SERIES level", () => {
  // 12 image classes in 12 series: 12 × 20 contexts, 6 series per association.
  const classes = Array.from({ length: 12 }, (_, i) => `1.2.840.10008.5.1.4.1.1.${100 + i}`);
  const instances = classes.flatMap((c, i) => listed(2, c, `1.2.3.${i + 1}`));
  const steps = planGet(ask, instances);
  assert.ok(steps.length > 1);
  const series = steps.flatMap((s) => s.identifiers);
  assert.deepEqual(series.map((id) => id.SeriesInstanceUID), classes.map((_, i) => `1.2.3.${i + 1}`));
  assert.ok(series.every((id) => id.QueryRetrieveLevel === "SERIES" && id.StudyInstanceUID === STUDY));
  for (const step of steps) {
    assert.ok(step.contexts.length <= MAX_CONTEXTS - 1, `${step.contexts.length} contexts`);
    // Every class a series of the step holds has its contexts there.
    for (const id of step.identifiers) {
      const c = instances.find((l) => l.seriesInstanceUid === id.SeriesInstanceUID)!.sopClassUid;
      assert.equal(step.contexts.filter((x) => x.sopClassUid === c).length, 1 + syntaxesFor(c).length);
    }
  }
});

Deno.test("C-GET contexts: a series whose classes alone exceed an association goes instance by instance", () => {
  const classes = Array.from({ length: 9 }, (_, i) => `1.2.840.10008.5.1.4.1.1.${100 + i}`);
  const instances = classes.flatMap((c) => listed(2, c, "1.2.3.7"));
  const steps = planGet({ ...ask, QueryRetrieveLevel: "SERIES", SeriesInstanceUID: "1.2.3.7" }, instances);
  assert.ok(steps.length >= 2);
  const ids = steps.flatMap((s) => s.identifiers);
  assert.deepEqual(ids.map((id) => id.SOPInstanceUID).sort(), instances.map((l) => l.sopInstanceUid).sort());
  assert.ok(ids.every((id) => id.QueryRetrieveLevel === "IMAGE" && id.SeriesInstanceUID === "1.2.3.7"));
  for (const step of steps) {
    assert.ok(step.contexts.length <= MAX_CONTEXTS - 1);
    for (const id of step.identifiers) {
      const c = instances.find((l) => l.sopInstanceUid === id.SOPInstanceUID)!.sopClassUid;
      assert.ok(step.contexts.some((x) => x.sopClassUid === c));
    }
  }
});

Deno.test("C-GET contexts: nothing listed, nothing to retrieve", () => {
  assert.deepEqual(planGet(ask, []), []);
});

Deno.test("C-GET results of several associations: counts summed, the gravest status kept", () => {
  const r = (status: number, completed = 1, failed = 0, warning = 0) => ({
    status,
    completed,
    failed,
    warning,
  });
  assert.deepEqual(combineResults([r(Status.Success), r(Status.Success, 2)]), r(Status.Success, 3));
  assert.equal(combineResults([r(Status.Success), r(Status.Warning, 1, 0, 1)]).status, Status.Warning);
  assert.equal(combineResults([r(0xa702, 0, 1), r(Status.Warning), r(Status.Cancel)]).status, 0xa702);
  assert.equal(combineResults([]).status, Status.Success);
});

Deno.test("C-FIND matches as listed instances: Available Transfer Syntax UID as one value, several or a list", () => {
  const base = { SOPInstanceUID: "1.2.3.4", SOPClassUID: CT, SeriesInstanceUID: "1.2.3" };
  assert.deepEqual(listedInstance({ ...base, AvailableTransferSyntaxUID: TransferSyntax.JpegBaseline }), {
    sopInstanceUid: "1.2.3.4",
    sopClassUid: CT,
    seriesInstanceUid: "1.2.3",
    availableTransferSyntaxes: [TransferSyntax.JpegBaseline],
  });
  const two = [TransferSyntax.JpegBaseline, TransferSyntax.ExplicitVRLittleEndian];
  assert.deepEqual(
    listedInstance({ ...base, AvailableTransferSyntaxUID: two })?.availableTransferSyntaxes,
    two,
  );
  assert.deepEqual(
    listedInstance({ ...base, AvailableTransferSyntaxUID: two.join("\\") })?.availableTransferSyntaxes,
    two,
  );
  // Empty, absent or not a UID: not said.
  for (const v of ["", undefined, null, "JPEG", ["", "x"]]) {
    assert.equal(
      listedInstance({ ...base, AvailableTransferSyntaxUID: v })?.availableTransferSyntaxes,
      undefined,
    );
  }
  assert.equal(listedInstance({ SOPClassUID: CT }), undefined);
  assert.equal(listedInstance({ SOPInstanceUID: "1.2.3.5" })?.seriesInstanceUid, undefined);
});

Deno.test("C-GET contexts: instances listed without their SOP class get the common classes, within one association", () => {
  const guessed = unknownClassContexts();
  assert.ok(guessed.length <= MAX_CONTEXTS - 1, `${guessed.length}`);
  const has = (c: string, ts: string) =>
    guessed.some((x) => x.sopClassUid === c && x.transferSyntaxes.includes(ts));
  assert.ok(has(CT, TransferSyntax.ExplicitVRLittleEndian) && has(CT, TransferSyntax.JpegLsLossless));
  assert.ok(has(SR, TransferSyntax.ImplicitVRLittleEndian) && has(VIDEO, TransferSyntax.Mpeg4));
  // All unknown (dcmqrscp): one C-GET as asked.
  const unknown = listed(3, "").map((l) => ({ ...l, sopClassUid: "" }));
  assert.deepEqual(planGet(ask, unknown), [{ contexts: guessed, identifiers: [ask] }]);
  // Beside known classes that do not fit with them: the unknown ones' series on an association of their own.
  const steps = planGet(ask, [
    ...listed(1, CT, "1.2.3.1"),
    ...unknown.map((l) => ({ ...l, seriesInstanceUid: "1.2.3.2" })),
  ]);
  assert.equal(steps.length, 2);
  assert.deepEqual(steps[1], {
    contexts: guessed,
    identifiers: [{ QueryRetrieveLevel: "SERIES", StudyInstanceUID: STUDY, SeriesInstanceUID: "1.2.3.2" }],
  });
});

Deno.test("C-GET second pass: IMAGE level, without the uncompressed contexts, nothing for a class with none else", () => {
  const jpeg = { ...listed(1, CT)[0], availableTransferSyntaxes: [TransferSyntax.JpegBaseline] };
  const plain = {
    ...listed(1, SR, "1.2.3.9")[0],
    availableTransferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
  };
  const unknown = { sopInstanceUid: "1.2.3.8.1", sopClassUid: "", seriesInstanceUid: "1.2.3.8" };
  const steps = planRetry(ask, [jpeg, plain, unknown]);
  assert.deepEqual(steps[0].contexts[0], {
    sopClassUid: CT,
    transferSyntaxes: [TransferSyntax.JpegBaseline],
  });
  const contexts = steps.flatMap((s) => s.contexts);
  assert.ok(contexts.every((c) => c.transferSyntaxes !== UNCOMPRESSED && c.transferSyntaxes.length === 1));
  assert.ok(steps.every((s) => s.contexts.length <= MAX_CONTEXTS - 1));
  assert.deepEqual(
    steps.flatMap((s) => s.identifiers),
    [jpeg, unknown].map((l) => ({
      QueryRetrieveLevel: "IMAGE",
      StudyInstanceUID: STUDY,
      SeriesInstanceUID: l.seriesInstanceUid,
      SOPInstanceUID: l.sopInstanceUid,
    })),
  );
  assert.deepEqual(planRetry(ask, [plain]), []);
  // Without the node's list: the compressions first, Big Endian and Deflated last.
  const [ct] = planRetry(ask, listed(1, CT));
  assert.deepEqual(ct.contexts.slice(-2).map((c) => c.transferSyntaxes[0]), syntaxesFor(CT).slice(0, 2));
  assert.equal(ct.contexts[0].transferSyntaxes[0], TransferSyntax.JpegBaseline);
});

Deno.test("C-GET contexts: a series opening a new association brings every class it holds, also ones the last had", () => {
  const cls = (i: number) => `1.2.840.10008.5.1.4.1.1.${100 + i}`;
  // Six series of one class each fill an association (120 contexts); the seventh holds the first class
  // and a new one: it goes on the next association, with both.
  const instances = [
    ...Array.from({ length: 6 }, (_, i) => listed(1, cls(i), `1.2.3.${i + 1}`)).flat(),
    ...listed(1, cls(0), "1.2.3.7"),
    ...listed(1, cls(6), "1.2.3.7"),
  ];
  const steps = planGet(ask, instances);
  assert.equal(steps.length, 2);
  assert.deepEqual(steps[1].identifiers.map((id) => id.SeriesInstanceUID), ["1.2.3.7"]);
  assert.deepEqual([...new Set(steps[1].contexts.map((c) => c.sopClassUid))].sort(), [cls(0), cls(6)]);
});
