/**
 * STOW-RS stores what the site's DICOM port takes as storage (conformance section 4): a standard storage
 * SOP class, or a private one where `dimse.acceptAnySopClass` is set. Any other class is listed as failed
 * with 0x0122 (SOP Class not supported), as a C-STORE of it would be refused. Against real agents.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header } from "@conduit/shared/dicom";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs } from "../support/hub.ts";
import { runDcmtk, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, MR } from "./_dicomweb.ts";
import { type OneSite, oneSite, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescu") || skipReason("dcmodify");
if (skip) console.warn(`stow_sop_class_test: skipped: ${skip}`);

interface Rig extends OneSite {
  /** A second site whose agent sets dimse.acceptAnySopClass. */
  east: AgentProcess;
  operator: string;
  /** CT_small under a private SOP class, and under Verification (not a storage class). */
  privateClass: string;
  verification: string;
}

/** A copy of `file` in `dir` whose data set names `sopClass` (and a SOP Instance UID of its own). */
async function withClass(file: string, dir: string, sopClass: string, sop: string): Promise<string> {
  const out = path.join(dir, `${sop}.dcm`);
  await Deno.copyFile(file, out);
  const mod = await runDcmtk("dcmodify", [
    "-nb",
    "-m",
    `(0008,0016)=${sopClass}`,
    "-m",
    `(0008,0018)=${sop}`,
    out,
  ]);
  assert.equal(mod.code, 0, mod.stderr);
  return out;
}

const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const site = await oneSite([MR]);
    const east = await startAgentProcess({
      aet: "EAST",
      args: await siteArgs(site.hub, "east"),
      config: { dimse: { acceptAnySopClass: true } },
    });
    await eventually("east online", () => site.hub.sessions.get("east"));
    const dir = await Deno.makeTempDir({ prefix: "stow-class-" });
    return {
      ...site,
      east,
      operator: (await site.hub.tokens.create("stow", "operator")).token,
      privateClass: await withClass(CT, dir, "1.2.826.0.1.99999.1", "2.25.1001"),
      verification: await withClass(CT, dir, "1.2.840.10008.1.1", "2.25.1002"),
    };
  },
  async stop(r) {
    await r.east.stop();
    await stopOneSite(r);
  },
});

const BOUNDARY = "cl4ss";
const enc = new TextEncoder();

/** STOW-RS of `files` to `site`'s archive; the answer's status and its failed and stored SOP Instance UIDs. */
async function stow(r: Rig, site: string, files: string[]) {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(
      enc.encode(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`),
      await Deno.readFile(f),
    );
    parts.push(enc.encode("\r\n"));
  }
  parts.push(enc.encode(`--${BOUNDARY}--\r\n`));
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb/sites/${site}/studies`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${r.operator}`,
      "content-type": `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
    },
    body: new Blob(parts as BlobPart[]),
  });
  type Item = Record<string, { Value: unknown[] }>;
  const answer = await res.json() as Record<string, { Value: Item[] }>;
  const failed = (answer["00081198"]?.Value ?? []).map((
    i,
  ) => [i["00081155"].Value[0], i["00081197"].Value[0]]);
  const stored = (answer["00081199"]?.Value ?? []).map((i) => i["00081155"].Value[0]);
  return { status: res.status, failed, stored };
}

shared.test("PS3.18 10.5 STOW-RS refuses a SOP class the site's DICOM port does not store (0x0122)", async (r) => {
  const ct = readPart10Header(await Deno.readFile(CT)).sopInstanceUid;
  const got = await stow(r, "north", [r.privateClass, r.verification, CT]);
  assert.equal(got.status, 202);
  assert.deepEqual(got.failed, [["2.25.1001", 0x0122], ["2.25.1002", 0x0122]]);
  assert.deepEqual(got.stored, [ct]);
  const none = await fetch(
    `http://127.0.0.1:${r.hub.port}/dicomweb/sites/north/instances?SOPInstanceUID=2.25.1001`,
    {
      headers: { authorization: `Bearer ${r.token}` },
    },
  );
  assert.deepEqual(await none.json(), [], "not in the archive");
});

shared.test("PS3.18 10.5 STOW-RS stores a private SOP class where dimse.acceptAnySopClass is set", async (r) => {
  const got = await stow(r, "east", [r.privateClass, r.verification]);
  assert.equal(got.status, 202);
  assert.deepEqual(got.stored, ["2.25.1001"]);
  assert.deepEqual(got.failed, [["2.25.1002", 0x0122]], "a DICOM class that is not storage: still refused");
});

shared.tearDown("stow sop class tests: tear down");
