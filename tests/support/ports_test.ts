/**
 * The starters (tests/support/) against a port taken between freePort's check and the process's bind, as a
 * test file running in parallel in the same `deno test` may take it: they neither take another process's
 * answer for their own process's nor give up, but start again on fresh ports.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAgentProcess } from "./agent.ts";
import { eventually, siteArgs, startTestHub } from "./hub.ts";
import {
  freePort,
  listensOn,
  onPortsDrawn,
  runDcmtk,
  scratchDir,
  skipReason,
  startStorescp,
} from "./peers.ts";

const skip = skipReason("echoscu", "storescp");
if (skip) console.warn(`ports_test: skipping: ${skip}`);

/** Runs `fn` with the first drawn port of index `which` taken by `take` (held until the end). */
async function withTaken<T>(
  which: number,
  take: (port: number) => { close(): void | Promise<void> },
  fn: (taken: () => number | undefined) => Promise<T>,
): Promise<T> {
  let held: { port: number; holder: { close(): void | Promise<void> } } | undefined;
  onPortsDrawn((ports) => {
    if (!held) held = { port: ports[which], holder: take(ports[which]) };
  });
  try {
    return await fn(() => held?.port);
  } finally {
    onPortsDrawn(undefined);
    await held?.holder.close();
  }
}

async function echo(port: number, aet: string): Promise<void> {
  const r = await runDcmtk("echoscu", ["-aec", aet, "127.0.0.1", String(port)]);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test({
  name: "startAgentProcess() does not take another process's /healthz on its drawn HTTP port for its agent's",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const asked: string[] = [];
    const foreign = (port: number) => {
      const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
        asked.push(new URL(req.url).pathname);
        return Response.json({ status: "ok" });
      });
      return { close: () => server.shutdown() };
    };
    await withTaken(1, foreign, async (taken) => {
      const agent = await startAgentProcess();
      try {
        assert.ok(taken(), "the HTTP port was drawn and taken");
        assert.notEqual(agent.httpPort, taken(), "the agent was started again on another port");
        assert.equal(listensOn(agent.pid, agent.httpPort), true);
        assert.equal(listensOn(agent.pid, agent.port), true);
        assert.deepEqual(asked, [], "the other process's /healthz was never asked");
        const health = await (await agent.http("/healthz")).json();
        assert.equal(typeof health.version, "string", "the agent's own /healthz answers");
        await echo(agent.port, agent.aet);
      } finally {
        await agent.stop();
      }
    });
  },
});

Deno.test({
  name: "startAgentProcess() starts the agent again on fresh ports when its drawn DICOM port is taken",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const listener = (port: number) => Deno.listen({ hostname: "127.0.0.1", port });
    await withTaken(0, listener, async (taken) => {
      const agent = await startAgentProcess();
      try {
        assert.ok(taken(), "the DICOM port was drawn and taken");
        assert.notEqual(agent.port, taken());
        await echo(agent.port, agent.aet);
      } finally {
        await agent.stop();
      }
    });
  },
});

Deno.test({
  name:
    "startAgentProcess() started again after its agent enrolled goes on with the credential, not the spent token",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const listener = (port: number) => Deno.listen({ hostname: "127.0.0.1", port });
      await withTaken(0, listener, async (taken) => {
        const agent = await startAgentProcess({ args: await siteArgs(hub, "north") });
        try {
          assert.ok(taken(), "the DICOM port was drawn and taken");
          assert.notEqual(agent.port, taken());
          await eventually("north online", () => hub.sessions.get("north"));
        } finally {
          await agent.stop();
        }
      });
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "startAgentProcess() refuses a given port that another process holds, naming it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("ok"),
    );
    try {
      await assert.rejects(
        startAgentProcess({ httpPort: other.addr.port }),
        new RegExp(`agent HTTP: port ${other.addr.port} is not free`),
      );
    } finally {
      await other.shutdown();
    }
  },
});

Deno.test({
  name: "startStorescp() does not take another process's listener on its drawn port for storescp",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = join(await scratchDir("ports-test-"), "in");
    const listener = (port: number) => Deno.listen({ hostname: "127.0.0.1", port });
    await withTaken(0, listener, async (taken) => {
      const scp = await startStorescp({ dir });
      try {
        assert.ok(taken(), "the port was drawn and taken");
        assert.notEqual(scp.port, taken());
        assert.equal(listensOn(scp.pid, scp.port), true);
        await echo(scp.port, scp.aet);
      } finally {
        await scp.stop();
      }
    });
  },
});

Deno.test("freePort() never hands out a port that a test file running beside it drew moments before", async () => {
  // A worker is an isolate of its own, as each test file of a `deno test --parallel` run is: same pid, its
  // own module state. It draws 400 ports, and releases their notes when told (it gets no unload event).
  const ports = JSON.stringify(new URL("./ports.ts", import.meta.url).href);
  const source = `import { freePort, releaseClaims } from ${ports};
    postMessage(Array.from({ length: 400 }, () => freePort()));
    self.onmessage = () => { releaseClaims(); postMessage("released"); };`;
  const worker = new Worker(`data:application/typescript,${encodeURIComponent(source)}`, { type: "module" });
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message));
    });
  try {
    const theirs = await next() as number[];
    const ours = Array.from({ length: 400 }, () => freePort());
    // 400 random draws each from about 20,000 ports: 7 in common were to be expected.
    assert.deepEqual(ours.filter((port) => theirs.includes(port)), []);
    worker.postMessage("release");
    assert.equal(await next(), "released");
  } finally {
    worker.terminate();
  }
});
