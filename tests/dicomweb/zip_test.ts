/**
 * WADO-RS as `application/zip` (PS3.18 8.7.3.5.3): a study and a series of a site come through the hub
 * as a zip of Part 10 files that Info-ZIP's `unzip` reads and tests, each file holding the data set the
 * site archived, byte for byte; asked for with the header or the `accept` query parameter (a plain
 * link, as the console's download), with a console session's cookie as well as a token.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasTool, skipReason } from "../support/peers.ts";
import { datasetBytes, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescu") ?? (hasTool("/usr/bin/unzip") ? undefined : "unzip not installed");
if (skip) console.warn(`zip_test: skipped: ${skip}`);

async function unzip(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("/usr/bin/unzip", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

Deno.test({
  name: "wadoZip() streams a study and a series as zips of the site's Part 10 files, byte for byte",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    try {
      const dir = await Deno.makeTempDir({ prefix: "zip-src-" });
      const a = await writeGeneratedSeries(dir, {
        count: 3,
        rows: 32,
        columns: 32,
        seed: "zip-a",
        modality: "CT",
      });
      const sent = await storescu(a.paths, north);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("zip", "viewer")).token;
      const base = `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${a.studyUid}`;

      // A plain link: the accept query parameter, with a console session's cookie.
      await hub.users.add("reader", "viewer", "reader password");
      const login = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "reader", password: "reader password" }),
      });
      await login.body?.cancel();
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      const res = await fetch(`${base}?accept=application%2Fzip`, { headers: { cookie } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get("content-type"), "application/zip");
      assert.match(res.headers.get("content-disposition")!, /^attachment; filename=".+\.zip"$/);
      const out = await Deno.makeTempDir({ prefix: "zip-out-" });
      const file = path.join(out, "study.zip");
      await Deno.writeFile(file, new Uint8Array(await res.arrayBuffer()));
      assert.match(await unzip(["-t", file]), /No errors detected/);
      await unzip(["-q", file, "-d", out]);
      const expected = new Map<string, Uint8Array>();
      for (const p of a.paths) {
        expected.set(readPart10Header(await Deno.readFile(p)).sopInstanceUid!, await datasetBytes(p));
      }
      const names = (await unzip(["-Z1", file])).trim().split("\n").sort();
      assert.deepEqual(names, [...expected.keys()].map((uid) => `${a.studyUid}/${uid}.dcm`).sort());
      for (const [uid, bytes] of expected) {
        const got = path.join(out, a.studyUid, `${uid}.dcm`);
        const header = readPart10Header(await Deno.readFile(got));
        assert.equal(header.sopInstanceUid, uid);
        assert.deepEqual(await datasetBytes(got), bytes, `${uid}: the data set as archived`);
      }

      // The Accept header at series level, with a token.
      const series = await fetch(`${base}/series/${a.seriesUid}`, {
        headers: { authorization: `Bearer ${token}`, accept: "application/zip" },
      });
      assert.equal(series.status, 200);
      const seriesFile = path.join(out, "series.zip");
      await Deno.writeFile(seriesFile, new Uint8Array(await series.arrayBuffer()));
      assert.equal((await unzip(["-Z1", seriesFile])).trim().split("\n").length, 3);

      // Nothing there: a 404 problem, not an empty zip.
      const none = await fetch(
        `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/1.2.3?accept=application/zip`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      assert.equal(none.status, 404);
      assert.equal(none.headers.get("content-type"), "application/problem+json");
      await none.body?.cancel();
    } finally {
      await north.stop();
      await hub.stop();
    }
  },
});
