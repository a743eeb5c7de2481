/**
 * The bound on the row ids `site.replay` and `site.discardDead` take (docs/api.md), against a real hub: a list
 * longer than the tunnel carries is BAD_REQUEST with a sentence saying so, before anything is asked of the site;
 * a list at the bound passes the input check (then meets the site, not connected here).
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { MAX_ROW_IDS } from "../../hub/api/sites.ts";

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

Deno.test({
  name: "site.replay and site.discardDead refuse more row ids than the tunnel carries, saying so",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      await hub.registry.add("north");
      const operator = createConduitClient({
        url: `http://127.0.0.1:${hub.port}`,
        token: (await hub.tokens.create("ops", "operator")).token,
      });
      const codeOf = async (p: Promise<unknown>) => {
        try {
          await p;
          return ["ok", ""];
        } catch (e) {
          assert.ok(e instanceof TRPCClientError, String(e));
          return [e.data?.code, e.message];
        }
      };
      for (const call of [operator.site.replay, operator.site.discardDead]) {
        const [code, message] = await codeOf(call.mutate({ site: "north", ids: ids(MAX_ROW_IDS + 1) }));
        assert.equal(code, "BAD_REQUEST");
        assert.match(
          message,
          /at most 10000 row ids in one request: send the rest in another \(nothing was done\)/,
        );
        const atBound = await codeOf(call.mutate({ site: "north", ids: ids(MAX_ROW_IDS) }));
        console.log(atBound);
        assert.notEqual(
          atBound[0],
          "BAD_REQUEST",
          "a list at the bound is taken, then meets the offline site",
        );
      }
    } finally {
      await hub.stop();
    }
  },
});
