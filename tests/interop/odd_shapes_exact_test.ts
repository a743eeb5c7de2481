/**
 * Byte-exact for odd shapes (tests/support/odd_shapes.ts: group lengths, undefined-length sequences and items,
 * private attributes in Implicit VR, odd-length values, UN of undefined length, trailing padding, an empty
 * Pixel Data, a 2 MB private sequence, encapsulated pixel data with and without an offset table): each data
 * set, sent as it is over a raw association in its own syntax, must be what the agent archives, what a
 * route forwards and a C-MOVE sends to `storescp --bit-preserving`, and what another agent's C-GET brings,
 * byte for byte and in the same syntax. Only the File Meta group (each receiver writes its own) may differ.
 */
import assert from "node:assert/strict";
import { filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { skipReason, startStorescp } from "../support/peers.ts";
import { associate, cStore, hexStatus, release } from "../support/pdu.ts";
import { retrieveWith } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { archivedBySop, datasetOf } from "../support/exact_files.ts";
import { type OddShape, oddShapes } from "../support/odd_shapes.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescp", "movescu");
if (skip) console.warn(`odd_shapes_exact_test: skipped: ${skip}`);

/** A line when `part10` is not `shape` in its syntax byte for byte, else undefined. */
function difference(shape: OddShape, part10: Uint8Array | undefined, by: string): string | undefined {
  if (!part10) return `${shape.name} by ${by}: never arrived`;
  const syntax = readPart10Header(part10).transferSyntax;
  if (syntax !== shape.transferSyntax) return `${shape.name} by ${by}: arrived in ${syntax}`;
  const got = datasetOf(part10);
  if (Buffer.from(got).equals(Buffer.from(shape.dataset))) return undefined;
  let i = 0;
  while (i < got.length && got[i] === shape.dataset[i]) i++;
  return `${shape.name} by ${by}: ${got.length} bytes, want ${shape.dataset.length}; first difference at ${i}`;
}

/** The newest file per SOP Instance UID under `dir`, once every shape's is there. */
async function arrived(dir: string, shapes: OddShape[], what: string): Promise<Map<string, Uint8Array>> {
  const found = await eventually(what, async () => {
    const files = await filesBySopInstance(dir);
    return shapes.every((s) => files.has(s.sopInstanceUid)) ? files : undefined;
  });
  const out = new Map<string, Uint8Array>();
  for (const [uid, paths] of found) out.set(uid, await Deno.readFile(paths.at(-1)!));
  return out;
}

async function archivedBytes(dataDir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const [uid, file] of await archivedBySop(dataDir)) out.set(uid, await Deno.readFile(file));
  return out;
}

Deno.test({
  name: "odd-shaped data sets are archived, forwarded, moved and got by C-GET byte for byte",
  ignore: !!skip,
  fn: async () => {
    const shapes = oddShapes();
    const fwdDir = await Deno.makeTempDir({ prefix: "odd-fwd-" });
    const moveDir = await Deno.makeTempDir({ prefix: "odd-move-" });
    const fwd = await startStorescp({ dir: fwdDir, aet: "FWDSCP", bitPreserving: true });
    const move = await startStorescp({ dir: moveDir, aet: "MOVESCP", bitPreserving: true });
    const agent = await startAgentProcess({
      aet: "SOURCE",
      config: {
        nodes: {
          fwd: { aet: fwd.aet, host: "127.0.0.1", port: fwd.port },
          move: { aet: move.aet, host: "127.0.0.1", port: move.port },
        },
        routes: [{ name: "all", to: [{ node: "fwd" }] }],
      },
    });
    const getter = await startAgentProcess({
      config: { nodes: { src: { aet: agent.aet, host: "127.0.0.1", port: agent.port, retrieve: "get" } } },
    });
    try {
      const syntaxes = [...new Set(shapes.map((s) => s.transferSyntax))];
      const { socket, ac } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "ODDSHAPES",
        contexts: syntaxes.map((ts, i) => ({
          id: 1 + 2 * i,
          abstractSyntax: shapes[0].sopClassUid,
          transferSyntaxes: [ts],
        })),
      });
      for (const shape of shapes) {
        const status = await cStore(socket, {
          contextId: 1 + 2 * syntaxes.indexOf(shape.transferSyntax),
          sopClassUid: shape.sopClassUid,
          sopInstanceUid: shape.sopInstanceUid,
          dataset: shape.dataset,
          maxPduLength: ac.maxPduLength,
        });
        assert.equal(status, 0, `${shape.name}: ${hexStatus(status)}`);
      }
      await release(socket);

      const failures: (string | undefined)[] = [];
      const archived = await archivedBytes(agent.dataDir);
      failures.push(
        ...shapes.map((s) => difference(s, archived.get(s.sopInstanceUid), "C-STORE into the archive")),
      );
      const forwarded = await arrived(fwdDir, shapes, "every shape forwarded");
      failures.push(...shapes.map((s) => difference(s, forwarded.get(s.sopInstanceUid), "forward")));

      const study = shapes[0].studyInstanceUid;
      const moved = await retrieveWith("movescu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${study}`,
      ], [
        "-S",
        "-aem",
        move.aet,
      ]);
      assert.equal(moved.code, 0, moved.stderr);
      const atMove = await arrived(moveDir, shapes, "every shape moved");
      failures.push(...shapes.map((s) => difference(s, atMove.get(s.sopInstanceUid), "C-MOVE")));

      const res = await getter.http("/nodes/src/retrieve", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ studyInstanceUid: study }),
      });
      const report = await res.json();
      assert.equal(report.ok, true, JSON.stringify(report));
      const got = await archivedBytes(getter.dataDir);
      failures.push(...shapes.map((s) => difference(s, got.get(s.sopInstanceUid), "C-GET")));
      assert.deepEqual(failures.filter((f) => f), []);
    } finally {
      await getter.stop();
      await agent.stop();
      await fwd.stop();
      await move.stop();
      await Deno.remove(fwdDir, { recursive: true });
      await Deno.remove(moveDir, { recursive: true });
    }
  },
});
