import assert from "node:assert/strict";
import {
  LazyPartError,
  type LazyParts,
  loadPart,
  usePackagedParts,
  usePartLog,
  usePartsRoot,
} from "./lazy_part.ts";
import { PACKAGED_PARTS } from "./lazy_parts_packaged.ts";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "./index/testing.ts";
import { lazyQueryHandler } from "./query/lazy.ts";
import { LazyStorageCommitment } from "./commitment/lazy.ts";
import type { CommitmentOptions } from "./commitment/commitment.ts";
import { startScp } from "./dimse/scp_server.ts";
import { freePort, runDcmtk, skipReason } from "../tests/support/peers.ts";

const quiet = new Logger({}, "error");
const STUDY_QUERY = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" };

Deno.test("loadPart() loads from source the very module the packaged entry imports, for every part", async () => {
  // A part whose computed URL and literal specifier differ would load from source and fail only in a
  // built agent (or the reverse).
  const names = Object.keys(PACKAGED_PARTS) as (keyof LazyParts)[];
  assert.ok(names.length >= 19, names.join(" "));
  for (const name of names) {
    assert.equal(await loadPart(name), await PACKAGED_PARTS[name](), name);
  }
});

Deno.test("loadPart() imports by the packaged table once it is installed", async () => {
  let asked = "";
  const table = Object.fromEntries(
    Object.entries(PACKAGED_PARTS).map(([name, load]) => [name, () => (asked = name, load())]),
  ) as typeof PACKAGED_PARTS;
  usePackagedParts(table);
  try {
    assert.equal(await loadPart("nodes/get_plan"), await import("./nodes/get_plan.ts"));
    assert.equal(asked, "nodes/get_plan");
  } finally {
    usePackagedParts(undefined);
  }
});

Deno.test("loadPart() names the part and the reason when it cannot be loaded", async () => {
  const err = await loadPart("no/such_part" as keyof LazyParts).then(
    () => assert.fail("a missing part loaded"),
    (e) => e,
  );
  assert.ok(err instanceof LazyPartError);
  assert.equal(err.name, "LazyPartError");
  assert.match(err.message, /^agent\/no\/such_part\.ts could not be loaded: .*no\/such_part\.ts/);
  assert.ok(err.cause instanceof Error);
});

