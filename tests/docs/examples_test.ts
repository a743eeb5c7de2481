/**
 * The documents' examples work: every YAML example loads through the agent's real configuration loader and
 * its routes compile (fragments completed with the nodes and hub the documents assume), or, one whose
 * first line is `# hub.yaml`, through the hub's; the documented
 * configuration errors are the messages the agent prints, and links between the documents resolve.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify } from "yaml";
import { loadConfig } from "../../agent/config/load.ts";
import { loadHubConfig } from "../../hub/config.ts";
import { compileRoutes } from "../../agent/routing/rules.ts";
import { loadProfile } from "../../agent/deid/load_profile.ts";
import { anchors, fences, links, readDoc, REPO, section, tables } from "../support/markdown.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const DOCS = [
  "README.md",
  ...[...Deno.readDirSync(new URL("docs/", REPO))].filter((e) => e.name.endsWith(".md")).map((e) =>
    `docs/${e.name}`
  ).sort(),
];

/**
 * What the documents' fragments assume is configured elsewhere: the nodes routing.md's examples name
 * ("The examples assume these nodes"), the nodes other fragments name, and a hub for site destinations.
 */
const CONTEXT = {
  nodes: {
    research: { aet: "RESEARCH", host: "10.0.0.30", port: 104 },
    archive: { aet: "VNA", host: "10.0.0.40", port: 11112 },
  },
  hub: { url: "wss://hub.example.org/tunnel" },
};

/** A fragment made whole: a bare `tags:` map is a route's match; missing nodes and hub come from CONTEXT. */
function complete(doc: Record<string, unknown>): Record<string, unknown> {
  if (Object.keys(doc).length === 1 && "tags" in doc) {
    doc = { routes: [{ name: "fragment", match: { tags: doc.tags }, to: [{ node: "research" }] }] };
  }
  if (!doc.routes) return doc;
  return {
    ...doc,
    nodes: { ...CONTEXT.nodes, ...(doc.nodes as object) },
    hub: { ...CONTEXT.hub, ...(doc.hub as object) },
  };
}

/** The configuration example that shows errors, and the messages the document says it gets. */
const BAD = "site: North\n";
/** The first line of an example of the hub's configuration. */
const HUB_YAML = "# hub.yaml\n";

