/**
 * The Asynchronous Operations Window (PS3.7 D.3.3.3, issue 16): our SCU proposes one when told, keeps as
 * many C-STOREs outstanding as the acceptor grants, and sends them one after the other on the wire; our
 * SCP grants at most its limit and takes C-STOREs that arrive before the earlier ones are answered. A
 * DCMTK `storescp`, which grants no window, is served one store at a time.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { readPart10Header, SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { startScp } from "../../agent/dimse/scp_server.ts";
import { ScuAssociation } from "../../agent/dimse/scu.ts";
import { StoreFileStream } from "../../agent/part10/file_stream.ts";
import { memorySource } from "../../agent/part10/source.ts";
import { Status, type StoreContext } from "../../agent/dimse/handlers.ts";
import { freePort, skipReason, startStorescp } from "../support/peers.ts";
import { datasetBytes, startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const quiet = new Logger({}, "error");
const SOP_CLASS = SopClass.CtImage;

/** A small Explicit VR Little Endian data set: the SOP Instance UID and some bytes of OB. */
function dataset(sop: string): Uint8Array {
  const uid = sop.length % 2 ? sop + "\0" : sop;
  const bytes = new Uint8Array(8 + uid.length + 12 + 4096);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x0008, true);
  view.setUint16(2, 0x0018, true);
  bytes.set([0x55, 0x49], 4); // UI
  view.setUint16(6, uid.length, true);
  bytes.set(new TextEncoder().encode(uid), 8);
  const at = 8 + uid.length;
  view.setUint16(at, 0x0009, true); // a private group: its bytes are only carried
  view.setUint16(at + 2, 0x0010, true);
  bytes.set([0x4f, 0x42, 0, 0], at + 4); // OB, reserved
  view.setUint32(at + 8, 4096, true);
  bytes.fill(7, at + 12);
  return bytes;
}

function outgoing(sop: string) {
  const bytes = dataset(sop);
  return {
    sopClassUid: SOP_CLASS,
    sopInstanceUid: sop,
    transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
    datasetSize: bytes.length,
    openDataset: () => Promise.resolve(memorySource(bytes)),
  };
}

/**
 * A store handler whose commits wait until `hold` of them are pending (or `waitMs`): how many overlapped is
 * counted.
 */
function holdingStore(dir: string, hold: number, waitMs = 300) {
  let pending = 0;
  let most = 0;
  const waiting: (() => void)[] = [];
  const stored: string[] = [];
  const handler = {
    open: (ctx: StoreContext) =>
      new StoreFileStream(path.join(dir, `${ctx.sopInstanceUid}.dcm`), {
        sopClassUid: ctx.sopClassUid,
        sopInstanceUid: ctx.sopInstanceUid,
        transferSyntax: ctx.transferSyntax,
      }, false),
    commit: async (_sink: StoreFileStream, ctx: StoreContext) => {
      pending++;
      most = Math.max(most, pending);
      if (pending >= hold) { for (const w of waiting.splice(0)) w(); }
      else await new Promise<void>((r) => waiting.push(r) && setTimeout(r, waitMs));
      pending--;
      stored.push(ctx.sopInstanceUid);
      return { status: Status.Success };
    },
  };
  return { handler, stored, most: () => most };
}

/** An SCP storing through {@link holdingStore}. */
async function holdingScp(dir: string, maxOpsPerformed: number, hold: number) {
  const store = holdingStore(dir, hold);
  const port = freePort();
  const scp = await startScp({
    host: "127.0.0.1",
    port,
    aet: "HOLDING",
    allowedCallingAets: ["*"],
    checkCalledAet: false,
    maxAssociations: 4,
    acceptAnySopClass: false,
    maxOpsPerformed,
    maxPduLength: 262144,
    idleTimeoutMs: 30_000,
    artimTimeoutMs: 5_000,
    log: quiet,
    store: store.handler,
    query: {} as never,
    retrieve: {} as never,
  });
  return { port, scp, stored: store.stored, most: store.most };
}

function scuTo(port: number, aet: string, asyncOps: number): ScuAssociation {
  return new ScuAssociation({
    callingAet: "CONDUIT",
    node: { aet, host: "127.0.0.1", port },
    maxPduLength: 262144,
    idleTimeoutMs: 30_000,
    artimTimeoutMs: 5_000,
    responseTimeoutMs: 10_000,
    asyncOps,
  });
}

const sops = Array.from({ length: 24 }, (_, i) => `1.2.826.0.1.3680043.10.1011.${i + 1}`);

