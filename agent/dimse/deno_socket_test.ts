import assert from "node:assert/strict";
import { DenoSocket, listen } from "./deno_socket.ts";
import { withWallClockStepped } from "../../tests/support/clock.ts";

/** A connected pair: `server` is the accepted side, `client` the connecting one. */
async function pair(): Promise<{ server: DenoSocket; client: DenoSocket; close(): void }> {
  let accepted!: (s: DenoSocket) => void;
  const got = new Promise<DenoSocket>((r) => (accepted = r));
  const listener = listen({ hostname: "127.0.0.1", port: 0 }, (s) => accepted(s));
  const client = DenoSocket.connect("127.0.0.1", listener.port);
  await new Promise<void>((r, j) => {
    client.once("connect", () => r());
    client.once("error", j);
  });
  const server = await got;
  return {
    server,
    client,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds, or `ms` passed. */
async function within(ms: number, done: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await sleep(10);
}

Deno.test("the idle timeout fires only after a whole period without reads or writes", async () => {
  const { server, client, close } = await pair();
  try {
    let timedOutAt = 0;
    server.on("timeout", () => (timedOutAt = Date.now()));
    server.on("data", () => {});
    const started = Date.now();
    server.setTimeout(500);
    // Activity every 100 ms for 600 ms: reads from the client, then the server's own writes.
    for (let i = 0; i < 3; i++) {
      await sleep(100);
      client.write(new Uint8Array([i]));
    }
    for (let i = 0; i < 3; i++) {
      await sleep(100);
      server.write(new Uint8Array([i]));
    }
    const lastActivity = Date.now();
    assert.equal(timedOutAt, 0, `no timeout while active (${Date.now() - started} ms in)`);
    await within(3000, () => timedOutAt > 0);
    assert.ok(timedOutAt > 0, "a timeout once idle");
    const idle = timedOutAt - lastActivity;
    assert.ok(idle >= 450, `fired ${idle} ms after the last activity, before the 500 ms were up`);
  } finally {
    close();
  }
});

Deno.test("setTimeout(0) turns the idle timeout off", async () => {
  const { server, close } = await pair();
  try {
    let timedOut = false;
    server.on("timeout", () => (timedOut = true));
    server.setTimeout(100);
    server.setTimeout(0);
    await sleep(250);
    assert.equal(timedOut, false);
  } finally {
    close();
  }
});

Deno.test("after a timeout, the next activity starts the watch again", async () => {
  const { server, client, close } = await pair();
  try {
    let timeouts = 0;
    server.on("timeout", () => timeouts++);
    server.on("data", () => {});
    server.setTimeout(150);
    await within(3000, () => timeouts > 0);
    await sleep(400);
    assert.equal(timeouts, 1, "one timeout for one idle period, not one per period");
    client.write(new Uint8Array([1]));
    await within(3000, () => timeouts > 1);
    assert.equal(timeouts, 2, "a second idle period after activity times out again");
  } finally {
    close();
  }
});

Deno.test("the idle timeout runs on monotonic time: a wall clock stepped back an hour does not delay it", async () => {
  const { server, client, close } = await pair();
  try {
    let timedOut = false;
    let got = false;
    server.on("timeout", () => (timedOut = true));
    server.on("data", () => (got = true));
    server.setTimeout(300);
    client.write(new Uint8Array([1])); // activity just before the step
    await within(1000, () => got);
    await withWallClockStepped(-3_600_000, async () => {
      // On the wall clock the last activity is an hour ahead: a timer that read it would wait an hour more.
      await within(5000, () => timedOut);
    });
    assert.ok(timedOut, "the idle timeout fired about 300 ms after the last activity");
  } finally {
    close();
  }
});

Deno.test("the idle timeout runs on monotonic time: a wall clock stepped forward does not fire it early", async () => {
  const { server, client, close } = await pair();
  try {
    let timedOutAt = 0;
    let got = false;
    server.on("timeout", () => (timedOutAt = performance.now()));
    server.on("data", () => (got = true));
    server.setTimeout(400);
    await sleep(200);
    client.write(new Uint8Array([1]));
    await within(1000, () => got);
    const lastActivity = performance.now();
    // Stepped forward an hour after the activity: the timer armed at the start fires at 400 ms, when the
    // socket has been idle for 200 ms only; on the wall clock it would seem idle for an hour.
    await withWallClockStepped(3_600_000, () => within(3000, () => timedOutAt > 0));
    assert.ok(timedOutAt > 0, "a timeout once idle");
    const idle = timedOutAt - lastActivity;
    assert.ok(idle >= 350, `fired ${Math.round(idle)} ms after the last activity, before the 400 ms were up`);
  } finally {
    close();
  }
});
