import assert from "node:assert/strict";
import { type Contention, HeldAssociation } from "./held_association.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import type { ClaimedRow } from "../queue/rows.ts";
import { withWallClockStepped } from "../../tests/support/clock.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";

/** A stand-in for one SCU association (unit test of the holding logic only): logs opens and releases. */
function fakeScu(log: string[], name: string, sopClass: string): ScuAssociation {
  let open = false;
  return {
    get isOpen() {
      return open;
    },
    sendSyntax: (uid: string, ts: string) => uid === sopClass ? ts : undefined,
    open: () => {
      open = true;
      log.push(`${name} open`);
      return Promise.resolve();
    },
    release: () => {
      open = false;
      log.push(`${name} release`);
      return Promise.resolve();
    },
    abort: () => {
      open = false;
    },
  } as unknown as ScuAssociation;
}

const rowsOf = (sopClassUid: string) =>
  [{ sopClassUid, transferSyntaxUid: "1.2.840.10008.1.2.1" }] as ClaimedRow[];

Deno.test("HeldAssociation: another worker takes over an idle association that fits its rows", async () => {
  const log: string[] = [];
  const contention: Contention = { opening: 0 };
  const a = new HeldAssociation(() => Promise.resolve(fakeScu(log, "a", CT)), contention, 60_000);
  const b = new HeldAssociation(() => Promise.resolve(fakeScu(log, "b", CT)), contention, 60_000);
  const first = await a.for(rowsOf(CT));
  a.idle();
  assert.equal(await b.for(rowsOf(CT)), first, "b sends on a's association");
  assert.deepEqual(log, ["a open"], "nothing opened or released");
  b.idle();
  await a.release();
  await b.release();
  assert.deepEqual(log, ["a open", "a release"]);
  assert.equal(contention.idle?.size ?? 0, 0, "nothing idle is left registered");
});

Deno.test("HeldAssociation: an idle association that does not fit is released before another worker opens one", async () => {
  const log: string[] = [];
  const contention: Contention = { opening: 0 };
  const a = new HeldAssociation(() => Promise.resolve(fakeScu(log, "a", CT)), contention, 60_000);
  const b = new HeldAssociation(() => Promise.resolve(fakeScu(log, "b", MR)), contention, 60_000);
  await a.for(rowsOf(CT));
  a.idle();
  assert.deepEqual(log, ["a open"], "a keeps its association while idle");
  // A peer serving one association at a time would keep b waiting until a's idle time ran out (2 s).
  await b.for(rowsOf(MR));
  assert.deepEqual(log, ["a open", "a release", "b open"]);
  // A busy association is not taken away: a opens again while b works.
  await a.for(rowsOf(CT));
  assert.deepEqual(log.slice(3), ["a open"]);
  b.idle();
  a.idle();
  await a.release();
  await b.release();
  assert.equal(contention.idle?.size ?? 0, 0);
});

/**
 * A destination for the stand-ins: with `serial`, an association comes up only once no other is open
 * (DCMTK's storescp without --fork); otherwise at once.
 */
function peer(serial: boolean) {
  const log: string[] = [];
  let open = 0;
  let opened = 0;
  const released: (() => void)[] = [];
  const connect = () => {
    const name = `#${++opened}`;
    let isOpen = false;
    const scu = {
      get isOpen() {
        return isOpen;
      },
      sendSyntax: (_uid: string, ts: string) => ts,
      open: async () => {
        while (serial && open > 0) await new Promise<void>((r) => released.push(r));
        open++;
        isOpen = true;
        log.push(`${name} open`);
      },
      release: () => {
        if (isOpen) open--;
        isOpen = false;
        log.push(`${name} release`);
        for (const r of released.splice(0)) r();
        return Promise.resolve();
      },
      abort: () => {
        if (isOpen) open--;
        isOpen = false;
        for (const r of released.splice(0)) r();
      },
    } as unknown as ScuAssociation;
    return Promise.resolve(scu);
  };
  return { log, connect, opened: () => opened };
}