Deno.test("an SCU with a granted window keeps several C-STOREs outstanding; every one lands whole", async () => {
  const dir = await Deno.makeTempDir();
  const peer = await holdingScp(dir, 16, 4);
  const scu = scuTo(peer.port, "HOLDING", 8);
  try {
    await scu.open({
      storage: [{ sopClassUid: SOP_CLASS, transferSyntax: TransferSyntax.ExplicitVRLittleEndian }],
    });
    assert.equal(scu.window, 8, "the acceptor granted what was proposed, within its limit of 16");
    const statuses = await Promise.all(sops.map((sop) => scu.store(outgoing(sop))));
    assert.deepEqual(statuses, sops.map(() => Status.Success));
    assert.ok(peer.most() >= 4, `C-STOREs overlapped at the SCP (at most ${peer.most()} at once)`);
    for (const sop of sops) {
      const file = await Deno.readFile(path.join(dir, `${sop}.dcm`));
      const want = dataset(sop);
      assert.deepEqual(file.subarray(file.length - want.length), want, "each data set arrived as sent");
    }
  } finally {
    await scu.release().catch(() => {});
    await peer.scp.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("our SCP grants at most its limit, and no window when its limit is 1; the SCU keeps within it", async () => {
  for (const [limit, proposed, granted] of [[4, 8, 4], [1, 8, 1], [16, 2, 2]]) {
    const dir = await Deno.makeTempDir();
    // Commits wait for a second one pending (300 ms at most): the most seen at once is what the SCU sent.
    const peer = await holdingScp(dir, limit, 2);
    const scu = scuTo(peer.port, "HOLDING", proposed);
    try {
      await scu.open({
        storage: [{ sopClassUid: SOP_CLASS, transferSyntax: TransferSyntax.ExplicitVRLittleEndian }],
      });
      assert.equal(scu.window, granted, `limit ${limit}, proposed ${proposed}`);
      const statuses = await Promise.all(sops.slice(0, 6).map((sop) => scu.store(outgoing(sop))));
      assert.deepEqual(statuses, sops.slice(0, 6).map(() => Status.Success));
      assert.equal(peer.most(), Math.min(granted, 2), "outstanding C-STOREs stayed within the window");
    } finally {
      await scu.release().catch(() => {});
      await peer.scp.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test({
  name: "a DCMTK storescp, which grants no window, is sent one C-STORE at a time",
  ignore: Boolean(skipReason("storescp")),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const peer = await startStorescp({ dir, bitPreserving: true });
    const scu = scuTo(peer.port, peer.aet, 8);
    try {
      await scu.open({
        storage: [{ sopClassUid: SOP_CLASS, transferSyntax: TransferSyntax.ExplicitVRLittleEndian }],
      });
      assert.equal(scu.window, 1);
      const statuses = await Promise.all(sops.slice(0, 8).map((sop) => scu.store(outgoing(sop))));
      assert.deepEqual(statuses, sops.slice(0, 8).map(() => Status.Success));
      assert.equal((await Array.fromAsync(Deno.readDir(dir))).length, 8);
    } finally {
      await scu.release().catch(() => {});
      await peer.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "C-MOVE sub-operations to a node with maxOpsInvoked overlap as far as it grants",
  ignore: Boolean(skipReason("storescu", "movescu")),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const peer = await holdingScp(path.join(dir, "moved"), 16, 4);
    await Deno.mkdir(path.join(dir, "moved"));
    const series = await writeGeneratedSeries(path.join(dir, "series"), { count: 12, seed: "async-move" });
    const agent = await startAgentProcess({
      config: { nodes: { held: { aet: "HOLDING", host: "127.0.0.1", port: peer.port, maxOpsInvoked: 8 } } },
    });
    try {
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const moved = await retrieveWith(
        "movescu",
        agent,
        ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${series.studyUid}`],
        ["-S", "-aem", "HOLDING"],
      );
      assert.equal(moved.code, 0, moved.stderr);
      assert.equal(peer.stored.length, 12, "every sub-operation reached the destination");
      assert.ok(peer.most() >= 4, `sub-operations overlapped (at most ${peer.most()} at once)`);
    } finally {
      await agent.stop();
      await peer.scp.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "C-GET sub-operations overlap as far as the requestor says it performs, within the SCP's limit",
  ignore: Boolean(skipReason("storescu")),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const series = await writeGeneratedSeries(path.join(dir, "series"), { count: 12, seed: "async-get" });
    const agent = await startAgentProcess({ config: { dimse: { maxOpsInvoked: 4 } } });
    try {
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const sopOf = new Map<string, string>();
      for (const file of series.paths) {
        sopOf.set(file, readPart10Header(await Deno.readFile(file)).sopInstanceUid!);
      }
      // [what our SCU proposes to perform, the most C-STOREs seen at once]: the agent's limit is 4.
      for (const [performOps, expected] of [[8, 4], [2, 2], [1, 1]]) {
        const got = path.join(dir, `got-${performOps}`);
        await Deno.mkdir(got);
        // Commits wait for a sixth one pending (100 ms at most): the most seen at once is what the SCP sent.
        const store = holdingStore(got, 6, 100);
        const scu = new ScuAssociation({
          callingAet: "GETTER",
          node: { aet: agent.aet, host: "127.0.0.1", port: agent.port },
          maxPduLength: 262144,
          idleTimeoutMs: 30_000,
          artimTimeoutMs: 5_000,
          responseTimeoutMs: 10_000,
          performOps,
        }, store.handler);
        try {
          await scu.open({
            get: { models: ["study"], storage: [{ sopClassUid: SOP_CLASS }] },
          });
          const result = await scu.get("study", {
            QueryRetrieveLevel: "STUDY",
            StudyInstanceUID: series.studyUid,
          });
          assert.equal(result.status, Status.Success, `performOps ${performOps}: ${result.comment ?? ""}`);
          assert.equal(result.completed, 12);
          assert.deepEqual(store.stored.toSorted(), [...sopOf.values()].toSorted(), "every object arrived");
          assert.equal(store.most(), expected, `performOps ${performOps}: C-STOREs outstanding at once`);
          for (const [file, sop] of sopOf) {
            const want = await datasetBytes(file);
            const have = await datasetBytes(path.join(got, `${sop}.dcm`));
            assert.deepEqual(have, want, "each data set arrived byte for byte");
          }
        } finally {
          await scu.release().catch(() => {});
        }
      }
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