Deno.test("every YAML example in the documents loads through the agent's loader (the hub's for a hub.yaml) and its routes compile", async () => {
  await loadProfile();
  const dir = await Deno.makeTempDir({ prefix: "docs-yaml-" });
  const key = path.join(dir, "project.key");
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
  let count = 0;
  let hubCount = 0;
  try {
    for (const file of DOCS) {
      for (const { code, line } of fences(readDoc(file), "yaml")) {
        if (code.startsWith(BAD)) continue; // the errors example, below
        const where = `${file}:${line}`;
        if (code.startsWith(HUB_YAML)) {
          try {
            loadHubConfig({ flags: { config: where }, env: {}, readFile: () => code });
          } catch (err) {
            assert.fail(`${where}: ${(err as Error).message}`);
          }
          hubCount++;
          continue;
        }
        const text = stringify(complete(parseYaml(code) as Record<string, unknown>));
        let config;
        try {
          ({ config } = loadConfig({ flags: { config: where }, env: {}, readFile: () => text }));
        } catch (err) {
          assert.fail(`${where}: ${(err as Error).message}`);
        }
        // Key files named in examples are the sites' own: a key made here stands in for each.
        const routes = config.routes.map((r) => r.deid ? { ...r, deid: { ...r.deid, keyFile: key } } : r);
        try {
          compileRoutes({ ...config, routes, deid: { keyFile: key } });
        } catch (err) {
          assert.fail(`${where}: ${(err as Error).message}`);
        }
        count++;
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(count >= 10, `${count} examples`);
  assert.ok(hubCount >= 1, `${hubCount} examples of the hub's configuration`);
});

const AGENT = fileURLToPath(new URL("agent/main.ts", REPO));

/** Runs the agent as the document's `$ ...` line says, in `cwd`, and returns its standard error. */
async function run(commandLine: string, cwd: string): Promise<{ code: number; stderr: string }> {
  const words = [...commandLine.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  const env: Record<string, string> = {};
  while (/^[A-Z_]+=/.test(words[0])) {
    const [name, ...value] = words.shift()!.split("=");
    env[name] = value.join("=");
  }
  assert.deepEqual(words.slice(0, 4), ["deno", "run", "-A", "agent/main.ts"], commandLine);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...DENO_RUN_FLAGS, AGENT, ...words.slice(4)],
    cwd,
    env: { ...env, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("the configuration errors docs/configuration.md shows are the ones the agent prints, exit code 2", async () => {
  const errors = section(readDoc("docs/configuration.md"), "## Configuration errors");
  const dir = await Deno.makeTempDir({ prefix: "docs-errors-" });
  try {
    const [bad] = fences(errors, "yaml");
    assert.ok(bad.code.startsWith(BAD));
    await Deno.writeTextFile(path.join(dir, "bad.yaml"), bad.code);
    let count = 0;
    for (const { code } of fences(errors, "text")) {
      // A block of `$ command` lines, each followed by what it prints.
      for (const m of code.matchAll(/^\$ (.*)\n((?:config: .*\n)+)/gm)) {
        const got = await run(m[1], dir);
        assert.equal(got.code, 2, m[1]);
        assert.equal(got.stderr, m[2], m[1]);
        count++;
      }
    }
    assert.equal(count, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every link between the documents resolves, to a file and to a heading", () => {
  const broken: string[] = [];
  for (const file of [...DOCS, "bench/README.md"]) {
    for (const link of links(readDoc(file))) {
      if (/^[a-z]+:/.test(link)) continue;
      const [target, anchor] = link.split("#");
      const to = target ? path.posix.normalize(path.posix.join(path.posix.dirname(file), target)) : file;
      try {
        Deno.statSync(new URL(to, REPO));
      } catch {
        broken.push(`${file}: ${link}: no file ${to}`);
        continue;
      }
      if (anchor !== undefined && to.endsWith(".md") && !anchors(readDoc(to)).has(anchor)) {
        broken.push(`${file}: ${link}: no heading #${anchor} in ${to}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("every TypeScript example in the documents type-checks against the typed client", async () => {
  const dir = await Deno.makeTempDir({ prefix: "docs-ts-" });
  const client = fileURLToPath(new URL("hub/client/mod.ts", REPO));
  try {
    const files: string[] = [];
    for (const file of DOCS) {
      for (const { code, line } of fences(readDoc(file), "ts")) {
        // A fragment uses a `client` (and an `id`) the page made before it.
        let head = `export {};\nimport { createConduitClient } from ${JSON.stringify(client)};\n`;
        if (!/const client\b/.test(code)) {
          head += `const client = createConduitClient({ url: "http://127.0.0.1:8080", token: "" });\n`;
        }
        if (/\bid\b/.test(code) && !/const \{ id \}|const id\b/.test(code)) {
          head += `declare const id: string;\n`;
        }
        const body = code.replaceAll(`import { createConduitClient } from "./hub/client/mod.ts";\n`, "");
        const name = path.join(dir, `${file.replaceAll("/", "_")}_${line}.ts`);
        await Deno.writeTextFile(name, `${head}// ${file}:${line}\n${body}`);
        files.push(name);
      }
    }
    assert.ok(files.length >= 4, `${files.length} examples`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", fileURLToPath(new URL("deno.json", REPO)), ...files],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text.replace(/^Check .*\n/gm, ""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("routing.md's route validation messages are the ones the agent gives, one case each", async () => {
  const text = section(readDoc("docs/routing.md"), "## Validation at start");
  const block = fences(text, "text").find((f) => f.code.includes("two routes have this name"))!.code;
  const documented = block.trim().split("\n");
  await loadProfile();
  const dir = await Deno.makeTempDir({ prefix: "docs-routes-" });
  try {
    const key = path.join(dir, "project.key");
    await Deno.writeFile(key, new Uint8Array(32));
    const short = path.join(dir, "short.key");
    await Deno.writeFile(short, new Uint8Array(8));
    const custom = path.join(dir, "custom.json");
    await Deno.writeTextFile(custom, JSON.stringify({ actions: { "(0019,xx10)": "K" } }));
    const route = (x: object) => ({ name: "NAME", to: [{ node: "research" }], ...x });
    const deid = (x: object) => route({ deid: { profile: "basic", ...x } });
    const cases = [
      [route({}), route({})],
      [deid({ options: ["retain-dates"], keyFile: key })],
      [deid({ options: ["retain-long-full-dates", "retain-long-modified-dates"], keyFile: key })],
      [deid({ profileFile: custom, keyFile: key })],
      [deid({})],
      [deid({ keyFile: path.join(dir, "project.key.missing") })],
      [deid({ keyFile: short })],
      [route({ to: [{ site: "south" }] })],
      [route({ to: [{ node: "pacs2" }] })],
      [route({ match: { tags: { InstitutionNam: { present: true } } } })],
      [route({ match: { tags: { AccessionNumber: { regex: "(" } } } })],
    ];
    assert.equal(cases.length, documented.length, "one case per documented message");
    for (const [i, routes] of cases.entries()) {
      const { config } = loadConfig({
        flags: { config: "x.yaml" },
        env: {},
        readFile: () => stringify({ nodes: CONTEXT.nodes, routes }),
      });
      const message = (() => {
        try {
          compileRoutes(config);
        } catch (err) {
          return (err as Error).message.replaceAll(dir, "/etc/conduit").replace(
            "project.key.missing",
            "project.key",
          )
            .replace("short.key", "project.key");
        }
        return "no error";
      })();
      // The document elides the option list ("...") and the JavaScript error ("<the JavaScript error>").
      const pattern = documented[i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\\.\\\.\\\.$/, ".*")
        .replace("<the JavaScript error>", ".+");
      assert.match(message, new RegExp(`^${pattern}$`), `documented: ${documented[i]}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README.md's layout table names folders and files that exist in each part", () => {
  const [layout] = tables(section(readDoc("README.md"), "## Layout"));
  const missing: string[] = [];
  for (const row of layout) {
    const member = row.path.replaceAll("`", "");
    const under = fileURLToPath(new URL(member, REPO));
    const all = new Set<string>();
    const walk = (dir: string, rel: string) => {
      for (const e of Deno.readDirSync(dir)) {
        if (e.name === "node_modules" || e.name.startsWith(".") || e.name === "dist") continue;
        all.add(rel + e.name + (e.isDirectory ? "/" : ""));
        if (e.isDirectory) walk(path.join(dir, e.name), rel + e.name + "/");
      }
    };
    walk(under, "");
    for (const m of row.holds.matchAll(/`([a-z_0-9/.]+(?:\/|\.ts))`/g)) {
      const name = m[1];
      if ([...all].some((p) => p === name || p.endsWith(`/${name}`))) continue;
      missing.push(`${member}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

/** The agent's, the hub's and shared source, tests left out. */
function sources(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = path.join(dir, e.name);
      if (e.isDirectory && e.name !== "node_modules") walk(p);
      else if (/\.ts$/.test(e.name) && !/_test\.ts$/.test(e.name)) out.push(Deno.readTextFileSync(p));
    }
  };
  for (const member of ["agent", "hub", "shared"]) walk(fileURLToPath(new URL(member, REPO)));
  return out.join("\n");
}

Deno.test("every log message operations.md and tunnel.md tell an operator to look for is one the code logs", () => {
  const code = sources();
  const alerting = section(readDoc("docs/operations.md"), "## Logs");
  const list = alerting.slice(alerting.indexOf("Messages worth alerting on"));
  const operator = section(readDoc("docs/tunnel.md"), "## What an operator sees");
  const logLines = operator.split("\n- ").filter((item) => /log/.test(item.split(":")[0] ?? "")).join("\n");
  const messages = [...list.matchAll(/`([^`]+)`/g), ...logLines.matchAll(/`([^`]+)`/g)].map((m) => m[1])
    // Context fields and values, not messages.
    .filter((m) => !/^(part: |0x|policy$|destination$|sop$|status$|reason$|fix$|indexed$|removed$)/.test(m));
  assert.ok(messages.length >= 20, messages.join("\n"));
  const unknown = messages.filter((m) =>
    !code.includes(`"${m}"`) && !code.includes(`"${m}`) && !code.includes(`\`${m}`)
  );
  assert.deepEqual(unknown, []);
});

Deno.test("every TLS reload log line operations.md names is one the code logs", () => {
  const code = sources();
  const ops = readDoc("docs/operations.md");
  const text = section(ops, "#### Renewing without a restart (SIGHUP)") + section(ops, "#### Renewing each");
  // The messages of a reload (`... reloaded: ...`, `... not reloaded: ...`, `TLS certificate unchanged`), not
  // the fields, labels and settings quoted beside them.
  const messages = [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\s+/g, " "))
    .filter((m) => /\b(reloaded|unchanged)\b/.test(m));
  assert.ok(messages.length >= 11, messages.join("\n"));
  assert.deepEqual(messages.filter((m) => !code.includes(`"${m}`)), []);
});

Deno.test("every configuration reload log line operations.md names is one the code logs", () => {
  const code = sources();
  const ops = readDoc("docs/operations.md");
  // States: from the line about removed nodes' workers (the section's earlier code spans pair across lines).
  const states = section(ops, "### States");
  const text = section(ops, "## Changing nodes and routes without a restart (SIGHUP)") +
    states.slice(states.indexOf("Their workers log"));
  // The messages (`configuration ...`, `rows wait ...`), not the keys and fields quoted beside them.
  const messages = [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\s+/g, " "))
    .filter((m) => /^(configuration |rows wait )/.test(m));
  assert.equal(messages.length, 5, messages.join("\n"));
  assert.deepEqual(messages.filter((m) => !code.includes(`"${m}"`)), []);
});

Deno.test("every hub configuration reload log line operations.md names is one the code logs", () => {
  const code = sources();
  const text = section(
    readDoc("docs/operations.md"),
    "## Changing the hub's settings without a restart (SIGHUP)",
  );
  const messages = [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\s+/g, " "))
    .filter((m) => /^configuration /.test(m));
  assert.equal(messages.length, 5, messages.join("\n"));
  assert.deepEqual(messages.filter((m) => !code.includes(`"${m}"`)), []);
});

Deno.test("every repository file the documents name exists", () => {
  // Names that stand for the reader's own files, or files made at run time, not files of the repository.
  const examples = new Set([
    "bad.yaml",
    "north.yaml",
    "x_test.ts",
    ".demo/demo.json",
    ".demo/move.ts",
    "move.ts", // api.md: the reader's script with the typed client's snippet
    "convert.py",
    "part15.xml",
    // What `agent backup` writes into its --out directory.
    "hub-credential.json",
    "manifest.json",
    // The build stamp a build writes into its artifacts (deploy/stamp.ts), never committed.
    "build.json",
    "dist/agent/build.json",
    "dist/hub/hub/build.json",
    "agent/build.json",
    "hub/build.json",
  ]);
  const every = new Set<string>();
  const walk = (dir: string, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name === "node_modules" || e.name === ".git") continue;
      const r = rel + e.name;
      every.add(r);
      if (e.isDirectory) walk(path.join(dir, e.name), `${r}/`);
    }
  };
  walk(fileURLToPath(REPO), "");
  const missing: string[] = [];
  for (const file of DOCS) {
    for (
      const m of readDoc(file).matchAll(
        /`([a-zA-Z0-9_./-]+\.(?:ts|tsx|json|md|yaml|cfg|service|sh|py|xml))`/g,
      )
    ) {
      const name = m[1];
      // An absolute path is where an installation puts a file (`/etc/conduit/agent.yaml`), not a repository file.
      if (examples.has(name) || name.startsWith("/")) continue;
      // A path from the root, or a file named by its tail (`agent/dimse/deno_socket.ts`, `SOURCE.md`).
      if (every.has(name) || [...every].some((p) => p.endsWith(`/${name}`))) continue;
      missing.push(`${file}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("every `deno task NAME` the documents name is a task of deno.json", () => {
  const tasks = new Set(Object.keys(JSON.parse(readDoc("deno.json")).tasks));
  const unknown: string[] = [];
  for (const file of DOCS) {
    for (const m of readDoc(file).matchAll(/deno task ([a-zA-Z:_-]+)/g)) {
      if (!tasks.has(m[1])) unknown.push(`${file}: deno task ${m[1]}`);
    }
  }
  assert.deepEqual(unknown, []);
});
