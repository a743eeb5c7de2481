/**
 * docs/deidentification.md (and the option lists of configuration.md and the agent's `deid --help`) against
 * the generated profile: the options, their CID 7050 codes, and the tables' sizes and source hash.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { encodingOf, findElement, parseDataSet, readPart10Header, stringValue } from "@conduit/shared/dicom";
import generated from "../../agent/deid/ps3.15/profile_2026c.json" with { type: "json" };
import tableE11 from "../../agent/deid/ps3.15/table_e1_1.json" with { type: "json" };
import safePrivate from "../../agent/deid/ps3.15/safe_private.json" with { type: "json" };
import { OPTION_NAMES } from "../../agent/deid/profile.ts";
import { fences, readDoc, section, tables } from "../support/markdown.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { agentCli } from "../support/agent.ts";

const doc = readDoc("docs/deidentification.md");

Deno.test("docs/deidentification.md's options table is the generated profile's options, with their codes", () => {
  const [options] = tables(section(doc, "## Profile and options"));
  const documented = options.map((r) => [r.option.replaceAll("`", ""), r["CID 7050"]]);
  assert.deepEqual(documented, [
    ["(basic)", generated.basic.code],
    ...generated.options.map((o) => [o.name, o.code]),
  ]);
});

Deno.test("docs/deidentification.md names the tables' edition, size and source as the JSON files hold them", () => {
  const [files] = tables(section(doc, "## Where the profile comes from"));
  const row = (file: string) => files.find((r) => r["file (`agent/deid/ps3.15/`)"] === `\`${file}\``)!.what;
  const e11 = row("table_e1_1.json");
  assert.match(e11, new RegExp(`PS3\\.15 ${tableE11.edition} Table E\\.1-1`));
  assert.match(e11, new RegExp(`all ${tableE11.columns.length} columns, ${tableE11.rows.length} rows`));
  const sha = /SHA-256 `([0-9a-f]+)…([0-9a-f]+)`/.exec(e11)!;
  assert.ok(tableE11.sourceSha256.startsWith(sha[1]) && tableE11.sourceSha256.endsWith(sha[2]));
  assert.match(row("safe_private.json"), new RegExp(`the ${safePrivate.rows.length} private attributes`));
  assert.match(doc, new RegExp(`PS3\\.15 ${generated.edition}`));
});

/** What `agent deid --help` prints, stdout and stderr together. */
async function deidHelp(): Promise<string> {
  const help = await agentCli(["deid", "--help"]);
  return help.stdout + help.stderr;
}

Deno.test("every list of de-identification options in the documents and in deid --help names them all", async () => {
  const config = readDoc("docs/configuration.md");
  const [deid] = tables(section(config, "## De-identification"));
  const cell = deid.find((r) => r.key === "`routes[].deid.options`")!.meaning;
  assert.deepEqual([...cell.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]), [...OPTION_NAMES]);
  const text = await deidHelp();
  assert.match(text, new RegExp(`options: ${OPTION_NAMES.join(", ")}`));
});

