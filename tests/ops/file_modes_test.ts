/**
 * The agent and the hub, as processes, keep what they write from other users of the machine: their data
 * directories hold patient data (the archive, the index), password hashes, sessions and the audit log. After
 * a real agent stored objects by C-STORE and a real hub started, no file or folder either made is readable,
 * writable or searchable by others (umask 027 at least), whatever the umask they were started with (022 here).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { startHubProcess } from "../support/hub.ts";
import { sendGenerated } from "../support/send.ts";
import { skipReason } from "../support/peers.ts";

/** Every entry under `dir` (itself left out) whose mode gives others any access, with its mode. */
async function openToOthers(dir: string, except: string[] = []): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = path.join(dir, e.name);
    if (except.includes(p)) continue;
    const mode = (await Deno.lstat(p)).mode! & 0o777;
    if (mode & 0o007) found.push(`${p} ${mode.toString(8)}`);
    if (e.isDirectory) found.push(...await openToOthers(p, except));
  }
  return found;
}

Deno.test({
  name: "agent and hub processes make no file or folder that other users may read",
  ignore: Boolean(skipReason("storescu")),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const agent = await startAgentProcess({ config: { nodes: {} } });
    const hub = await startHubProcess();
    try {
      await sendGenerated(agent, "file-modes", "CT", 3);
      // The configuration the test wrote itself, under the process's umask, is not the agent's doing.
      const agentOpen = await openToOthers(agent.dataDir, [path.join(agent.dataDir, "agent.yaml")]);
      // hub.db.lock is 0644 on purpose: it holds no data, and an admin command run as another user takes it.
      const hubOpen = await openToOthers(hub.dataDir, [path.join(hub.dataDir, "hub.db.lock")]);
      const archived = [];
      for await (const f of Deno.readDir(path.join(agent.dataDir, "archive"))) archived.push(f.name);
      assert.equal(archived.length, 1, "the study is archived");
      assert.deepEqual([...agentOpen, ...hubOpen], []);
    } finally {
      await hub.stop();
      await agent.stop();
    }
  },
});
