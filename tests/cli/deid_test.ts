/** `deno task agent deid`: de-identifies a directory with a profile file and reports per object. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { agentCli } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { type Lease, leaseFile } from "../support/lease.ts";
import { readPart10Header } from "@conduit/shared/dicom";
import { withoutDenoNotices } from "../support/deno_notices.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

Deno.test("agent deid writes de-identified objects named by their new UIDs and a summary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-cli-" });
  const series = await writeGeneratedSeries(path.join(dir, "in"), {
    count: 3,
    rows: 8,
    columns: 8,
    seed: "cli",
  });
  await Deno.writeTextFile(path.join(dir, "in", "broken.dcm"), "not dicom");
  await Deno.writeFile(path.join(dir, "key"), crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(
    path.join(dir, "profile.json"),
    JSON.stringify({
      name: "cli-test",
      actions: {
        PatientName: "D",
        PatientID: "D",
        SOPInstanceUID: "U",
        StudyInstanceUID: "U",
        SeriesInstanceUID: "U",
      },
    }),
  );
  const args = [
    "deid",
    "--profile-file",
    path.join(dir, "profile.json"),
    "--key-file",
    path.join(dir, "key"),
  ];
  const r = await agentCli([...args, "--in", path.join(dir, "in"), "--out", path.join(dir, "out"), "--json"]);
  assert.equal(r.code, 1, "a failed object makes the command fail");
  const summary = JSON.parse(r.stdout);
  // The shape docs/deidentification.md gives for --json.
  assert.deepEqual(Object.keys(summary), ["done", "held", "failed", "skipped"]);
  assert.deepEqual(summary.failed.map((f: object) => Object.keys(f)), [["file", "reason"]]);
  assert.equal(summary.failed[0].file, path.join(dir, "in", "broken.dcm"));
  assert.equal(summary.done, 3);
  assert.equal(summary.failed.length, 1);
  assert.match(summary.failed[0].reason, /not a readable DICOM file/);
  const outputs = [...Deno.readDirSync(path.join(dir, "out"))].map((e) => e.name).sort();
  assert.equal(outputs.length, 3);
  for (const name of outputs) {
    const h = readPart10Header(await Deno.readFile(path.join(dir, "out", name)));
    assert.equal(`${h.sopInstanceUid}.dcm`, name);
    assert.ok(!series.paths.some((p) => p.includes(h.sopInstanceUid!)));
  }

  // The standard profile with an option: Retain UIDs keeps the SOP Instance UID, so outputs keep their names.
  const retained = await agentCli([
    "deid",
    "--profile",
    "basic",
    "--option",
    "retain-uids",
    "--key-file",
    path.join(dir, "key"),
    "--in",
    path.join(dir, "in"),
    "--out",
    path.join(dir, "retained"),
    "--json",
  ]);
  assert.equal(retained.code, 1);
  assert.equal(JSON.parse(retained.stdout).done, 3);
  const kept = [...Deno.readDirSync(path.join(dir, "retained"))].map((e) => e.name.replace(/\.dcm$/, ""))
    .sort();
  const originals = await Promise.all(
    series.paths.map(async (p) => readPart10Header(await Deno.readFile(p)).sopInstanceUid!),
  );
  assert.deepEqual(kept, originals.sort());

  for (
    const [options, message] of [
      [
        ["--option", "retain-everything"],
        /unknown de-identification option "retain-everything"; the options are/,
      ],
      [
        ["--option", "retain-long-full-dates", "--option", "retain-long-modified-dates"],
        /exclude each other/,
      ],
    ] as const
  ) {
    const bad = await agentCli([
      "deid",
      "--profile",
      "basic",
      ...options,
      "--key-file",
      path.join(dir, "key"),
      "--in",
      dir,
      "--out",
      path.join(dir, "never"),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, message);
  }
  // An --in that is not there is a usage error, before --out is made.
  const missing = await agentCli([
    ...args,
    "--in",
    path.join(dir, "nowhere"),
    "--out",
    path.join(dir, "never"),
  ]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /agent deid: --in .*nowhere: no such file or directory/);
  assert.equal(fs.existsSync(path.join(dir, "never")), false, "no --out made");
  // An --out that is a file is a usage error too, said as such.
  const onFile = await agentCli([...args, "--in", path.join(dir, "in"), "--out", path.join(dir, "key")]);
  assert.equal(onFile.code, 2, onFile.stderr);
  assert.match(onFile.stderr, /agent deid: --out .*key: a file, not a directory/);
});

Deno.test("agent deid honours a pseudonym table and sets trial attributes; a bad table is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-cli-" });
  await writeGeneratedSeries(path.join(dir, "in"), {
    count: 1,
    rows: 8,
    columns: 8,
    seed: "table",
  });
  await Deno.writeFile(path.join(dir, "key"), crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(
    path.join(dir, "profile.json"),
    JSON.stringify({ actions: { PatientID: "D", SOPInstanceUID: "U" } }),
  );
  const original = "PAT0001"; // the generator's first patient
  await Deno.writeTextFile(
    path.join(dir, "table.csv"),
    `patient id,pseudonym\n"${original}",SUBJ-042\nPAT9999,SUBJ-099\n`,
  );
  const args = [
    "deid",
    "--profile-file",
    path.join(dir, "profile.json"),
    "--key-file",
    path.join(dir, "key"),
  ];
  const r = await agentCli([
    ...args,
    "--pseudonyms",
    path.join(dir, "table.csv"),
    "--trial-sponsor",
    "ACME",
    "--trial-protocol",
    "P-1",
    "--trial-site",
    "north",
    "--trial",
    "timePointId=BASELINE",
    "--trial",
    "coordinatingCenterName=Central Reading",
    "--in",
    path.join(dir, "in"),
    "--out",
    path.join(dir, "out"),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [name] = [...Deno.readDirSync(path.join(dir, "out"))].map((e) => e.name);
  const text = new TextDecoder("latin1").decode(await Deno.readFile(path.join(dir, "out", name)));
  assert.ok(text.includes("SUBJ-042"), "the table's pseudonym is the Patient ID (and the trial subject)");
  assert.ok(text.includes("ACME") && text.includes("north"));
  assert.ok(text.includes("BASELINE") && text.includes("Central Reading"), "--trial KEY=VALUE attributes");
  assert.ok(!text.includes(original), "the original Patient ID is gone");
  // The row whose patient is not in --in is named by its line, not by its Patient ID.
  assert.match(r.stderr, /1 of 2 row\(s\) of .*table\.csv went into no output \(line 3\)/);
  assert.ok(!r.stderr.includes("PAT9999"), r.stderr);

  // A usage error stops the command before any output: exit 2, the reason, no --out made.
  const refused = async (flags: string[], why: RegExp) => {
    const out = path.join(dir, "refused");
    const r = await agentCli([...args, ...flags, "--in", path.join(dir, "in"), "--out", out]);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.equal(fs.existsSync(out), false, "no output");
  };
  const trial = ["--trial-sponsor", "ACME", "--trial-protocol", "P-1", "--trial-site", "north"];
  // An unknown trial attribute, one that cannot be written, or one of the three flags' (silently lost before).
  await refused([...trial, "--trial", "colour=blue"], /unknown attribute "colour"/);
  await refused([...trial, "--trial", "siteName=A\\B"], /backslash/);
  await refused(
    [...trial, "--trial", "sponsorName=OTHER"],
    /--trial sponsorName: give it as --trial-sponsor/,
  );
  await refused(
    [...trial, "--trial", "siteName=A", "--trial", "siteName=B"],
    /--trial siteName: given twice/,
  );
  // A name prefix that would break Patient Name (two values, other components, not ASCII) is refused.
  for (const prefix of ["A\\B", "X^Y", "M\u00fcller", "", "L".repeat(54)]) {
    await refused(["--name-prefix", prefix], /--name-prefix .*: 1 to 53 printable ASCII characters without/);
  }
  // A pseudonym with a backslash would make the Patient ID two values.
  await Deno.writeTextFile(path.join(dir, "two.csv"), "PAT0001,A\\B\n");
  await refused(
    ["--pseudonyms", path.join(dir, "two.csv")],
    /line 1: the pseudonym is not printable ASCII without a backslash/,
  );
  await Deno.writeTextFile(path.join(dir, "bad.csv"), "PAT0001\n");
  await refused(
    ["--pseudonyms", path.join(dir, "bad.csv")],
    /line 1: expected "original Patient ID, pseudonym"/,
  );
  // A table that gives one patient two pseudonyms (the last won), or one pseudonym to two patients (they became
  // one), is refused naming both lines, as a transfer's table is; semicolons (Excel in much of Europe) read.
  await Deno.writeTextFile(path.join(dir, "twice.csv"), "PatientID;Pseudonym\nPAT0001;S-1\n\nPAT0001;S-2\n");
  await refused(
    ["--pseudonyms", path.join(dir, "twice.csv")],
    /line 4: line 2 gave this patient another pseudonym/,
  );
  await Deno.writeTextFile(path.join(dir, "merge.csv"), "PAT0001,S-1\nPAT0002,S-1\n");
  await refused(
    ["--pseudonyms", path.join(dir, "merge.csv")],
    /line 2: line 1 gave the pseudonym "S-1" to another patient: two patients would become one/,
  );
  await Deno.writeTextFile(path.join(dir, "three.csv"), "PAT0001,S-1,note\n");
  await refused(["--pseudonyms", path.join(dir, "three.csv")], /line 1: expected .*, not 3 values/);
  // A trial value's problem names the flag that gave it.
  await refused(
    ["--trial-sponsor", "Zo\u00eb", "--trial-protocol", "P-1", "--trial-site", "north"],
    /trial attributes: --trial-sponsor must be printable ASCII/,
  );
});

Deno.test("agent deid never reads its own outputs: --out under --in is left out, --out as --in refused", async () => {
  const top = await Deno.makeTempDir({ prefix: "deid-cli-nest-" });
  const dir = path.join(top, "in");
  await writeGeneratedSeries(dir, { count: 2, rows: 8, columns: 8, seed: "nest" });
  await Deno.writeFile(path.join(top, "key"), crypto.getRandomValues(new Uint8Array(32)));
  const run = (out: string) =>
    agentCli(["deid", "--profile", "basic", "--key-file", path.join(top, "key"), "--in", dir, "--out", out]);
  const out = path.join(dir, "out");
  for (let i = 0; i < 2; i++) {
    const r = await run(out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /--out .* is under --in: the files in it are not read/);
    // Until 2026-12-07 the second run also de-identified the first's outputs: 4 files, then 6.
    assert.equal([...Deno.readDirSync(out)].length, 2);
  }
  const same = await run(dir);
  assert.equal(same.code, 2);
  assert.match(same.stderr, /is --in: give the outputs a directory of their own/);
});

/**
 * A FIFO nobody writes to held the run in open() for good (anything not a directory was read as a file), and
 * a socket failed as unreadable: both are now skipped with a line each on stderr and counted in the summary.
 * The run is waited for with eventually(), so the old behaviour fails here rather than hanging the suite.
 */