Deno.test("HeldAssociation: at a destination serving one association at a time, workers take turns on one", async () => {
  const dest = peer(true);
  const contention: Contention = { opening: 0 };
  const a = new HeldAssociation(dest.connect, contention, 60_000);
  const b = new HeldAssociation(dest.connect, contention, 60_000);
  await a.for(rowsOf(CT));
  // b asks while a's batch runs: its association comes up only once a's is released after the batch.
  const bGets = b.for(rowsOf(CT));
  await new Promise((r) => setTimeout(r, 10));
  a.idle();
  await bGets;
  assert.deepEqual(dest.log, ["#1 open", "#1 release", "#2 open"]);
  assert.ok(contention.serialUntil && contention.serialUntil > performance.now(), "learned: one at a time");
  // Now a waits for b's batch instead of opening a third association, and takes b's over.
  const aGets = a.for(rowsOf(CT));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(dest.opened(), 2, "nothing opened while b's batch runs");
  b.idle();
  await aGets;
  assert.equal(dest.opened(), 2, "a sends on b's association");
  for (let i = 0; i < 5; i++) {
    const next = (i % 2 ? a : b).for(rowsOf(CT));
    (i % 2 ? b : a).idle();
    await next;
  }
  assert.equal(dest.opened(), 2, "batches after batches on the same association");
  a.idle();
  b.idle();
  await a.release();
  await b.release();
  assert.equal(contention.waiting?.size ?? 0, 0, "nobody left waiting");
});

Deno.test("HeldAssociation: at a destination serving several associations, a worker opens its own beside a busy one", async () => {
  const dest = peer(false);
  const contention: Contention = { opening: 0 };
  const a = new HeldAssociation(dest.connect, contention, 60_000);
  const b = new HeldAssociation(dest.connect, contention, 60_000);
  const first = await a.for(rowsOf(CT));
  const second = await b.for(rowsOf(CT));
  assert.notEqual(first, second);
  assert.deepEqual(dest.log, ["#1 open", "#2 open"], "both open at once");
  assert.equal(contention.serialUntil, undefined);
  a.idle();
  b.idle();
  await a.release();
  await b.release();
});

Deno.test("HeldAssociation: a worker waiting for a busy association opens its own when that one goes away", async () => {
  const dest = peer(true);
  const contention: Contention = { opening: 0, serialUntil: performance.now() + 60_000 };
  const a = new HeldAssociation(dest.connect, contention, 60_000);
  const b = new HeldAssociation(dest.connect, contention, 60_000);
  await a.for(rowsOf(CT));
  const bGets = b.for(rowsOf(CT));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(dest.opened(), 1, "b waits");
  a.drop();
  await bGets;
  assert.deepEqual(dest.log, ["#1 open", "#2 open"], "b opened its own once a's failed");
  b.idle();
  await b.release();
});

Deno.test("HeldAssociation: at a serial destination, a worker waits for the association a sibling is opening", async () => {
  const dest = peer(true);
  const contention: Contention = { opening: 0, serialUntil: performance.now() + 60_000 };
  const a = new HeldAssociation(dest.connect, contention, 60_000, 60_000);
  const b = new HeldAssociation(dest.connect, contention, 60_000, 20);
  await a.for(rowsOf(CT));
  // b gives up waiting for a's busy association after 20 ms and opens its own, which cannot come up yet.
  const bGets = b.for(rowsOf(CT));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(contention.opening, 1, "b is opening");
  // a's association fails; a's next batch must not open a third while b's comes up.
  a.drop();
  const aGets = a.for(rowsOf(CT));
  await bGets;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(dest.opened(), 2, "a waits for b's");
  b.idle();
  await aGets;
  assert.equal(dest.opened(), 2, "and takes it over");
  a.idle();
  await a.release();
  await b.release();
});

Deno.test("HeldAssociation: a serial destination stays so on monotonic time: a wall clock stepped an hour forward does not end it", async () => {
  const dest = peer(true);
  const contention: Contention = { opening: 0 };
  const a = new HeldAssociation(dest.connect, contention, 60_000);
  const b = new HeldAssociation(dest.connect, contention, 60_000);
  await a.for(rowsOf(CT));
  const bGets = b.for(rowsOf(CT));
  await new Promise((r) => setTimeout(r, 10));
  a.idle();
  await bGets;
  assert.ok(contention.serialUntil !== undefined, "learned: one at a time");
  // An hour later on the wall clock (its lesson lasts 10 minutes): a still waits for b's batch.
  await withWallClockStepped(3_600_000, async () => {
    const aGets = a.for(rowsOf(CT));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(dest.opened(), 2, "nothing opened while b's batch runs");
    b.idle();
    await aGets;
    assert.equal(dest.opened(), 2, "a sends on b's association");
  });
  a.idle();
  b.idle();
  await a.release();
  await b.release();
});
