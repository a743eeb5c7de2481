// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { TransferSyntax } from "@conduit/shared/dicom";
import { MAX_CONTEXTS, proposal, storageGroups } from "./_propose.ts";

const syntaxesOf = (association: any) =>
  association.getPresentationContexts().map(({ id }: { id: number }) => {
    const pc = association.getPresentationContext(id);
    return `${pc.getAbstractSyntaxUid()} ${pc.getTransferSyntaxUids().join(",")}`;
  });

Deno.test("storage contexts: each stored pair alone, then one little endian fallback per SOP class that can use it", () => {
  const CT = "1.2.840.10008.5.1.4.1.1.2";
  const MR = "1.2.840.10008.5.1.4.1.1.4";
  const SC = "1.2.840.10008.5.1.4.1.1.7";
  const a = proposal("CONDUIT", "PEER", 65536, {
    storage: [
      { sopClassUid: CT, transferSyntax: TransferSyntax.ExplicitVRLittleEndian },
      { sopClassUid: CT, transferSyntax: TransferSyntax.ImplicitVRLittleEndian },
      { sopClassUid: MR, transferSyntax: TransferSyntax.ExplicitVRBigEndian },
      { sopClassUid: SC, transferSyntax: TransferSyntax.JpegBaseline },
      { sopClassUid: CT, transferSyntax: TransferSyntax.ExplicitVRLittleEndian },
    ],
  });
  const both = `${TransferSyntax.ExplicitVRLittleEndian},${TransferSyntax.ImplicitVRLittleEndian}`;
  assert.deepEqual(syntaxesOf(a), [
    `${CT} ${TransferSyntax.ExplicitVRLittleEndian}`,
    `${CT} ${TransferSyntax.ImplicitVRLittleEndian}`,
    `${MR} ${TransferSyntax.ExplicitVRBigEndian}`,
    `${SC} ${TransferSyntax.JpegBaseline}`,
    `${CT} ${both}`,
    `${MR} ${both}`,
  ]);
});

Deno.test("storage contexts: fallbacks only while the association holds fewer than 128 contexts", () => {
  const storage = Array.from({ length: 120 }, (_, i) => ({
    sopClassUid: `1.2.840.10008.5.1.4.1.1.${i + 1}`,
    transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
  }));
  const a = proposal("CONDUIT", "PEER", 65536, { storage });
  assert.equal(a.getPresentationContexts().length, MAX_CONTEXTS);
  const ids = a.getPresentationContexts().map(({ id }: { id: number }) => id);
  assert.equal(Math.max(...ids), 255);
});

Deno.test("C-GET storage contexts: one per SOP class and syntax list, one SCP role item per SOP class", () => {
  const CT = "1.2.840.10008.5.1.4.1.1.2";
  const MR = "1.2.840.10008.5.1.4.1.1.4";
  const uncompressed = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
  const a = proposal("CONDUIT", "PEER", 65536, {
    get: {
      models: ["study"],
      storage: [
        { sopClassUid: CT, transferSyntaxes: uncompressed },
        { sopClassUid: CT, transferSyntaxes: [TransferSyntax.JpegBaseline] },
        { sopClassUid: CT, transferSyntaxes: [TransferSyntax.JpegBaseline] },
        { sopClassUid: MR, transferSyntaxes: [TransferSyntax.Rle] },
      ],
    },
  });
  assert.deepEqual(syntaxesOf(a), [
    `1.2.840.10008.5.1.4.1.2.2.3 ${uncompressed.join(",")}`,
    `${CT} ${uncompressed.join(",")}`,
    `${CT} ${TransferSyntax.JpegBaseline}`,
    `${MR} ${TransferSyntax.Rle}`,
  ]);
  // The library writes a role selection item for every context with a role set.
  const roles = a.getPresentationContexts().map(({ id }: { id: number }) => a.getPresentationContext(id))
    .filter((pc: any) => pc.getProviderRole() === true).map((pc: any) => pc.getAbstractSyntaxUid());
  assert.deepEqual(roles, [CT, MR]);
});

Deno.test("storage groups: objects of more than 128 (SOP class, syntax) pairs split into groups that fit, in order", () => {
  const item = (c: number, ts: string, n: number) => ({
    sopClassUid: `1.2.840.10008.5.1.4.1.1.${c}`,
    transferSyntax: ts,
    sopInstanceUid: `1.2.3.${c}.${n}`,
  });
  const E = TransferSyntax.ExplicitVRLittleEndian;
  const J = TransferSyntax.JpegBaseline;
  // 100 classes in two syntaxes: 200 pairs, each twice.
  const items = [0, 1].flatMap((n) =>
    Array.from({ length: 100 }, (_, c) => [item(c, E, n), item(c, J, n)]).flat()
  );
  const groups = storageGroups(items);
  assert.equal(groups.length, 2);
  assert.deepEqual(
    groups.flat().map((i) => i.sopInstanceUid).sort(),
    items.map((i) => i.sopInstanceUid).sort(),
  );
  for (const group of groups) {
    const a = proposal("CONDUIT", "PEER", 65536, { storage: group });
    assert.ok(a.getPresentationContexts().length <= MAX_CONTEXTS);
    // Every object of a pair in the same group, in their order.
    const positions = group.map((i) => items.indexOf(i));
    assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
  }
  assert.equal(new Set(groups[0].map((i) => `${i.sopClassUid}|${i.transferSyntax}`)).size, MAX_CONTEXTS);
  assert.deepEqual(storageGroups(items.slice(0, 10)), [items.slice(0, 10)]);
  assert.deepEqual(storageGroups([]), []);
});