Deno.test({
  name: "agent deid skips a FIFO and a socket under --in, says so on stderr and counts them",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "deid-special-" });
    const inDir = path.join(dir, "in");
    const run = async (json: boolean) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          ...DENO_RUN_FLAGS,
          new URL("../../agent/main.ts", import.meta.url).pathname,
          "deid",
        ].concat(
          ["--profile", "basic", "--key-file", path.join(dir, "key"), "--in", inDir],
          ["--out", path.join(dir, json ? "out-json" : "out")],
          json ? ["--json"] : [],
        ),
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let ended: Deno.CommandOutput | undefined;
      const output = child.output().then((o) => ended = o);
      try {
        await eventually("the run to end", () => ended, 60_000);
      } finally {
        if (!ended) child.kill("SIGKILL");
        await output;
      }
      const text = new TextDecoder();
      return {
        code: ended!.code,
        stdout: text.decode(ended!.stdout),
        stderr: withoutDenoNotices(text.decode(ended!.stderr)),
      };
    };
    await Deno.mkdir(inDir);
    const socket = Deno.listen({ transport: "unix", path: path.join(inDir, "b.sock") });
    try {
      await writeGeneratedSeries(inDir, { count: 2, rows: 8, columns: 8, seed: "deid-special" });
      await Deno.writeFile(path.join(dir, "key"), crypto.getRandomValues(new Uint8Array(32)));
      const mkfifo = await new Deno.Command("mkfifo", { args: [path.join(inDir, "a.fifo")] }).output();
      assert.equal(mkfifo.code, 0, "mkfifo");
      const skipped = [
        { file: path.join(inDir, "a.fifo"), reason: "a FIFO (named pipe), not a regular file: skipped" },
        { file: path.join(inDir, "b.sock"), reason: "a socket, not a regular file: skipped" },
      ];
      const lines = skipped.map((s) => `agent deid: ${s.file}: ${s.reason}`);

      const json = await run(true);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), { done: 2, held: [], failed: [], skipped });
      assert.deepEqual(json.stderr.trim().split("\n"), lines);
      assert.equal([...Deno.readDirSync(path.join(dir, "out-json"))].length, 2);

      const plain = await run(false);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout.trim(), "done 2, held back 0, failed 0, skipped 2");
      assert.deepEqual(plain.stderr.trim().split("\n"), lines);
    } finally {
      socket.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "agent deid stopped by Ctrl-C finishes the file in progress, starts no other and says what it did",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "deid-sigint-" });
    let lease: Lease | undefined;
    try {
      const [inDir, out, key] = [path.join(dir, "in"), path.join(dir, "out"), path.join(dir, "key")];
      await writeGeneratedSeries(inDir, { count: 400, rows: 8, columns: 8, seed: "deid-sigint" });
      await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
      // The run is held at its second input (inputs go in name order), the signal sent meanwhile.
      const second = [...Deno.readDirSync(inDir)].map((e) => e.name).sort()[1];
      lease = await leaseFile(path.join(inDir, second));
      const run = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          ...DENO_RUN_FLAGS,
          path.join(ROOT, "agent/main.ts"),
          ...["deid", "--profile", "basic", "--key-file", key, "--in", inDir, "--out", out, "--json"],
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const placed = () => [...Deno.readDirSync(out)].filter((e) => !e.name.startsWith("."));
      await eventually("the first output placed", () => {
        try {
          return placed().length > 0;
        } catch {
          return false; // --out not made yet
        }
      });
      run.kill("SIGINT");
      await lease.release();
      const o = await run.output();
      const [stdout, stderr] = [
        new TextDecoder().decode(o.stdout),
        withoutDenoNotices(new TextDecoder().decode(o.stderr)),
      ];
      // It ended where it was, killed by the signal: no summary, a staged file left behind (until 2026-12-06).
      assert.equal(o.code, 130, stderr);
      const summary = JSON.parse(stdout);
      assert.equal(summary.stopped.signal, "SIGINT");
      assert.ok(summary.stopped.notStarted > 0, stdout);
      assert.equal(summary.done + summary.stopped.notStarted, 400, stdout);
      assert.match(stderr, /^agent deid: SIGINT: finishing the files in progress, then stopping/m);
      assert.match(
        stderr,
        new RegExp(
          `^agent deid: stopped by SIGINT: ${summary.stopped.notStarted} of 400 input\\(s\\) not started`,
          "m",
        ),
      );
      // What it says it did is in --out, whole, and nothing staged is left.
      const names = [...Deno.readDirSync(out)].map((e) => e.name);
      assert.equal(names.length, summary.done, names.join(" "));
      for (const name of names) assert.match(name, /^2\.25\.\d+\.dcm$/);
    } finally {
      await lease?.release();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
