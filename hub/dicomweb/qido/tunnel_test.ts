import assert from "node:assert/strict";
import { FEATURE_DELIVERY, FEATURE_QUERY_OFFSET } from "@conduit/shared/tunnel";
import type { Sessions } from "../../tunnel/sessions.ts";
import { TunnelQido } from "./tunnel.ts";

/** A site whose agent names `features` and answers every `find` with `matches` studies (numbered UIDs). */
function siteOf(features: string[], matches: number) {
  const asked: Record<string, unknown>[] = [];
  const sessions = {
    featuresOf: () => Promise.resolve(new Set(features)),
    async *replies(_site: string, request: Record<string, unknown>) {
      asked.push(request);
      for (let i = 1; i <= matches; i++) {
        yield { type: "match", dataset: { StudyInstanceUID: `1.2.${i}` } };
      }
      yield { type: "end", completed: matches };
    },
  } as unknown as Sessions;
  return { asked, qido: new TunnelQido("north", undefined, sessions) };
}

async function uids(qido: TunnelQido, page: { offset?: number; limit?: number }): Promise<string[]> {
  const out: string[] = [];
  for await (const ds of qido.search({ level: "STUDY", keys: { StudyInstanceUID: "" }, ...page })) {
    out.push(String((ds["0020000D"] as { Value: string[] }).Value[0]));
  }
  return out;
}

Deno.test("TunnelQido.search() asks an agent that skips matches itself for the page alone", async () => {
  const site = siteOf([FEATURE_DELIVERY, FEATURE_QUERY_OFFSET], 2);
  assert.deepEqual(await uids(site.qido, { offset: 40, limit: 2 }), ["1.2.1", "1.2.2"]);
  assert.equal(site.asked[0].offset, 40);
  assert.equal(site.asked[0].limit, 2);
});

Deno.test("TunnelQido.search() asks an older agent for offset + limit and skips the offset itself", async () => {
  const site = siteOf([FEATURE_DELIVERY], 5);
  assert.deepEqual(await uids(site.qido, { offset: 3, limit: 2 }), ["1.2.4", "1.2.5"]);
  assert.equal("offset" in site.asked[0], false, "an older agent's strict schema refuses the field");
  assert.equal(site.asked[0].limit, 5);
  // Without a limit it asks for everything, and still skips.
  const all = siteOf([], 4);
  assert.deepEqual(await uids(all.qido, { offset: 1 }), ["1.2.2", "1.2.3", "1.2.4"]);
  assert.equal("limit" in all.asked[0] || "offset" in all.asked[0], false);
});

Deno.test("TunnelQido.search() sends no offset when there is none to skip", async () => {
  const site = siteOf([FEATURE_QUERY_OFFSET], 3);
  assert.equal((await uids(site.qido, { limit: 3 })).length, 3);
  assert.equal("offset" in site.asked[0], false);
  assert.equal(site.asked[0].limit, 3);
});
