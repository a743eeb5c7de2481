/**
 * STOW-RS into a site's node (`/dicomweb/sites/{site}/nodes/{node}/studies`): the site C-STOREs each object
 * to the node (DCMTK's storescp here) before the hub answers; a node the site does not have is 404 before
 * the body is read, as QIDO-RS and WADO-RS answer it.
 */
import assert from "node:assert/strict";
import { readPart10Header } from "@conduit/shared/dicom";
import { listFiles } from "../support/agent.ts";
import { skipReason, startStorescp, type StorescpPeer } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, MR } from "./_dicomweb.ts";
import { type OneSite, oneSite, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescp") || skipReason("storescu");
if (skip) console.warn(`stow_node_test: skipped: ${skip}`);

interface Rig extends OneSite {
  pacs: StorescpPeer;
  operator: string;
}

const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const pacs = await startStorescp({ aet: "PACS", dir: await Deno.makeTempDir({ prefix: "stow-node-" }) });
    const site = await oneSite([MR], {
      nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } },
    });
    return { ...site, pacs, operator: (await site.hub.tokens.create("stow", "operator")).token };
  },
  async stop(r) {
    await stopOneSite(r);
    await r.pacs.stop();
  },
});

const BOUNDARY = "n0de";
const enc = new TextEncoder();

/** A STOW-RS of CT_small (or `bytes`) to `path` under north with the operator's token. */
const stow = async (r: Rig, path: string, bytes?: Uint8Array<ArrayBuffer>) =>
  await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb/sites/north${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${r.operator}`,
      "content-type": `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
    },
    body: new Blob([
      enc.encode(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`),
      bytes ?? await Deno.readFile(CT),
      enc.encode(`\r\n--${BOUNDARY}--\r\n`),
    ]),
  });

shared.test("PS3.18 10.5 STOW-RS into a node: C-STOREd there before the answer", async (r) => {
  const res = await stow(r, "/nodes/pacs/studies");
  assert.equal(res.status, 200, await res.clone().text());
  const answer = await res.json();
  const sop = readPart10Header(await Deno.readFile(CT)).sopInstanceUid;
  assert.equal(answer["00081199"].Value[0]["00081155"].Value[0], sop);
  const received = await listFiles(r.pacs.dir);
  assert.equal(received.length, 1, "storescp holds the object when the hub answers");
});

shared.test("PS3.18 10.5 STOW-RS to a node the site does not have is 404, as QIDO and WADO answer it", async (r) => {
  const before = (await listFiles(r.pacs.dir)).length;
  const res = await stow(r, "/nodes/nosuchnode/studies");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.match((await res.json()).detail, /no node named "nosuchnode"/);
  assert.equal((await listFiles(r.pacs.dir)).length, before, "nothing sent anywhere");
});

shared.test("STOW-RS into a node of other bytes under a SOP Instance UID the site holds: refused, the old copy not sent", async (r) => {
  const original = await Deno.readFile(CT);
  assert.equal((await stow(r, "/studies", original)).status, 200); // the site holds the first version
  const before = (await listFiles(r.pacs.dir)).length;
  // The same object with its last pixel byte changed: a corrected version, same UIDs.
  const other = original.slice();
  other[other.length - 1] ^= 0xff;
  const res = await stow(r, "/nodes/pacs/studies", other);
  // Until 2026-12-07: 200, and the node was sent the site's first version.
  assert.equal(res.status, 409, await res.clone().text());
  const failed = (await res.json())["00081198"].Value[0];
  assert.equal(failed["00081197"].Value[0], 0x0110);
  assert.equal((await listFiles(r.pacs.dir)).length, before, "nothing sent to the node");
});

shared.tearDown("stow node tests: tear down");
