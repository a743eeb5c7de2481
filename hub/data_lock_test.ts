import assert from "node:assert/strict";
import { HubDirInUseError, HubDirLock } from "./data_lock.ts";

Deno.test("HubDirLock: one holder per data directory, taken again once released", () => {
  const dir = Deno.makeTempDirSync({ prefix: "conduit-hub-lock-" });
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
    first.release();
    second.take();
    second.release();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
