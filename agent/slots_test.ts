import assert from "node:assert/strict";
import { Slots } from "./slots.ts";

Deno.test("Slots.run() runs at most its size at once, the rest in the order they came, after failures too", async () => {
  const slots = new Slots(2);
  let running = 0, most = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 6 }, () => Promise.withResolvers<void>());
  const runs = gates.map((g, i) =>
    slots.run(async () => {
      running++;
      most = Math.max(most, running);
      order.push(i);
      await g.promise;
      running--;
      if (i === 1) throw new Error("failed");
      return i;
    })
  );
  await Promise.resolve();
  assert.deepEqual(order, [0, 1]);
  assert.equal(slots.waiting, 4);
  for (const g of gates) g.resolve();
  const settled = await Promise.allSettled(runs);
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(settled[1].status, "rejected");
  assert.deepEqual(settled.filter((s) => s.status === "fulfilled").map((s) => s.value), [0, 2, 3, 4, 5]);
  assert.equal(slots.waiting, 0);
});
