import assert from "node:assert/strict";
import { join } from "node:path";
import { apart, findTestFiles, planShards, writeShards } from "./shards.ts";

Deno.test("findTestFiles() finds what deno test would: *_test, *.test and test modules, not packages or outputs", async () => {
  const root = await Deno.makeTempDir();
  try {
    const files = [
      "agent/a_test.ts",
      "agent/dimse/b.test.ts",
      "hub/test.ts",
      "ui/src/c_test.tsx",
      "tests/tunnel/d_test.ts",
      // not tests:
      "agent/a.ts",
      "agent/latest.ts",
      "agent/contest.ts",
      "node_modules/pkg/x_test.ts",
      "tests/.out/shards/1/000_x.shard.ts",
      "tests/.out/old_test.ts",
      "ui/viewer/v_test.ts",
      "dist/e_test.ts",
    ];
    for (const f of files) {
      await Deno.mkdir(join(root, f, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, f), "");
    }
    assert.deepEqual(await findTestFiles(root), [
      "agent/a_test.ts",
      "agent/dimse/b.test.ts",
      "hub/test.ts",
      "tests/tunnel/d_test.ts",
      "ui/src/c_test.tsx",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("planShards() puts every file in one place: tests/ folders first in fives, packages in twelves, some apart", () => {
  const files = [
    ...Array.from({ length: 7 }, (_, i) => `tests/tunnel/t${i}_test.ts`),
    ...Array.from({ length: 3 }, (_, i) => `tests/cli/c${i}_test.ts`),
    ...Array.from({ length: 25 }, (_, i) => `agent/sub${i % 3}/a${String(i).padStart(2, "0")}_test.ts`),
    "agent/lazy_part_test.ts",
    "ui/src/u_test.ts",
    "hub/h_test.ts",
  ].sort();
  const { shards, asIs } = planShards(files, {
    alone: new Set(["agent/lazy_part_test.ts", "tests/cli/c1_test.ts"]),
    asIs: new Set(["ui/src/u_test.ts"]),
  });
  assert.deepEqual(asIs, ["ui/src/u_test.ts"]);
  const placed = [...shards.flatMap((s) => s.files), ...asIs].sort();
  assert.deepEqual(placed, files, "each file once");
  assert.deepEqual(
    shards.map((s) => [s.name, s.files.length]),
    [
      ["000_tests_tunnel.shard.ts", 4],
      ["001_tests_tunnel.shard.ts", 3],
      ["002_tests_cli.shard.ts", 2],
      ["003_tests_cli.shard.ts", 1],
      ["004_agent.shard.ts", 9],
      ["005_agent.shard.ts", 8],
      ["006_agent.shard.ts", 8],
      ["007_agent.shard.ts", 1],
      ["008_hub.shard.ts", 1],
    ],
  );
  assert.deepEqual(shards[3].files, ["tests/cli/c1_test.ts"]);
  assert.deepEqual(shards[7].files, ["agent/lazy_part_test.ts"]);
  for (const s of shards) {
    const folders = new Set(s.files.map((f) => f.startsWith("tests/") ? f.split("/")[1] : f.split("/")[0]));
    assert.equal(folders.size, 1, `${s.name} holds one folder's files`);
  }
});

Deno.test("writeShards() writes modules that import their files by relative paths", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "agent"));
    await Deno.writeTextFile(join(root, "agent", "x_test.ts"), "globalThis.__shardSeen = 'x';\n");
    const [path] = await writeShards(root, join(root, "tests", ".out", "shards", "r"), [
      { name: "000_agent.shard.ts", files: ["agent/x_test.ts"] },
    ]);
    const text = await Deno.readTextFile(path);
    assert.ok(text.includes(`import "../../../../agent/x_test.ts";`), text);
    await import(`file://${path}`);
    assert.deepEqual((globalThis as { __shardSeen?: string }).__shardSeen, "x");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("apart(): ALONE's files and those that start a PostgreSQL alone, ui's as they are", async () => {
  const root = await Deno.makeTempDir();
  try {
    const files = {
      "agent/lazy_part_test.ts": "",
      "agent/plain_test.ts": "import { startTestHub } from '../tests/support/hub.ts';",
      "ui/src/u_test.ts": "",
      "tests/ops/pg_test.ts": "import { startPostgres } from '../support/postgres.ts';",
      "tests/ops/pg2_test.ts": "postgresTest('x', async (db) => {});",
      "tests/ops/named_test.ts": "// startPostgresql is another name",
    };
    for (const [f, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, f, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, f), text);
    }
    const { alone, asIs } = await apart(root, Object.keys(files));
    assert.deepEqual([...alone].sort(), [
      "agent/lazy_part_test.ts",
      "tests/ops/pg2_test.ts",
      "tests/ops/pg_test.ts",
    ]);
    assert.deepEqual([...asIs], ["ui/src/u_test.ts"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