Deno.test("docs/deidentification.md's command line names the flags deid --help names", async () => {
  const [command] = fences(section(doc, "## The command"), "sh");
  const flags = (text: string) => new Set([...text.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
  const text = await deidHelp();
  const usage = text.slice(0, text.indexOf("options:"));
  assert.deepEqual([...flags(command.code)].sort(), [...flags(usage)].sort());
});

Deno.test("docs/deidentification.md's --profile-file example is a profile the deid command takes, and applies", async () => {
  const jsons = fences(section(doc, "## The command"), "json");
  const example = jsons.find((f) => f.code.includes('"actions"'))!;
  const summaryExample = JSON.parse(jsons.find((f) => f.code.includes('"done"'))!.code);
  const dir = await Deno.makeTempDir({ prefix: "docs-deid-profile-" });
  try {
    const profile = path.join(dir, "custom.json");
    await Deno.writeTextFile(profile, example.code);
    const key = path.join(dir, "project.key");
    await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
    const input = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
    const out = path.join(dir, "out");
    const run = await agentCli([
      "deid",
      "--profile",
      "basic",
    ]
      .concat(["--profile-file", profile, "--key-file", key, "--in", input, "--out", out, "--json"]));
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(summary, { done: 1, held: [], failed: [], skipped: [] });
    // The --json shape the document shows is the command's.
    assert.deepEqual(Object.keys(summaryExample), Object.keys(summary));
    for (const list of ["held", "failed"]) {
      assert.deepEqual(Object.keys(summaryExample[list][0]), ["file", "reason"]);
    }
    // The example keeps StudyDescription (K), which the basic profile would remove, and removes Station Name.
    const [made] = [...Deno.readDirSync(out)];
    const bytes = Deno.readFileSync(path.join(out, made.name));
    const header = readPart10Header(bytes);
    const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
      start: header.datasetOffset,
    });
    const description = findElement(dataset, 0x00081030);
    assert.ok(description, "StudyDescription kept");
    assert.equal(stringValue(bytes, description), "e+1");
    assert.equal(findElement(dataset, 0x00081010), undefined, "StationName removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/deidentification.md's pseudonym table: its header example is skipped, a first data row is not", async () => {
  const text = section(doc, "## The command").replace(/\s+/g, " ");
  const header = /such as `([^`]+)`, is the header/.exec(text)?.[1];
  assert.ok(header, "the document gives a header example");
  const dir = await Deno.makeTempDir({ prefix: "docs-deid-pseudonyms-" });
  try {
    const key = path.join(dir, "project.key");
    await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
    const input = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm"); // Patient ID 1CT1
    for (const [name, csv] of [["with-header", `${header}\n1CT1,TRIAL-1\n`], ["without", "1CT1,TRIAL-1\n"]]) {
      const table = path.join(dir, `${name}.csv`);
      await Deno.writeTextFile(table, csv);
      const out = path.join(dir, name);
      const run = await agentCli(
        [
          "deid",
          "--profile",
          "basic",
          "--key-file",
          key,
          "--in",
          input,
          "--out",
          out,
          "--pseudonyms",
          table,
          "--json",
        ],
      );
      assert.equal(run.code, 0, run.stderr);
      const [made] = [...Deno.readDirSync(out)];
      const bytes = Deno.readFileSync(path.join(out, made.name));
      const h = readPart10Header(bytes);
      const { dataset } = parseDataSet(bytes, encodingOf(h.transferSyntax), { start: h.datasetOffset });
      assert.equal(stringValue(bytes, findElement(dataset, 0x00100020)!), "TRIAL-1", name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/deidentification.md's custom profile example is read, and does what its text says", async () => {
  const [example] = fences(section(doc, "## Custom profiles"), "json");
  const dir = await Deno.makeTempDir({ prefix: "docs-deid-custom-" });
  try {
    const profile = path.join(dir, "research-ct.json");
    await Deno.writeTextFile(profile, example.code);
    const key = path.join(dir, "project.key");
    await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
    const out = path.join(dir, "out");
    const run = await agentCli(
      [
        "deid",
        "--profile",
        "basic",
      ]
        .concat([
          "--profile-file",
          profile,
          "--key-file",
          key,
          "--in",
          path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm"),
        ])
        .concat(["--out", out, "--json"]),
    );
    assert.equal(run.code, 0, run.stderr);
    const [made] = [...Deno.readDirSync(out)];
    const bytes = Deno.readFileSync(path.join(out, made.name));
    const header = readPart10Header(bytes);
    const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
      start: header.datasetOffset,
    });
    const text = (tag: number) => {
      const el = findElement(dataset, tag);
      return el && stringValue(bytes, el);
    };
    assert.equal(text(0x00081010), "CT01_OC0", "Station Name kept by (0008,10xx)");
    assert.equal(text(0x00081030), undefined, "Study Description removed: the exact tag wins");
    assert.equal(text(0x00080080), "TRIAL SITE 3", "Institution Name replaced by the value");
    assert.equal(text(0x00181100), undefined, "(0018,11xx) removed");
    assert.equal(text(0x00091004), "HiSpeed CT/i", "GE's product ID kept");
    assert.equal(text(0x00090010), "GEMS_IDEN_01", "with its creator");
    assert.equal(text(0x00091002), undefined, "the rest of its block removed");
    assert.equal(text(0x00191004), "1.016600", "GE's acquisition block kept");
    assert.equal(findElement(dataset, 0x00191003)?.length, 0, "but its element 03 emptied");
    const raw = findElement(dataset, 0x00431028)!;
    assert.ok(
      raw.length > 0 && bytes.subarray(raw.valueOffset, raw.end).every((b) => b === 0),
      "(0043,xx28) zeroed",
    );
    assert.equal(text(0x00111010), undefined, "every other private attribute removed");
    assert.match(text(0x00120063)!, /research-ct/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
