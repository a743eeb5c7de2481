/**
 * A client that sends its request head one byte a second (slowloris), measured on raw connections: the hub
 * itself (Deno.serve has no header-read timeout) keeps the connection open for as long as the bytes come,
 * while HAProxy as shipped in deploy/examples/mtls/haproxy.cfg (`timeout http-request 10s`) answers 408 (and
 * closes it). docs/operations.md ("Connections that never finish a request") tells deployments to put such a
 * proxy in front; this test fails when either half stops being true (a Deno that cuts slow heads itself, or an
 * example config without the timeout).
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startProxy } from "../support/haproxy.ts";
import { startTestHub } from "../support/hub.ts";
import { makeTestPki } from "../support/pki.ts";

const skip = skipReason("haproxy", "openssl");
if (skip) console.warn(`slow_request_test: skipped: ${skip}`);

const encoder = new TextEncoder();
const HEAD = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";

/** A connection whose head comes a byte at a time: what it was answered first, once anything came. */
function slowClient(conn: Deno.Conn) {
  let answer: string | undefined;
  const answered = (async () => {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf).catch(() => null);
    answer = n ? new TextDecoder().decode(buf.subarray(0, n)) : "closed";
  })();
  return {
    answered,
    get answer() {
      return answer;
    },
    write: (text: string) => conn.write(encoder.encode(text)),
  };
}

Deno.test({
  name: "a request head sent a byte a second: the hub holds it, the example HAProxy answers 408",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makeTestPki(["localhost"]);
    const hub = await startTestHub();
    const proxy = await startProxy(pki, { hub: hub.port });
    const direct = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
    const proxied = await Deno.connectTls({
      hostname: "localhost",
      port: proxy.ports.people,
      caCerts: [await Deno.readTextFile(pki.ca)],
    });
    try {
      const toHub = slowClient(direct);
      const toProxy = slowClient(proxied);
      await toHub.write(HEAD);
      await toProxy.write(HEAD);
      // A byte a second to both, until the proxy gives up (its limit is 10 s; 60 bytes is far past it).
      for (let i = 0; i < 60 && toProxy.answer === undefined; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        await toHub.write("a");
        await toProxy.write("a").catch(() => {});
      }
      await toProxy.answered;
      assert.match(toProxy.answer ?? "", /^HTTP\/1\.[01] 408 /, "the proxy cut the slow head off");
      // The hub kept its connection all that time: it answers nothing until the head ends, then the request.
      assert.equal(toHub.answer, undefined, "the hub held the connection, answering nothing");
      await toHub.write("\r\n\r\n");
      await toHub.answered;
      assert.match(toHub.answer ?? "", /^HTTP\/1\.1 200 /);
    } finally {
      direct.close();
      try {
        proxied.close();
      } catch { /* closed by the proxy */ }
      await proxy.stop();
      await hub.stop();
    }
  },
});
