import assert from "node:assert/strict";
import { openWebSocket } from "@conduit/shared/tunnel";
import { Logger } from "@conduit/shared/log";
import { HubServer, type TlsPair } from "./https_server.ts";
import { makeTestPki } from "../tests/support/pki.ts";
import { toolPath } from "../tests/support/peers.ts";

const skip = toolPath("openssl") ? false : "needs openssl";
if (skip) console.warn(`https_server_test: skipped: ${skip}`);

/** A pair for localhost signed by a CA of its own, and a client that trusts that CA alone. */
async function party(): Promise<{ pair: TlsPair; client: Deno.HttpClient }> {
  const pki = await makeTestPki(["localhost"]);
  const pair = {
    cert: await Deno.readTextFile(pki.parties.localhost.cert),
    key: await Deno.readTextFile(pki.parties.localhost.key),
  };
  return { pair, client: Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] }) };
}

/** The body of GET `url` through `client` (a fresh connection each time), or the error's message. */
async function get(url: string, client: Deno.HttpClient): Promise<string> {
  try {
    const res = await fetch(url, { client, headers: { connection: "close" } });
    return await res.text();
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  }
}

Deno.test({
  name: "HubServer.replaceTls() serves new connections with the new pair while a request in progress ends",
  ignore: Boolean(skip),
  async fn() {
    const [a, b] = [await party(), await party()];
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let arrived!: () => void;
    const inProgress = new Promise<void>((r) => arrived = r);
    const server = new HubServer({ hostname: "127.0.0.1", port: 0, tls: a.pair }, async (req) => {
      if (new URL(req.url).pathname !== "/slow") return new Response("fast");
      arrived();
      await held;
      return new Response("slow done");
    });
    const url = `https://localhost:${server.addr.port}`;
    try {
      assert.equal(await get(`${url}/`, a.client), "fast");
      assert.match(await get(`${url}/`, b.client), /^failed/);
      const slow = get(`${url}/slow`, a.client);
      await inProgress;
      server.replaceTls(b.pair);
      // New connections: the new pair only, on the same port.
      assert.equal(await get(`${url}/`, b.client), "fast");
      assert.match(await get(`${url}/`, a.client), /^failed/);
      // The request that came on the old pair gets its answer.
      release();
      assert.equal(await slow, "slow done");
    } finally {
      release();
      await server.shutdown();
      a.client.close();
      b.client.close();
    }
  },
});

Deno.test({
  name: "HubServer with TLS refuses a port another server holds, though it listens with reusePort",
  ignore: Boolean(skip),
  async fn() {
    const { pair, client } = await party();
    const first = new HubServer({ hostname: "127.0.0.1", port: 0, tls: pair }, () => new Response("first"));
    try {
      assert.throws(
        () =>
          new HubServer({ hostname: "127.0.0.1", port: first.addr.port, tls: pair }, () => new Response("")),
        (err: Error) => err instanceof Deno.errors.AddrInUse,
      );
      assert.equal(await get(`https://localhost:${first.addr.port}/`, client), "first");
    } finally {
      await first.shutdown();
      client.close();
    }
  },
});

Deno.test({
  name: "HubServer.replaceTls() with the pair it serves changes nothing: an open WebSocket goes on",
  ignore: Boolean(skip),
  async fn() {
    const { pair, client } = await party();
    const server = new HubServer({ hostname: "127.0.0.1", port: 0, tls: pair }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(`echo ${e.data}`);
      return response;
    });
    const ws = await openWebSocket(`wss://localhost:${server.addr.port}/`, { client });
    try {
      const next = () => new Promise<string>((resolve) => ws.onmessage = (e) => resolve(String(e.data)));
      ws.send("one");
      assert.equal(await next(), "echo one");
      // The same certificate and key, read again (a reload for the cluster CA only): not replaced.
      assert.equal(server.replaceTls({ cert: `${pair.cert}`, key: `${pair.key}` }), false);
      ws.send("two");
      assert.equal(await next(), "echo two");
      assert.equal(ws.readyState, WebSocket.OPEN);
    } finally {
      ws.close();
      await server.shutdown();
      client.close();
    }
  },
});

Deno.test({
  name:
    "HubServer logs a body that fails mid-way and a handler that throws, and the client still sees each fail",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lines: Record<string, unknown>[] = [];
    const log = new Logger({}, "debug", { write: (l) => lines.push(JSON.parse(l)) });
    const server = new HubServer({ hostname: "127.0.0.1", port: 0, log }, (req) => {
      if (new URL(req.url).pathname === "/throws") throw new Error("handler broke");
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent++ < 2) c.enqueue(new Uint8Array(1000));
            else c.error(new RangeError("the site went away"));
          },
        }),
      );
    });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const res = await fetch(`${base}/body`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer(), "a body cut short fails for its client");
      const thrown = await fetch(`${base}/throws`);
      assert.equal(thrown.status, 500);
      assert.equal(thrown.headers.get("content-type"), "application/problem+json");
      assert.equal((await thrown.json()).title, "Internal Server Error");
      assert.deepEqual(
        lines.map((l) => [l.level, l.error, l.reason]),
        [["debug", "RangeError", "the site went away"], ["error", "Error", "handler broke"]],
      );
    } finally {
      await server.shutdown();
    }
  },
});
