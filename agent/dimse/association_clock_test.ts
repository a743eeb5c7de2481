import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { associate, PduType } from "../../tests/support/pdu.ts";
import { type ScpServer, startScp } from "./scp_server.ts";
import { withWallClockStepped } from "../../tests/support/clock.ts";

const quiet = new Logger({}, "error");

/** An SCP of the agent on a free loopback port, with these timeouts. */
function scpWith(timeouts: { idleTimeoutMs: number; artimTimeoutMs: number }): Promise<ScpServer> {
  return startScp({
    host: "127.0.0.1",
    port: 0,
    aet: "CLOCK",
    allowedCallingAets: ["*"],
    checkCalledAet: false,
    maxAssociations: 4,
    acceptAnySopClass: false,
    maxOpsPerformed: 1,
    maxPduLength: 262144,
    ...timeouts,
    log: quiet,
    store: {} as never,
    query: {} as never,
    retrieve: {} as never,
  });
}

Deno.test("the idle (PDU) timer runs on monotonic time: a wall clock stepped back an hour does not delay it", async () => {
  // The socket's own timer (idle + 5 s) is far off: only the association's idle timer can end it in time.
  // ARTIM (the wait for the A-ASSOCIATE-RQ) is long: at 500 ms it expired under load before the request
  // was read, and the association was refused before the idle timer could be tested.
  const scp = await scpWith({ idleTimeoutMs: 500, artimTimeoutMs: 10_000 });
  const { socket } = await associate(scp.port, {
    calledAet: "CLOCK",
    callingAet: "IDLER",
    contexts: [{
      id: 1,
      abstractSyntax: SopClass.Verification,
      transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
    }],
  });
  try {
    // Associated (its last PDU noted), then the wall clock goes back an hour and the peer says nothing.
    const answer = await withWallClockStepped(-3_600_000, () => socket.read(4000));
    assert.ok(
      answer.kind === "closed" || (answer.kind === "pdu" && answer.type === PduType.Abort),
      `the idle association was aborted after 500 ms, not an hour later: ${JSON.stringify(answer.kind)}`,
    );
  } finally {
    await socket.close();
    await scp.close();
  }
});
