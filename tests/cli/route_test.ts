/** `deno task agent route test`: which routes objects would take, from the real CLI. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { agentCli } from "../support/agent.ts";

Deno.test("agent route test shows the routes each object takes, tags and exclusions included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "route-test-" });
  await writeGeneratedSeries(path.join(dir, "ct"), {
    count: 2,
    rows: 8,
    columns: 8,
    modality: "CT",
    seed: "r1",
  });
  await writeGeneratedSeries(path.join(dir, "mr"), {
    count: 1,
    rows: 8,
    columns: 8,
    modality: "MR",
    seed: "r2",
  });
  await Deno.writeTextFile(path.join(dir, "broken.dcm"), "not dicom at all");
  const config = path.join(dir, "agent.yaml");
  await Deno.writeTextFile(
    config,
    `nodes:
  a: { aet: A, host: 127.0.0.1, port: 1104 }
  b: { aet: B, host: 127.0.0.1, port: 1105 }
routes:
  - name: ct
    match: { modality: [CT], tags: { "(0008,0070)": { present: true } } }
    to: [{ node: a }, { node: b }]
  - name: not-mr
    exclude: { modality: [MR] }
    to: [{ node: b }]
  - name: by-regex
    match: { tags: { PatientID: { regex: "^PAT0+1$" } } }
    to: [{ node: a }]
`,
  );
  const r = await agentCli(["route", "test", dir, "--config", config, "--json"]);
  assert.equal(r.code, 1, "the broken file makes the command fail");
  assert.match(r.stderr, /broken\.dcm: not a readable DICOM file/);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  for (const l of lines.filter((l) => l.modality === "CT")) {
    assert.deepEqual(
      l.routes.map((t: { route: string; destination: string }) => `${t.route}:${t.destination}`).sort(),
      [
        "by-regex:a",
        "ct:a",
        "ct:b",
        "not-mr:b",
      ],
    );
  }
  const mr = lines.find((l) => l.modality === "MR");
  assert.deepEqual(mr.routes.map((t: { route: string }) => t.route), ["by-regex"]);
  assert.ok(!r.stdout.includes("PAT0"), "no patient ID in the output");

  await Deno.writeTextFile(config, `routes:\n  - name: x\n    to: [{ node: nowhere }]\n`);
  const bad = await agentCli(["route", "test", dir, "--config", config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /routes: x: no node named "nowhere"/);
});

Deno.test("agent route test marks de-identifying routes; a deid step without a usable key or option stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "route-deid-" });
  await writeGeneratedSeries(path.join(dir, "ct"), {
    count: 1,
    rows: 8,
    columns: 8,
    modality: "CT",
    seed: "rd",
  });
  const key = path.join(dir, "project.key");
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
  const config = path.join(dir, "agent.yaml");
  const write = (deid: string) =>
    Deno.writeTextFile(
      config,
      `nodes:\n  a: { aet: A, host: 127.0.0.1, port: 1104 }\nroutes:\n  - name: research\n    to: [{ node: a }]\n` +
        `    deid: ${deid}\n`,
    );
  await write(`{ profile: basic, options: [retain-uids], keyFile: ${key} }`);
  const ok = await agentCli(["route", "test", path.join(dir, "ct"), "--config", config]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /research -> a \(de-identified\)/);
  const json = await agentCli(["route", "test", path.join(dir, "ct"), "--config", config, "--json"]);
  assert.deepEqual(JSON.parse(json.stdout).routes, [{ route: "research", destination: "a", deid: true }]);

  const refused = async (deid: string, message: RegExp) => {
    await write(deid);
    const r = await agentCli(["route", "test", path.join(dir, "ct"), "--config", config]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  };
  await refused(
    `{ profile: basic, options: [retain-everything], keyFile: ${key} }`,
    /routes: research: deid: unknown de-identification option "retain-everything"/,
  );
  await refused(`{ profile: basic }`, /routes: research: deid needs a key: set deid.keyFile/);
  await refused(
    `{ profile: basic, keyFile: ${dir}/missing.key }`,
    /routes: research: deid: cannot read the key file .*missing\.key: no such file/,
  );
  await Deno.writeTextFile(path.join(dir, "short.key"), "short");
  await refused(`{ profile: basic, keyFile: ${dir}/short.key }`, /holds 5 bytes; it needs at least 16/);
  await refused(`{ profile: strict, keyFile: ${key} }`, /routes\.0\.deid\.profile: the profile is "basic"/);
  // A custom profile file is read and checked at start, its entry named.
  const profile = path.join(dir, "custom.json");
  await Deno.writeTextFile(profile, JSON.stringify({ actions: { "(0019,xx10)": "K" } }));
  await refused(
    `{ profile: basic, profileFile: ${profile}, keyFile: ${key} }`,
    /routes: research: deid: profile .*custom\.json: actions: "\(0019,xx10\)": 0019 is a private \(odd\) group/,
  );
  await refused(
    `{ profile: basic, profileFile: ${dir}/missing.json, keyFile: ${key} }`,
    /routes: research: deid: profile .*missing\.json: cannot read it/,
  );
  await Deno.writeTextFile(profile, JSON.stringify({ actions: { '(0009,"GEMS_IDEN_01",04)': "K" } }));
  await write(`{ profile: basic, profileFile: ${profile}, keyFile: ${key} }`);
  const custom = await agentCli(["route", "test", path.join(dir, "ct"), "--config", config]);
  assert.equal(custom.code, 0, custom.stderr);
  assert.match(custom.stdout, /research -> a \(de-identified\)/);

  // The site's key is read at start: an unusable one stops the agent before it opens anything.
  await Deno.writeTextFile(config, `deid: { keyFile: ${dir}/short.key }\n`);
  const start = await agentCli([
    "--config",
    config,
    "--data",
    path.join(dir, "data"),
    "--port",
    "0",
    "--http-port",
    "0",
  ]);
  assert.equal(start.code, 2, start.stderr);
  assert.match(
    start.stderr,
    /^deid\.keyFile: the key file .*short\.key holds 5 bytes; it needs at least 16/m,
  );
});

Deno.test("agent route test with a path that is not there: a usage error naming it, nothing tested (exit 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "route-missing-" });
  try {
    await writeGeneratedSeries(path.join(dir, "ct"), { count: 1, rows: 8, columns: 8, seed: "r-missing" });
    const missing = path.join(dir, "no-such-dir");
    const r = await agentCli(["route", "test", path.join(dir, "ct"), missing]);
    // It was "not a readable DICOM file: No such file or directory", exit code 1, after testing the others.
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^agent route: ${missing}: no such file or directory\\nusage: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
