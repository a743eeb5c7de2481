/**
 * What the hub asks a site for the frames or a bulk value of a WADO-RS path: the study, series and node
 * of the path only from an agent whose hello named the `instance-path` feature; an agent from before it refuses
 * request fields it does not know (its schemas are strict), so it is asked by SOP Instance UID alone.
 */
import assert from "node:assert/strict";
import { FEATURE_INSTANCE_PATH, OPERATIONS } from "@conduit/shared/tunnel";
import type { Sessions } from "../../tunnel/sessions.ts";
import { SiteRequestError } from "../../tunnel/errors.ts";
import { TunnelWado } from "./tunnel.ts";

const at = { studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4", sopInstanceUid: "1.2.3.4.5" };

/** Sessions that record each request and answer not-found; `features` as the agent's hello named them. */
function recording(features: string[], node?: string) {
  const asked: Record<string, unknown>[] = [];
  const sessions = {
    featuresOf: (_site: string) => Promise.resolve(new Set(features)),
    call: (_site: string, request: Record<string, unknown>) => {
      asked.push(request);
      return Promise.reject(new SiteRequestError("not-found", "no such instance"));
    },
  } as unknown as Sessions;
  return { asked, wado: new TunnelWado("north", node, sessions) };
}

for (const features of [[FEATURE_INSTANCE_PATH], []]) {
  const who = features.length ? "an agent with instance-path" : "an agent from before instance-path";
  Deno.test(`tunnel WADO: frames and bulk data of ${who}`, async () => {
    const { asked, wado } = recording(features);
    await assert.rejects(wado.frames(at, [1]), SiteRequestError);
    await assert.rejects(wado.bulkdata(at, "7FE00010"), SiteRequestError);
    const path = features.length ? { studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4" } : {};
    assert.deepEqual(asked, [
      { op: "frames", sopInstanceUid: at.sopInstanceUid, ...path, frames: [1] },
      { op: "bulkdata", sopInstanceUid: at.sopInstanceUid, ...path, path: "7FE00010" },
    ]);
    // Each request is one its agent's schema takes.
    const strictOld = OPERATIONS.frames.request.omit({ studyInstanceUid: true, seriesInstanceUid: true });
    for (const request of asked) {
      const schema = request.op === "frames" ? OPERATIONS.frames.request : OPERATIONS.bulkdata.request;
      assert.ok(schema.safeParse(request).success, JSON.stringify(request));
    }
    // An old agent's strict schema takes what it is asked, and would refuse the path's fields.
    assert.equal(strictOld.safeParse(asked[0]).success, !features.length);
  });

  Deno.test(`tunnel WADO: frames and bulk data at a node, of ${who}`, async () => {
    const { asked, wado } = recording(features, "pacs");
    await assert.rejects(wado.frames(at, [2]), SiteRequestError);
    await assert.rejects(wado.bulkdata(at, "7FE00010"), SiteRequestError);
    // An old agent is asked for its archive's copy (it knows no node for these requests).
    const path = features.length
      ? { node: "pacs", studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4" }
      : {};
    assert.deepEqual(asked, [
      { op: "frames", sopInstanceUid: at.sopInstanceUid, ...path, frames: [2] },
      { op: "bulkdata", sopInstanceUid: at.sopInstanceUid, ...path, path: "7FE00010" },
    ]);
  });
}
