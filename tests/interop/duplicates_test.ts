/**
 * Idempotency and conflicts (issue 3): the same object again is stored once; other bytes under the
 * same SOP Instance UID follow archive.duplicates (keepBoth's copy named `<SOP>.conflict-<16 hex>.dcm`, which
 * no object key can be); below the free-space floor nothing is written.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { runDcmtk, skipReason } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { conflictingPair } from "../support/conflicts.ts";

const skip = skipReason("storescu", "dcmodify");

async function sql(agent: AgentProcess, table: string): Promise<number> {
  const m = await (await agent.http("/metrics")).text();
  const name = table === "conflicts"
    ? "conduit_agent_objects_conflict_total"
    : "conduit_agent_objects_duplicate_total";
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(m)?.[1] ?? "0");
}

for (const policy of ["keepFirst", "keepLast", "keepBoth"] as const) {
  Deno.test({
    name: `duplicates: same bytes stored once; other bytes under ${policy}`,
    ignore: !!skip,
    fn: async () => {
      const { first, second } = await conflictingPair();
      const agent = await startAgentProcess({ config: { archive: { duplicates: policy } } });
      try {
        assert.equal((await storescu([first], agent)).code, 0);
        assert.equal((await storescu([first], agent)).code, 0, "the same object again is Success");
        assert.equal((await listFiles(path.join(agent.dataDir, "archive"))).length, 1, "stored once");
        assert.equal(await sql(agent, "duplicates"), 1);
        const original = await datasetBytes((await listFiles(path.join(agent.dataDir, "archive")))[0]);

        assert.equal((await storescu([second], agent)).code, 0, "a conflicting object is answered Success");
        assert.equal(await sql(agent, "conflicts"), 1, "and recorded as a conflict");
        const files = (await listFiles(path.join(agent.dataDir, "archive"))).sort();
        const main = files.find((f) => /\/[0-9.]+\.dcm$/.test(f))!;
        const mainBytes = Buffer.from(await datasetBytes(main));
        if (policy === "keepFirst") {
          assert.equal(files.length, 1);
          assert.ok(mainBytes.equals(Buffer.from(original)), "the first object stays");
        } else if (policy === "keepLast") {
          assert.equal(files.length, 1);
          assert.ok(!mainBytes.equals(Buffer.from(original)), "the new object replaced it");
          assert.ok(mainBytes.includes(Buffer.from("CHANGED")));
        } else {
          assert.equal(files.length, 2, "both kept");
          assert.ok(mainBytes.equals(Buffer.from(original)), "the first stays the indexed one");
          const aside = files.find((f) => f !== main)!;
          assert.ok(Buffer.from(await datasetBytes(aside)).includes(Buffer.from("CHANGED")));
          // Named so that it can never be taken for an object: its SOP Instance UID, conflict-, and the
          // first 16 hex digits of its data set's SHA-256.
          const sha = createHash("sha256").update(await datasetBytes(aside)).digest("hex");
          assert.equal(aside, main.replace(/\.dcm$/, `.conflict-${sha.slice(0, 16)}.dcm`));
        }
      } finally {
        await agent.stop();
      }
    },
  });
}

Deno.test({
  name: "duplicates: other bytes of the same length (one pixel changed) are a conflict, not the same object",
  ignore: !!skip,
  fn: async () => {
    const { first } = await conflictingPair();
    const bytes = await Deno.readFile(first);
    bytes[bytes.length - 1] ^= 0x01; // the last byte of the pixel data
    const flipped = path.join(path.dirname(first), "flipped.dcm");
    await Deno.writeFile(flipped, bytes);
    const agent = await startAgentProcess();
    try {
      assert.equal((await storescu([first], agent)).code, 0);
      assert.equal((await storescu([flipped], agent)).code, 0);
      assert.equal(await sql(agent, "conflicts"), 1, "recorded as a conflict, not taken for the same object");
      assert.equal((await storescu([first], agent)).code, 0);
      assert.equal(await sql(agent, "conflicts"), 1, "the first object again is the same object");
      // The duplicates' count includes conflicts (an object received again, with its bytes or others).
      assert.equal(await sql(agent, "duplicates"), 2);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "below the free-space floor a C-STORE gets 0xA700 and nothing is written",
  ignore: !!skip,
  fn: async () => {
    const { first } = await conflictingPair();
    const agent = await startAgentProcess({ config: { archive: { minFreeMegabytes: 1e9 } } });
    try {
      const r = await runDcmtk("storescu", ["-v", "-aec", agent.aet, "127.0.0.1", String(agent.port), first]);
      assert.match(r.stdout + r.stderr, /Out ?of ?Resources|0xa700/i);
      assert.equal((await listFiles(path.join(agent.dataDir, "archive"))).length, 0);
      assert.equal((await listFiles(path.join(agent.dataDir, "tmp"))).length, 0, "not a byte written");
      const echo = await runDcmtk("echoscu", ["-aec", agent.aet, "127.0.0.1", String(agent.port)]);
      assert.equal(echo.code, 0);
      // /healthz says so (it said "ok", 200, while every C-STORE was refused).
      const health = await agent.http("/healthz");
      assert.equal(health.status, 503);
      const body = await health.json();
      assert.equal(body.status, "degraded");
      assert.equal(body.database, "ok");
      assert.equal(body.disk, "below minimum");
      assert.ok(Number.isInteger(body.freeMegabytes) && body.freeMegabytes < 1e9, JSON.stringify(body));
    } finally {
      await agent.stop();
    }
  },
});
