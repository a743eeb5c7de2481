/**
 * The STOW-RS spool keeps nothing: over real HTTP connections (raw TCP where a client must break
 * off or go silent), a declared body over the limit is 413 before it is read, and a chunked one over
 * the limit, a body cut off by a client that goes away, and a client that goes silent (408) all
 * leave `<data>/spool` empty; so do 100 abandoned uploads; what a crash left is swept at start.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import {
  partHead,
  startUpload,
  statusOf,
  STOW_BOUNDARY as BOUNDARY,
  STOW_CONTENT_TYPE as CONTENT_TYPE,
} from "../support/stow_upload.ts";

const skip = skipReason("storescu");
const enc = new TextEncoder();

async function spoolFiles(hub: TestHub): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path.join(hub.dataDir, "spool"))) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

const noise = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
};

Deno.test({
  name: "STOW-RS spool: 413 before reading, and no file left by oversize, cut, silent or abandoned uploads",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "conduit-hub-" });
    // What a crashed hub left in transit is swept at start.
    await Deno.mkdir(path.join(dataDir, "spool"));
    await Deno.writeFile(path.join(dataDir, "spool", "stow-left.part"), noise(4096));
    const hub = await startTestHub({ dataDir, maxStowMegabytes: 1, stowIdleSeconds: 1 });
    const agent = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    try {
      assert.deepEqual(await spoolFiles(hub), [], "swept at start");
      assert.ok(hub.lines.some((l) => l.includes("removed STOW parts left in the spool")));
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("spool", "operator")).token;

      // A declared Content-Length over the limit: 413 at once, with only a few bytes sent.
      const declared = await startUpload(hub.port, token, 100 * 1024 * 1024, partHead());
      assert.equal(await statusOf(declared, 5000), 413);
      declared.close();

      // A chunked body over the limit: 413 when the limit is passed; its part's file is removed.
      const chunked = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": CONTENT_TYPE },
        body: new Blob([partHead(), noise(3 * 1024 * 1024)]).stream(),
      });
      assert.equal(chunked.status, 413);
      await chunked.body?.cancel();
      assert.deepEqual(await spoolFiles(hub), [], "nothing left by the chunked body over the limit");

      // A client that goes silent mid-part: 408 after stowIdleSeconds, and no file.
      const silent = await startUpload(
        hub.port,
        token,
        900 * 1024,
        new Uint8Array([...partHead(), ...noise(200_000)]),
      );
      await eventually(
        "its part spooled",
        async () => (await spoolFiles(hub)).length === 1 || undefined,
        5000,
      );
      assert.equal(await statusOf(silent, 5000), 408);
      silent.close();
      await eventually(
        "the silent upload's file gone",
        async () => (await spoolFiles(hub)).length === 0 || undefined,
        5000,
      );

      // A client that sends a whole object, then part of another, then nothing: the first is stored, and the
      // answer (202) lists it and says why the rest was not read (until 2026-12-07: 408 "the upload was
      // dropped", of an object that was stored).
      const first = await Deno.readFile(
        (await writeGeneratedSeries(await Deno.makeTempDir({ prefix: "spool-first-" }), {
          count: 1,
          rows: 16,
          columns: 16,
          seed: "spool-first",
        })).paths[0],
      );
      const halfway = await startUpload(
        hub.port,
        token,
        900 * 1024,
        new Uint8Array([...partHead(), ...first, ...enc.encode("\r\n"), ...partHead(), ...noise(1000)]),
      );
      const answer = await (async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        const timer = setTimeout(() => halfway.close(), 10_000);
        try {
          while (!/\r\n\r\n[\s\S]*\}/.test(text)) {
            const n = await halfway.read(buf);
            if (!n) break;
            text += new TextDecoder().decode(buf.subarray(0, n));
          }
        } finally {
          clearTimeout(timer);
        }
        return text;
      })();
      halfway.close();
      assert.match(answer, /^HTTP\/1\.1 202/, answer);
      assert.match(
        answer,
        /warning: .*sent nothing for 1 s; the 1 object\(s\) listed as stored before it were stored/i,
      );
      assert.match(answer, /"00081199"/);

      // A client that goes away mid-part, then 100 of them: nothing stays.
      const cut = await startUpload(
        hub.port,
        token,
        900 * 1024,
        new Uint8Array([...partHead(), ...noise(300_000)]),
      );
      await eventually(
        "its part spooled",
        async () => (await spoolFiles(hub)).length === 1 || undefined,
        5000,
      );
      cut.close();
      await eventually(
        "the cut upload's file gone",
        async () => (await spoolFiles(hub)).length === 0 || undefined,
        5000,
      );
      for (let round = 0; round < 5; round++) {
        const conns = await Promise.all(
          Array.from(
            { length: 20 },
            () =>
              startUpload(hub.port, token, 900 * 1024, new Uint8Array([...partHead(), ...noise(64 * 1024)])),
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
        for (const c of conns) c.close();
      }
      await eventually("100 abandoned uploads leave no file", async () => {
        const left = await spoolFiles(hub);
        return left.length === 0 || undefined;
      }, 10_000);

      // And a whole upload still stores, leaving nothing behind.
      const dir = await Deno.makeTempDir({ prefix: "spool-src-" });
      const gen = await writeGeneratedSeries(dir, { count: 1, rows: 32, columns: 32, seed: "spool" });
      const ok = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": CONTENT_TYPE },
        body: new Blob([
          partHead(),
          await Deno.readFile(gen.paths[0]),
          enc.encode(`\r\n--${BOUNDARY}--\r\n`),
        ]),
      });
      assert.equal(ok.status, 200, await ok.text());
      assert.deepEqual(await spoolFiles(hub), []);
      assert.ok(
        !hub.lines.some((l) => /"level":"error"/.test(l)),
        "no error logged for clients that went away",
      );
      assert.ok(hub.lines.some((l) => /DICOMweb upload dropped.*the client sent nothing for 1 s/.test(l)));
      assert.ok(hub.lines.some((l) => /DICOMweb upload dropped.*the request body broke off/.test(l)));
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});
