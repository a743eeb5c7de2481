import assert from "node:assert/strict";
import { relayPolicy } from "./relay_policy.ts";

const ends = (route: string) =>
  Promise.resolve(route === "transfer:t1" ? { source: "north", destination: "south" } : undefined);

Deno.test("relayPolicy(): none configured lets any site relay to any other", () => {
  assert.equal(relayPolicy(undefined, ends), undefined);
});

Deno.test("relayPolicy(): a site relays to the sites listed for it or for *", async () => {
  const may = relayPolicy({ north: ["south"], "*": ["archive"], hq: ["*"] }, ends)!;
  assert.equal(await may("north", "south"), undefined);
  assert.equal(await may("north", "archive"), undefined, "listed for every site");
  assert.equal(await may("east", "archive"), undefined);
  assert.equal(await may("hq", "anywhere"), undefined, "* as a destination");
  assert.match((await may("north", "east"))!, /^site north may not relay to site east \(tunnel\.relays/);
  assert.match((await may("east", "south"))!, /may not relay/, "a site not listed relays only where * says");
  assert.equal(await relayPolicy({}, ends)!("north", "south") !== undefined, true, "empty: no relays");
});

Deno.test("relayPolicy(): a transfer's objects go from its source to its destination only", async () => {
  const may = relayPolicy({}, ends)!;
  assert.equal(await may("north", "south", "transfer:t1"), undefined, "whatever the list says");
  assert.match(
    (await may("north", "east", "transfer:t1"))!,
    /no transfer relays from site north to site east/,
  );
  assert.match((await may("east", "south", "transfer:t1"))!, /no transfer/);
  assert.match((await may("north", "south", "transfer:unknown"))!, /no transfer/);
});