Deno.test("loadPart() loads a part again after its file failed once, under a new URL, and logs the failure", async () => {
  // A part of a folder of the test's: missing at the first load (a file being replaced, briefly unreadable),
  // there at the next. Deno keeps the first URL's import failed for the life of the process.
  const root = await Deno.makeTempDir({ prefix: "lazy-root-" });
  const lines: string[] = [];
  usePartsRoot(`file://${root}/`);
  usePartLog(new Logger({}, "info", { write: (line) => lines.push(line) }));
  const part = "probe/part" as keyof LazyParts;
  try {
    const first = await loadPart(part).then(() => assert.fail("a missing part loaded"), (e) => e);
    assert.ok(first instanceof LazyPartError, String(first));
    assert.equal(lines.length, 1);
    const logged = JSON.parse(lines[0]);
    assert.equal(logged.level, "error");
    assert.equal(logged.msg, "agent part could not be loaded: its next use loads it again");
    assert.equal(logged.part, "probe/part");
    assert.match(logged.reason, /probe\/part\.ts/);

    await Deno.mkdir(path.join(root, "probe"));
    await Deno.writeTextFile(path.join(root, "probe", "part.ts"), "export const loaded = 'yes';\n");
    const second = await loadPart(part) as unknown as { loaded: string };
    assert.equal(second.loaded, "yes");
    // The same module from then on, not a new one at each use.
    assert.equal(await loadPart(part), second);
    assert.equal(lines.length, 1, "nothing more logged");
  } finally {
    usePartsRoot(undefined);
    usePartLog(undefined);
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Installs the packaged table with `failing` parts failing their first import (a file briefly unreadable:
 * Deno itself keeps a failed import failed, so the table stands in for a load that fails once); returns
 * the count of imports by part.
 */
function failingOnce(failing: (keyof LazyParts)[]): Record<string, number> {
  const imports: Record<string, number> = {};
  const table = Object.fromEntries(
    Object.entries(PACKAGED_PARTS).map(([name, load]) => [name, () => {
      imports[name] = (imports[name] ?? 0) + 1;
      return failing.includes(name as keyof LazyParts) && imports[name] === 1
        ? Promise.reject(new Error("briefly unreadable"))
        : load();
    }]),
  ) as typeof PACKAGED_PARTS;
  usePackagedParts(table);
  return imports;
}

const isLazyPartError = (e: unknown) => e instanceof LazyPartError && /briefly unreadable/.test(e.message);

Deno.test("lazyQueryHandler(): a failed load fails the queries that shared it, the next query loads again", async () => {
  const imports = failingOnce(["query/find"]);
  const db = await indexedDatabase([
    ...generateStudies({
      seed: "lazy",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 1 }],
    }),
  ]);
  try {
    const lazy = lazyQueryHandler(db, { aet: "CONDUIT", maxResults: 1000 });
    const find = () => Array.fromAsync(lazy.find("study", STUDY_QUERY, new AbortController().signal));
    const first = await Promise.allSettled([find(), find()]);
    assert.deepEqual(first.map((r) => r.status === "rejected" && isLazyPartError(r.reason)), [true, true]);
    assert.equal(imports["query/find"], 1, "the two first queries shared one load");
    assert.equal((await find()).length, 1);
    assert.equal((await find()).length, 1);
    assert.equal(imports["query/find"], 2);
  } finally {
    usePackagedParts(undefined);
    db.close();
  }
});

Deno.test("LazyStorageCommitment: a failed load fails the requests that shared it, the next request loads again", async () => {
  const imports = failingOnce(["commitment/commitment"]);
  const dataDir = await Deno.makeTempDir({ prefix: "lazy-commitment-" });
  try {
    const commitment = new LazyStorageCommitment(
      { dataDir, archive: { sync: false }, log: quiet } as unknown as CommitmentOptions,
    );
    const accept = (uid: string) =>
      commitment.accept({ transactionUid: uid, references: [], requesterAet: "SCU", calledAet: "CONDUIT" });
    const first = await Promise.allSettled([accept("2.25.1"), accept("2.25.2")]);
    assert.deepEqual(first.map((r) => r.status === "rejected" && isLazyPartError(r.reason)), [true, true]);
    assert.equal(imports["commitment/commitment"], 1, "the two first requests shared one load");
    await accept("2.25.3");
    assert.equal((await Array.fromAsync(Deno.readDir(path.join(dataDir, "commitment")))).length, 1);
    await commitment.stop();
  } finally {
    usePackagedParts(undefined);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name:
    "startScp(): a failed load of the association code closes the connections that waited, the next one loads",
  ignore: !!skipReason("echoscu"),
  fn: async () => {
    const imports = failingOnce(["dimse/scp"]);
    const port = freePort();
    const scp = await startScp({
      host: "127.0.0.1",
      port,
      aet: "CONDUIT",
      allowedCallingAets: ["*"],
      checkCalledAet: false,
      maxAssociations: 4,
      acceptAnySopClass: true,
      maxPduLength: 262144,
      idleTimeoutMs: 30_000,
      artimTimeoutMs: 5_000,
      log: quiet,
      store: {} as never,
      query: {} as never,
      retrieve: {} as never,
      parts: { scp: () => loadPart("dimse/scp"), tls: () => loadPart("dimse/tls") },
    });
    try {
      const echo = () =>
        runDcmtk("echoscu", ["-aec", "CONDUIT", "127.0.0.1", String(port)], { timeoutMs: 15_000 });
      assert.notEqual((await echo()).code, 0, "the load failed: the association was closed");
      const second = await echo();
      assert.equal(second.code, 0, `echoscu after the failed load: ${second.stdout}${second.stderr}`);
      assert.equal(imports["dimse/scp"], 2);
    } finally {
      usePackagedParts(undefined);
      await scp.close();
    }
  },
});
