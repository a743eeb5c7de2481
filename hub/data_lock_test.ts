import assert from "node:assert/strict";
import { HubDirInUseError, HubDirLock, hubHolding } from "./data_lock.ts";

Deno.test("HubDirLock: one holder per data directory, taken again once released", () => {
  const dir = Deno.makeTempDirSync({ prefix: "conduit-hub-lock-" });
  assert.equal(hubHolding(dir), undefined, "no hub ever ran here");
  try {
    const first = new HubDirLock(dir);
    first.take();
    const second = new HubDirLock(dir);
    assert.throws(
      () => second.take(),
      (e: Error) =>
        e instanceof HubDirInUseError &&
        e.message.includes(`is in use by another hub (process ${Deno.pid}): one hub per data directory`),
    );
    assert.equal(hubHolding(dir), String(Deno.pid));
    first.release();
    assert.equal(hubHolding(dir), undefined);
    second.take();
    second.release();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
