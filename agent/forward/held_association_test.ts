import assert from "node:assert/strict";
import { type Contention, HeldAssociation } from "./held_association.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import type { ClaimedRow } from "../queue/queue.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";

/** A stand-in for one SCU association (unit test of the holding logic only): logs opens and releases. */
function fakeScu(log: string[], name: string, sopClass: string): ScuAssociation {
  let open = false;
  return {
    get isOpen() {
      return open;
    },
    accepts: (uid: string) => uid === sopClass,
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
