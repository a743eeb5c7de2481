import assert from "node:assert/strict";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import {
  BUILD_INFO_METRIC,
  type BuildInfo,
  buildInfoLabels,
  formatBuild,
  gitOn,
  MAX_BUILD_TEXT,
  parseBuild,
  readBuild,
} from "./build.ts";
import { Hello } from "./tunnel/hello.ts";

/** A build text's shape, as operators and scripts read it (docs/operations.md, "Which build runs where"). */
const SHAPE = /^\d+\.\d+\.\d+\+[0-9a-f]{8} \(\d{4}-\d{2}-\d{2}(, modified)?\)$/;

const run = (command: string, options: Deno.CommandOptions) => new Deno.Command(command, options).output();

Deno.test("formatBuild() names the version, the commit, its date, and a tree with changes", () => {
  const b: BuildInfo = { version: "0.1.0", commit: "140c00aa", date: "2026-12-06", modified: true };
  assert.equal(formatBuild(b), "0.1.0+140c00aa (2026-12-06, modified)");
  assert.equal(formatBuild({ ...b, modified: false }), "0.1.0+140c00aa (2026-12-06)");
  assert.equal(
    formatBuild({ ...b, commit: "140c00aa9f9e", date: null }),
    "0.1.0+140c00aa (unknown date, modified)",
  );
  assert.equal(
    formatBuild({ version: "0.1.0", commit: null, date: null, modified: false }),
    "0.1.0 (unknown commit)",
  );
  assert.match(formatBuild({ ...b, modified: false }), SHAPE);
});

Deno.test("parseBuild() reads back what formatBuild() wrote, and nothing from a bare version", () => {
  for (
    const b of [
      { version: "0.1.0", commit: "140c00aa", date: "2026-12-06", modified: true },
      { version: "0.1.0", commit: "140c00aa", date: null, modified: false },
    ]
  ) assert.deepEqual(parseBuild(formatBuild(b)), b);
  for (const old of ["0.1.0", "0.0.9", "0.1.0 (unknown commit)", "test", "", undefined]) {
    assert.equal(parseBuild(old), undefined, String(old));
  }
});

/**
 * The hello of the first hub (shared/tunnel/messages.ts at 53157b78, 2026-11-22): strict, agentVersion any
 * string of up to 64 characters. Every hub since takes the same field alike (`git log -p shared/tunnel`).
 */
const FIRST_HUB_HELLO = z.object({
  protocol: z.literal("conduit-tunnel"),
  version: z.number().int(),
  site: z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  agentVersion: z.string().max(64),
}).strict();

Deno.test("formatBuild() fits the hello of every hub, the first one's included, at its longest", () => {
  const longest = formatBuild({
    version: "x".repeat(24),
    commit: "f".repeat(40),
    date: "2026-12-06",
    modified: true,
  });
  assert.ok(longest.length <= MAX_BUILD_TEXT, `${longest.length} characters`);
  const hello = { protocol: "conduit-tunnel", version: 1, site: "north", agentVersion: longest };
  assert.deepEqual(FIRST_HUB_HELLO.parse(hello), hello);
  assert.equal(Hello.parse(hello).agentVersion, longest);
});

Deno.test("buildInfoLabels() labels conduit_build_info, unknown where nothing says", () => {
  assert.deepEqual([...BUILD_INFO_METRIC.labelNames], ["version", "commit", "date", "modified"]);
  assert.deepEqual(buildInfoLabels({ version: "0.1.0", commit: null, date: null, modified: false }), {
    version: "0.1.0",
    commit: "unknown",
    date: "unknown",
    modified: "false",
  });
});

/** `git` in `dir` with a fixed author and committer (and their date), failing the test when it fails. */
async function git(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=t", "-c", "user.email=t@example.org", ...args],
    cwd: dir,
    env: { GIT_AUTHOR_DATE: "2026-11-30T23:30:00-05:00", GIT_COMMITTER_DATE: "2026-11-30T23:30:00-05:00" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test({
  name: "readBuild() from a checkout: its commit and UTC date, modified by tracked changes only",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "build-" });
    try {
      await Deno.writeTextFile(path.join(dir, "a.txt"), "one\n");
      await git(dir, "init", "-q");
      await git(dir, "add", "a.txt");
      await git(dir, "commit", "-q", "-m", "one");
      const root = pathToFileURL(dir + "/");
      const sources = { git: gitOn(root, run), stamp: () => Promise.resolve(undefined) };
      const clean = await readBuild("0.1.0", sources);
      // 23:30 at UTC-5 is the next day in UTC.
      assert.equal(clean.date, "2026-12-01");
      assert.equal(clean.modified, false);
      assert.match(formatBuild(clean), SHAPE);
      await Deno.writeTextFile(path.join(dir, "untracked.txt"), "x\n");
      assert.equal((await readBuild("0.1.0", sources)).modified, false, "an untracked file is no change");
      await Deno.writeTextFile(path.join(dir, "a.txt"), "two\n");
      const dirty = await readBuild("0.1.0", sources);
      assert.deepEqual(dirty, { ...clean, modified: true });
      assert.equal(formatBuild(dirty), `0.1.0+${clean.commit} (2026-12-01, modified)`);

      // A folder inside the checkout, without a .git of its own (a bundle under dist/), is not the checkout.
      await Deno.mkdir(path.join(dir, "dist"));
      const inner = {
        git: gitOn(pathToFileURL(dir + "/dist/"), run),
        stamp: () => Promise.resolve(undefined),
      };
      assert.equal(formatBuild(await readBuild("0.1.0", inner)), "0.1.0 (unknown commit)");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("readBuild() without git: the stamp a build wrote, else an unknown commit", async () => {
  const noGit = () => Promise.resolve(undefined);
  const stamp = { version: "0.1.0", commit: "140c00aa", date: "2026-12-06", modified: true };
  const stamped = await readBuild("0.1.0", {
    git: noGit,
    stamp: () => Promise.resolve(JSON.stringify(stamp)),
  });
  assert.deepEqual(stamped, stamp);
  for (const bad of [undefined, "{", JSON.stringify({ ...stamp, commit: "not a hash" })]) {
    const b = await readBuild("0.1.0", { git: noGit, stamp: () => Promise.resolve(bad) });
    assert.equal(formatBuild(b), "0.1.0 (unknown commit)", String(bad));
  }
});
