import assert from "node:assert/strict";
import { PdvGuard } from "./pdv_guard.ts";
import { checkCommandSet, encodeCommand } from "./command_codec.ts";

const store = encodeCommand({
  AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
  CommandField: 0x0001,
  MessageID: 7,
  Priority: 0,
  CommandDataSetType: 0x0000,
  AffectedSOPInstanceUID: "1.2.3.4",
})!;
const echoRsp = encodeCommand({
  AffectedSOPClassUID: "1.2.840.10008.1.1",
  CommandField: 0x8030,
  MessageIDBeingRespondedTo: 1,
  CommandDataSetType: 0x0101,
  Status: 0,
})!;

Deno.test("checkCommandSet: the commands we encode pass; broken ones are named", () => {
  assert.deepEqual(checkCommandSet(store), { ok: true, commandField: 1, hasDataset: true });
  assert.deepEqual(checkCommandSet(echoRsp), { ok: true, commandField: 0x8030, hasDataset: false });
  const broken = (f: (b: Uint8Array, v: DataView) => void) => {
    const b = new Uint8Array(store);
    f(b, new DataView(b.buffer));
    return checkCommandSet(b);
  };
  assert.match((broken((_, v) => v.setUint32(8, 5, true)) as { problem: string }).problem, /group length/);
  assert.match(
    (broken((_, v) => v.setUint32(16, 0x7fffffff, true)) as { problem: string }).problem,
    /beyond/,
  );
  assert.match((broken((_, v) => v.setUint16(12, 8, true)) as { problem: string }).problem, /group 8/);
  assert.match(
    (checkCommandSet(store.subarray(0, store.length - 3)) as { problem: string }).problem,
    /group length|beyond|header/,
  );
  const unknown = encodeCommand({ CommandField: 0x0120, MessageID: 1, CommandDataSetType: 0x0101 })!;
  assert.match((checkCommandSet(unknown) as { problem: string }).problem, /unknown Command Field 0x0120/);
  const noType = encodeCommand({ CommandField: 0x0030, MessageID: 1 })!;
  assert.match((checkCommandSet(noType) as { problem: string }).problem, /Data Set Type/);
});

Deno.test("PdvGuard follows command, data set, command across fragments", () => {
  const g = new PdvGuard();
  const cmd = (value: Uint8Array, isLast = true) => g.next({ isCommand: true, isLast, value });
  const data = (isLast: boolean) => g.next({ isCommand: false, isLast, value: new Uint8Array(10) });
  assert.equal(cmd(store.subarray(0, 20), false), undefined);
  assert.equal(cmd(store.subarray(20)), undefined);
  assert.equal(data(false), undefined);
  assert.equal(data(true), undefined);
  assert.equal(cmd(echoRsp), undefined);
  assert.match(data(true)!, /no command/);
  const h = new PdvGuard();
  assert.equal(h.next({ isCommand: true, isLast: true, value: store }), undefined);
  assert.equal(h.next({ isCommand: false, isLast: false, value: new Uint8Array(4) }), undefined);
  assert.match(h.next({ isCommand: true, isLast: true, value: echoRsp })!, /while a data set is expected/);
  const k = new PdvGuard();
  let problem: string | undefined;
  for (let i = 0; i < 10 && !problem; i++) {
    problem = k.next({ isCommand: true, isLast: false, value: new Uint8Array(8 * 1024) });
  }
  assert.match(problem!, /longer than 65536/);
});

Deno.test("checkCommandSet takes the Storage Commitment SCU's messages: N-ACTION-RSP and N-EVENT-REPORT-RQ", () => {
  const rsp = encodeCommand({
    CommandField: 0x8130,
    MessageIDBeingRespondedTo: 1,
    CommandDataSetType: 0x0101,
  })!;
  assert.deepEqual(checkCommandSet(rsp), { ok: true, commandField: 0x8130, hasDataset: false });
  const report = encodeCommand({ CommandField: 0x0100, MessageID: 1, CommandDataSetType: 0x0000 })!;
  assert.deepEqual(checkCommandSet(report), { ok: true, commandField: 0x0100, hasDataset: true });
});
