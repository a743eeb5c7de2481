/**
 * More DICOMweb requests to one site at once than its agent takes streams from the hub (256): the rest wait
 * their turn at the hub and are answered, none refused by the agent as an internal error.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { CT } from "../dicomweb/_dicomweb.ts";

Deno.test({
  name:
    "300 requests at once to a site's node that never answers: the 44 past the agent's 256 streams wait their turn",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    // A node that takes the TCP connection and never answers its association request.
    // Port 0: the kernel's pick is bound at once (a port drawn by freePort() and bound after was once
    // taken in between).
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr;
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })().catch(() => {});
    const north = await startAgentProcess({
      aet: "NORTH",
      args: await siteArgs(hub, "north"),
      config: {
        dimse: { artimTimeoutSeconds: 2, idleTimeoutSeconds: 2 },
        nodes: { silent: { aet: "SILENT", host: "127.0.0.1", port } },
      },
    });
    try {
      const stored = await storescu([CT], north);
      assert.equal(stored.code, 0, stored.stderr);
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("t", "viewer")).token;
      const ask = async (p: string) => {
        const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north${p}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: res.status, body: await res.text() };
      };
      const atNode = Array.from({ length: 300 }, (_, i) => ask(`/nodes/silent/studies?PatientID=${i}`));
      await eventually("the agent's 256 streams in use", () => {
        const session = hub.sessions.get("north")!.session;
        return session.streamCount >= 256 || undefined;
      });
      // A query of the archive, asked while every stream the agent takes is in use: answered in its turn.
      const archive = await ask("/studies");
      assert.equal(archive.status, 200, archive.body);
      assert.equal((JSON.parse(archive.body) as unknown[]).length, 1);
      const answers = await Promise.all(atNode);
      const refused = answers.filter((a) => a.status !== 502 || !/no answer from SILENT/.test(a.body));
      assert.deepEqual(refused.slice(0, 3), [], `${refused.length} of 300 not the node's own failure`);
      const failed = hub.lines.filter((l) => /"level":"error"/.test(l));
      assert.deepEqual(failed.slice(0, 3), [], "no request failed at the hub");
    } finally {
      await north.stop();
      listener.close();
      for (const conn of held) {
        try {
          conn.close();
        } catch { /* closed by the agent */ }
      }
      await accepting;
      await hub.stop();
    }
  },
});
