/**
 * The agent logs one `association ended` line (info) per association it accepted, whatever the peer did: its
 * calling and called AE titles, remote address, how it ended and what it did (objects stored and refused,
 * their bytes, C-FINDs), and no UID. Peers: DCMTK storescu (a release, an A-ABORT) and findscu.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { runDcmtk, scratchDir, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { associate } from "../support/pdu.ts";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";

const skip = skipReason("storescu", "findscu");

/** The agent's `association ended` lines, parsed. */
async function endedLines(logFile: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(logFile)).split("\n").filter((l) => l.includes('"association ended"'))
    .map((l) => JSON.parse(l));
}

Deno.test({
  name: "the agent logs one 'association ended' line per accepted association, with what it did",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("association-log-");
    const agent = await startAgentProcess({
      config: { dimse: { allowedCallingAets: ["STORESCU", "FINDSCU"] } },
    });
    try {
      const uids = {
        studyInstanceUid: uidFromKey("association-log/study"),
        seriesInstanceUid: uidFromKey("association-log/series"),
        sopInstanceUid: uidFromKey("association-log/sop"),
      };
      const file = path.join(dir, "ct.dcm");
      const instance = generateInstance({
        modality: "CT",
        patientName: "ASSOCIATION^LOG",
        patientId: "ASSOCIATION-LOG-1",
        instanceNumber: 1,
        rows: 16,
        columns: 16,
        ...uids,
      });
      await Deno.writeFile(file, instance);
      assert.equal((await storescu([file], agent)).code, 0);
      const stored = await eventually("the store's line", async () => (await endedLines(agent.logFile))[0]);
      assert.equal(stored.level, "info");
      assert.equal(stored.callingAet, "STORESCU");
      assert.equal(stored.calledAet, agent.aet);
      assert.equal(stored.remote, "127.0.0.1");
      assert.equal(stored.outcome, "released");
      assert.equal(stored.stored, 1);
      assert.equal(stored.refused, 0);
      const archived = (await listFiles(path.join(agent.dataDir, "archive"))).filter((f) =>
        f.endsWith(".dcm")
      );
      assert.equal(archived.length, 1);
      assert.equal(stored.bytes, (await Deno.stat(archived[0])).size, "the file's bytes");
      assert.ok(typeof stored.seconds === "number" && stored.seconds >= 0);

      const find = await runDcmtk("findscu", [
        ...["-S", "-aet", "FINDSCU", "-aec", agent.aet, "-k", "QueryRetrieveLevel=STUDY", "-k"],
        ...[`StudyInstanceUID=${uids.studyInstanceUid}`, "127.0.0.1", String(agent.port)],
      ]);
      assert.equal(find.code, 0, find.stderr);
      const found = await eventually("the find's line", async () => (await endedLines(agent.logFile))[1]);
      assert.deepEqual([found.callingAet, found.outcome, found.find, found.stored], [
        "FINDSCU",
        "released",
        1,
        0,
      ]);

      // An A-ABORT after the object: the object was stored, the association aborted.
      const aborted = await storescu([file], agent, ["--abort"]);
      assert.equal(aborted.code, 0, aborted.stderr);
      const last = await eventually(
        "the aborted one's line",
        async () => (await endedLines(agent.logFile))[2],
      );
      assert.equal(last.outcome, "aborted");
      assert.equal(last.stored, 1);

      // An association its peer drops (TCP closed, no A-ABORT) after about a second: its line says how long
      // it lasted (0 s until 2026-12-08: the library forgets when the connection came once it closes).
      const { socket } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "STORESCU",
        contexts: [{
          id: 1,
          abstractSyntax: SopClass.Verification,
          transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
        }],
      });
      await new Promise((r) => setTimeout(r, 1200));
      await socket.close();
      const dropped = await eventually(
        "the dropped one's line",
        async () => (await endedLines(agent.logFile))[3],
      );
      assert.equal(dropped.outcome, "closed");
      assert.ok(
        (dropped.seconds as number) >= 1 && (dropped.seconds as number) < 30,
        String(dropped.seconds),
      );

      // A rejected association has its own line (`association rejected`), not this one.
      const refused = await runDcmtk("findscu", [
        "-S",
        "-aet",
        "STRANGER",
        "-aec",
        agent.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "127.0.0.1",
        String(agent.port),
      ]);
      assert.notEqual(refused.code, 0);
      await eventually(
        "the rejection logged",
        async () => (await Deno.readTextFile(agent.logFile)).includes("association rejected"),
      );
      assert.equal((await endedLines(agent.logFile)).length, 4);
      const text = await Deno.readTextFile(agent.logFile);
      for (const value of [...Object.values(uids), "ASSOCIATION^LOG", "ASSOCIATION-LOG-1"]) {
        assert.ok(!text.includes(value), "no UID or patient data in the log");
      }
    } finally {
      await agent.stop();
    }
  },
});
