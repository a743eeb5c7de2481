/**
 * De-identification on a route, with a real storescp: the copies forwarded are de-identified as
 * PS3.15 Table E.1-1 asks (checked by walking the standard's table, not the engine's profile), keep the
 * pixel data byte for byte, carry no original identifier, and are the bytes the engine gives for that
 * object and key; the originals stay in the archive; an object that may carry burned-in text is held
 * back with its reason unless the route allows it. A route with a custom profile file (ranges, private
 * attributes by creator) forwards what that profile makes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { runDcmtk, skipReason, startStorescp } from "../support/peers.ts";
import { filesBySopInstance, listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { parsePart10, walk } from "../support/ps315_walk.ts";
import { findElement, PIXEL_DATA, readPart10Header, stringValue } from "@conduit/shared/dicom";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { standardProfile } from "../../agent/deid/profile.ts";
import { readProfileFile } from "../../agent/deid/profile_file.ts";
import { CUSTOM_PROFILE, privateFixturesSkip, writePrivateFixtures } from "../support/private_fixtures.ts";

const skip = skipReason("storescp", "storescu", "dcmodify");
if (skip) console.warn(`deid_route_test: skipped: ${skip}`);

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const has = (bytes: Uint8Array, s: string) => Buffer.from(bytes).includes(Buffer.from(s, "latin1"));

Deno.test({
  name: "a route with deid forwards PS3.15 de-identified copies to storescp and holds burned-in objects back",
  ignore: !!skip,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "deid-route-" });
    const keyFile = path.join(root, "project.key");
    const key = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeFile(keyFile, key);
    const scp = await startStorescp({ dir: path.join(root, "scp"), bitPreserving: true, extraArgs: ["-uf"] });
    const agent = await startAgentProcess({
      dataDir: path.join(root, "agent"),
      config: {
        deid: { keyFile },
        nodes: { research: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [
          { name: "research", to: [{ node: "research" }], deid: { profile: "basic", keyFile } },
          {
            name: "open",
            match: { tags: { BurnedInAnnotation: { equals: "YES" } } },
            to: [{ node: "research" }],
            deid: { profile: "basic", options: ["retain-long-modified-dates"], allowBurnedIn: true },
          },
        ],
        queue: { backoffBaseSeconds: 0.2, backoffCapSeconds: 1 },
      },
    });
    try {
      const ct = await writeGeneratedSeries(path.join(root, "ct"), {
        count: 4,
        rows: 64,
        columns: 64,
        seed: "dr-ct",
      });
      const mr = await writeGeneratedSeries(path.join(root, "mr"), {
        count: 2,
        rows: 32,
        columns: 32,
        modality: "MR",
        seed: "dr-mr",
      });
      const burned = await writeGeneratedSeries(path.join(root, "burned"), {
        count: 1,
        rows: 16,
        columns: 16,
        seed: "dr-b",
      });
      const mod = await runDcmtk("dcmodify", ["-nb", "-i", "(0028,0301)=YES", burned.paths[0]]);
      assert.equal(mod.code, 0, mod.stderr);
      const sent = await storescu([...ct.paths, ...mr.paths, ...burned.paths], agent);
      assert.equal(sent.code, 0, sent.stderr);

      // Six copies through `research`, the burned-in object's through `open` only.
      const delivered = await until("7 copies at storescp", async () => {
        const files = await filesBySopInstance(scp.dir);
        return files.size === 7 ? files : undefined;
      });
      const dead = await until("the held-back row", async () => {
        const rows = await (await agent.http("/queue?state=dead")).json() as {
          sopInstanceUid: string;
          destination: string;
          lastError: string;
        }[];
        return rows.length ? rows : undefined;
      });
      const originals = new Map<string, string>(); // SOP -> archived original
      for (const f of await listFiles(path.join(agent.dataDir, "archive"))) {
        originals.set(path.basename(f, ".dcm"), f);
      }
      assert.equal(originals.size, 7, "the originals stay in the archive");
      const burnedSop = readPart10Header(await Deno.readFile(burned.paths[0])).sopInstanceUid!;
      assert.deepEqual(
        dead.map((r) => [r.sopInstanceUid, r.destination, r.lastError]),
        [[burnedSop, "deid:research", "held back: Burned In Annotation is YES"]],
      );

      const research = standardProfile();
      const open = standardProfile(["retain-long-modified-dates"]);
      for (const [sop, file] of originals) {
        const input = await Deno.readFile(file);
        const copySop = pseudonymizeUid(key, sop);
        const at = delivered.get(copySop);
        assert.ok(at?.length === 1, `the copy of ${sop} reached storescp once`);
        const output = await Deno.readFile(at[0]);
        // The table, walked independently of the engine's profile.
        const unchanged = walk(input, input).map((b) => b.name);
        assert.ok(
          unchanged.includes("Patient's Name") && unchanged.length >= 8,
          `the walk sees ${unchanged}`,
        );
        const options = sop === burnedSop ? ["retain-long-modified-dates"] : [];
        assert.deepEqual(walk(input, output, options), [], `PS3.15 breaches in the copy of ${sop}`);
        // No original identifier anywhere in the file; new UIDs under 2.25.
        const a = parsePart10(input);
        const b = parsePart10(output);
        const get = (p: typeof a, tag: number) => stringValue(p.bytes, findElement(p.dataset, tag)!);
        for (const tag of [0x00100010, 0x00100020, 0x0020000d, 0x0020000e, 0x00080018]) {
          const original = get(a, tag);
          assert.ok(original && !has(output, original), `${tag.toString(16)} of ${sop} survives in its copy`);
        }
        for (const tag of [0x0020000d, 0x0020000e, 0x00080018]) assert.match(get(b, tag), /^2\.25\.\d+$/);
        assert.equal(readPart10Header(output).sopInstanceUid, copySop);
        const pixels = (p: typeof a) => {
          const el = findElement(p.dataset, PIXEL_DATA)!;
          return p.bytes.subarray(el.offset, el.end);
        };
        assert.ok(Buffer.from(pixels(a)).equals(Buffer.from(pixels(b))), "pixel data byte-identical");
        // Exactly what the engine gives for this object and key: the same bytes on every run.
        const expected = path.join(root, `expected-${sop}.dcm`);
        const r = await deidentifyFile(file, expected, {
          key,
          profile: sop === burnedSop ? open : research,
          allowBurnedIn: sop === burnedSop,
        });
        assert.equal(r.status, "done");
        const want = await Deno.readFile(expected);
        assert.ok(
          Buffer.from(want.subarray(readPart10Header(want).datasetOffset)).equals(
            Buffer.from(output.subarray(readPart10Header(output).datasetOffset)),
          ),
          `the copy of ${sop} is the engine's output`,
        );
      }

      const metrics = await (await agent.http("/metrics")).text();
      assert.match(metrics, /conduit_agent_deid_objects_total\{outcome="done"\} 7/);
      assert.match(metrics, /conduit_agent_deid_objects_total\{outcome="held"\} 1/);
      assert.match(metrics, /conduit_agent_queue_rows\{destination="deid:research",state="dead"\} 1/);
      // Forwarded copies are removed once every row that sends them is done.
      await until(
        "the copies' files removed",
        async () =>
          (await listFiles(path.join(agent.dataDir, "deid")).catch(() => [])).length === 0 || undefined,
      );
    } finally {
      await agent.stop();
      await scp.stop();
    }
    // The log says which object was held and why, with no patient identifier.
    const log = await Deno.readTextFile(agent.logFile);
    const held = log.split("\n").filter((l) => l.includes("held back by the burned-in text policy"));
    assert.equal(held.length, 1);
    assert.match(held[0], /"reason":"Burned In Annotation is YES"/);
    assert.ok(!/PAT\d|DOE\^|\^JANE/.test(log), "no patient name or ID in the log");
  },
});

const fixturesSkip = skip ?? await privateFixturesSkip();

Deno.test({
  name:
    "a route whose deid names a profileFile forwards copies as the custom profile says (ranges, private by creator)",
  ignore: !!fixturesSkip,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "deid-route-custom-" });
    const keyFile = path.join(root, "project.key");
    const key = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeFile(keyFile, key);
    const profileFile = path.join(root, "custom.json");
    await Deno.writeTextFile(profileFile, JSON.stringify(CUSTOM_PROFILE));
    const inputs = await writePrivateFixtures(path.join(root, "in"));
    const scp = await startStorescp({ dir: path.join(root, "scp"), bitPreserving: true, extraArgs: ["-uf"] });
    const agent = await startAgentProcess({
      dataDir: path.join(root, "agent"),
      config: {
        nodes: { research: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{
          name: "research",
          to: [{ node: "research" }],
          deid: { profile: "basic", profileFile, keyFile },
        }],
        queue: { backoffBaseSeconds: 0.2, backoffCapSeconds: 1 },
      },
    });
    try {
      const sent = await storescu(inputs, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const delivered = await until("3 copies at storescp", async () => {
        const files = await filesBySopInstance(scp.dir);
        return files.size === 3 ? files : undefined;
      });
      const { options, layer } = readProfileFile(profileFile);
      const profile = standardProfile(options, layer);
      const originals = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(originals.length, 3);
      for (const file of originals) {
        const sop = path.basename(file, ".dcm");
        const at = delivered.get(pseudonymizeUid(key, sop));
        assert.ok(at?.length === 1, `the copy of ${sop} reached storescp once`);
        const output = await Deno.readFile(at[0]);
        // The custom layer was applied: GE's product ID kept with its creator, the rest of its block gone.
        const b = parsePart10(output);
        const text = (tag: number) => {
          const el = findElement(b.dataset, tag);
          return el && stringValue(b.bytes, el);
        };
        assert.equal(text(0x00091004), "HiSpeed CT/i");
        assert.equal(text(0x00090010), "GEMS_IDEN_01");
        assert.equal(text(0x00091002), undefined);
        assert.equal(text(0x00081010), "CT01_OC0", "(0008,10xx) K");
        // And the copy is exactly what the engine makes of the original under that profile and key.
        const expected = path.join(root, `expected-${sop}.dcm`);
        const r = await deidentifyFile(file, expected, { key, profile });
        assert.equal(r.status, "done");
        const want = await Deno.readFile(expected);
        assert.ok(
          Buffer.from(want.subarray(readPart10Header(want).datasetOffset)).equals(
            Buffer.from(output.subarray(readPart10Header(output).datasetOffset)),
          ),
          `the copy of ${sop} is the engine's output under the custom profile`,
        );
      }
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});
