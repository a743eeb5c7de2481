import assert from "node:assert/strict";

/**
 * A process serving with serveHttp() whose one route's body fails after its head and a first chunk (as a
 * stream cut short does), logging at debug: it prints its port on stdout, then serves until killed.
 */
const SERVER = `
import { serveHttp } from ${JSON.stringify(new URL("./serve.ts", import.meta.url).href)};
import { Logger } from ${JSON.stringify(new URL("../../shared/log.ts", import.meta.url).href)};
const server = serveHttp({ hostname: "127.0.0.1", port: 0 }, () => {
  let sent = false;
  return new Response(new ReadableStream({
    pull(controller) {
      if (sent) throw new Error("the node stopped answering");
      sent = true;
      controller.enqueue(new TextEncoder().encode("{}\\n"));
    },
  }));
}, new Logger({ app: "agent", part: "http" }, "debug"));
console.log(server.addr.port);
`;

Deno.test("serveHttp(): a body failing after its head cuts the answer short, stderr JSON only", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", SERVER],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // What the child writes on stderr, read as it comes, until it has logged the failed body or ended.
  const errors = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  const logged = async () => {
    while (!stderr.includes("response body ended")) {
      const { value, done } = await errors.read();
      if (done) return;
      stderr += value;
    }
  };
  // A guard, not a measure: without the handler no such line comes, and the child is ended here.
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let port = "";
    while (!port.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      port += value;
    }
    await reader.cancel();
    const res = await fetch(`http://127.0.0.1:${port.trim()}/nodes/pacs/find`);
    assert.equal(res.status, 200);
    // The client sees the answer fail, not end as if whole.
    await assert.rejects(res.text());
    await logged();
  } finally {
    clearTimeout(guard);
    try {
      child.kill("SIGTERM");
    } catch { /* ended by the guard */ }
    await child.status;
  }
  for (let r = await errors.read(); !r.done; r = await errors.read()) stderr += r.value;
  const lines = stderr.split("\n").filter((l) => l.trim());
  const notJson = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) !== "object";
    } catch {
      return true;
    }
  });
  assert.deepEqual(notJson, [], "stderr holds a line that is not JSON (Deno's stack)");
  const failed = lines.map((l) => JSON.parse(l)).find((l) => l.level === "debug");
  assert.equal(failed?.reason, "the node stopped answering");
  assert.equal(failed?.part, "http");
});
