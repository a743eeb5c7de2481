import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./load.ts";

const files = (map: Record<string, string>) => (p: string) => {
  if (!(p in map)) throw new Error("no such file");
  return map[p];
};

Deno.test("loadConfig() gives a standalone node with no flags and no file", () => {
  const { config } = loadConfig({ flags: {}, env: {}, readFile: files({}) });
  assert.equal(config.dimse.aet, "CONDUIT");
  assert.equal(config.dimse.port, 11112);
  assert.equal(config.http.port, 8181);
  assert.equal(config.http.host, "127.0.0.1");
  assert.equal(config.data, "./data/agent");
  assert.deepEqual(config.nodes, {});
});

Deno.test("loadConfig() layers file < variables < flags", () => {
  const yaml = "dimse:\n  aet: FILEAET\n  port: 104\nhttp:\n  port: 9000\n";
  const { config } = loadConfig({
    flags: { config: "a.yaml", port: "4242" },
    env: { CONDUIT_AGENT_PORT: "5000", CONDUIT_AGENT_HTTP_PORT: "9100", CONDUIT_AGENT_AET: "ENVAET" },
    readFile: files({ "a.yaml": yaml }),
  });
  assert.equal(config.dimse.port, 4242); // flag over variable over file
  assert.equal(config.dimse.aet, "ENVAET"); // variable over file
  assert.equal(config.http.port, 9100);
});

Deno.test("loadConfig() names the key, the reason, the value and where it came from", () => {
  assert.throws(
    () => loadConfig({ flags: { port: "abc" }, env: {}, readFile: files({}) }),
    (err: Error) =>
      err instanceof ConfigError && /^config: dimse\.port: .*got "abc" \(flag --port\)$/.test(err.message),
  );
  assert.throws(
    () =>
      loadConfig({
        flags: { config: "b.yaml" },
        env: {},
        readFile: files({ "b.yaml": "dimse:\n  prot: 1\n" }),
      }),
    (err: Error) => err.message === "config: dimse.prot: unknown key (did you mean port?) (b.yaml, line 2)",
  );
  // A key no known one is near is only refused; one only the case sets apart is named; so are nested ones.
  for (
    const [yaml, message] of [
      ["dimse:\n  colour: 1\n", "config: dimse.colour: unknown key (d.yaml, line 2)"],
      ["Dimse: {}\n", "config: Dimse: unknown key (did you mean dimse?) (d.yaml, line 1)"],
      [
        "archive:\n  duplicate: keepLast\n",
        "config: archive.duplicate: unknown key (did you mean duplicates?) (d.yaml, line 2)",
      ],
      [
        "nodes:\n  pacs: { aet: X, host: h, port: 104, maxOpsInvoke: 2 }\n",
        "config: nodes.pacs.maxOpsInvoke: unknown key (did you mean maxOpsInvoked?) (d.yaml, line 2)",
      ],
      // Two unknown keys of one mapping: a line each (until 2026-12-07 one line naming `dimse.prot.maxAssociation`).
      [
        "dimse:\n  prot: 104\n  maxAssociation: 3\n",
        "config: dimse.prot: unknown key (did you mean port?) (d.yaml, line 2)\n" +
        "config: dimse.maxAssociation: unknown key (did you mean maxAssociations?) (d.yaml, line 3)",
      ],
      [
        "sight: a\ndatta: b\n",
        "config: sight: unknown key (d.yaml, line 1)\nconfig: datta: unknown key (did you mean data?) (d.yaml, line 2)",
      ],
    ]
  ) {
    assert.throws(
      () => loadConfig({ flags: { config: "d.yaml" }, env: {}, readFile: files({ "d.yaml": yaml }) }),
      (err: Error) => err.message === message || assert.fail(`${err.message} (expected: ${message})`),
    );
  }
  assert.throws(
    () =>
      loadConfig({
        flags: { config: "c.yaml" },
        env: {},
        readFile: files({ "c.yaml": "nodes:\n  pacs: { aet: X, host: h }\n" }),
      }),
    (err: Error) => /config: nodes\.pacs\.port: .*\(c\.yaml, line 2\)/.test(err.message),
  );
  assert.throws(
    () =>
      loadConfig({
        flags: { config: "e.yaml" },
        env: {},
        readFile: files({ "e.yaml": "dimse:\n  port:\n" }),
      }),
    /config: dimse\.port: .*\(e\.yaml, line 2\)/,
    "an empty port is an error, not port 0",
  );
  assert.throws(
    () => loadConfig({ flags: { config: "missing.yaml" }, env: {}, readFile: files({}) }),
    (err: Error) => /cannot read missing\.yaml/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ flags: { config: "d.yaml" }, env: {}, readFile: files({ "d.yaml": "a: [" }) }),
    (err: Error) => /d\.yaml is not valid YAML/.test(err.message),
  );
});

Deno.test("loadConfig() validates nodes and routes", () => {
  const yaml = `nodes:
  pacs: { aet: ORTHANC, host: 10.0.0.5, port: 4242, retrieve: get }
routes:
  - name: ct
    match: { modality: [CT], tags: { "(0008,0080)": { glob: "General*" } } }
    to: [{ node: pacs }]
`;
  const { config } = loadConfig({
    flags: { config: "r.yaml" },
    env: {},
    readFile: files({ "r.yaml": yaml }),
  });
  assert.equal(config.nodes.pacs.retrieve, "get");
  assert.equal(config.routes[0].name, "ct");
  assert.throws(
    () =>
      loadConfig({
        flags: { config: "r2.yaml" },
        env: {},
        readFile: files({
          "r2.yaml": "nodes:\n  pacs: { aet: THIS_AE_TITLE_IS_TOO_LONG, host: h, port: 1 }\n",
        }),
      }),
    /nodes\.pacs\.aet/,
  );
  // A misspelt key inside a destination or a tag condition said only "Invalid input".
  const route = (yaml: string) => () =>
    loadConfig({ flags: { config: "r3.yaml" }, env: {}, readFile: files({ "r3.yaml": yaml }) });
  assert.throws(
    route("routes:\n  - name: r\n    to: [{ nod: pacs }]\n"),
    (err: Error) => {
      assert.equal(
        err.message,
        'config: routes.0.to.0: expected { node: NAME } or { site: NAME, node: NAME }, node optional, got {"nod":"pacs"} (r3.yaml, line 3)',
      );
      return true;
    },
  );
  assert.throws(
    route(
      'routes:\n  - name: r\n    match: { tags: { "(0008,0080)": { glb: "A*" } } }\n    to: [{ node: pacs }]\n',
    ),
    /config: routes\.0\.match\.tags\.\(0008,0080\): expected one of equals, oneOf, glob, regex, present or absent/,
  );
});

Deno.test("loadConfig() refuses a number key left empty, a boolean or a list instead of reading 0 or 1", () => {
  const load = (yaml: string) => () =>
    loadConfig({ flags: { config: "n.yaml" }, env: {}, readFile: files({ "n.yaml": yaml }) });
  // Each of these used to load: an empty value as 0 (archived files removed as soon as they were
  // forwarded, no free-space floor, done rows kept 0 days), true as 1, [5] as 5, " " as port 0.
  for (
    const [yaml, key] of [
      ["archive: { removeAfterForwardSeconds: }", "archive.removeAfterForwardSeconds"],
      ["archive: { removeAfterForwardSeconds: '' }", "archive.removeAfterForwardSeconds"],
      ["archive: { minFreeMegabytes: }", "archive.minFreeMegabytes"],
      ["queue: { keepDoneDays: }", "queue.keepDoneDays"],
      ["queue: { maxAttempts: true }", "queue.maxAttempts"],
      ["render: { thumbnailCacheMegabytes: }", "render.thumbnailCacheMegabytes"],
      ["dimse: { maxAssociations: [5] }", "dimse.maxAssociations"],
      ["dimse: { port: true }", "dimse.port"],
      ["dimse: { port: ' ' }", "dimse.port"],
      ["dimse: { idleTimeoutSeconds: .inf }", "dimse.idleTimeoutSeconds"],
    ]
  ) {
    assert.throws(load(yaml), (err: Error) => {
      assert.match(err.message, new RegExp(`^config: ${key.replace(".", "\\.")}: expected a number`), yaml);
      return true;
    });
  }
  assert.throws(load("dimse: { maxFindResults: 1.5 }"), /maxFindResults: Expected integer, received float/);
  assert.throws(
    load("dimse: { port: '0x68' }"),
    /dimse\.port: expected a number from 0 to 65535, got "0x68"/,
  );
  // Numbers written as strings still load, from the file, a variable or a flag.
  const { config } = loadConfig({
    flags: { config: "s.yaml", port: "104" },
    env: { CONDUIT_AGENT_MAX_ASSOCIATIONS: "8" },
    readFile: files({ "s.yaml": "archive: { minFreeMegabytes: '512', removeAfterForwardSeconds: 0 }\n" }),
  });
  assert.deepEqual(
    [config.dimse.port, config.dimse.maxAssociations, config.archive.minFreeMegabytes],
    [104, 8, 512],
  );
  assert.equal(config.archive.removeAfterForwardSeconds, 0);
});

Deno.test("loadConfig() says a required key is missing, and what it takes, at the mapping's line", () => {
  const message = (yaml: string) => {
    try {
      loadConfig({ flags: { config: "n.yaml" }, env: {}, readFile: files({ "n.yaml": yaml }) });
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return "";
  };
  // It said "expected a number from 0 to 65535" (a node's port is 1 to 65535) and, for the AE title,
  // zod's bare "Required".
  assert.equal(
    message("nodes:\n  pacs: { aet: ORTHANC, host: 10.0.0.5 }\n"),
    "config: nodes.pacs.port: missing (this key is required): a number from 1 to 65535 (n.yaml, line 2)",
  );
  assert.equal(
    message("nodes:\n  pacs: { host: 10.0.0.5, port: 4242 }\n"),
    "config: nodes.pacs.aet: missing (this key is required) (n.yaml, line 2)",
  );
  // A port given but 0, or not a number, is still named with the value.
  assert.equal(
    message("nodes:\n  pacs: { aet: ORTHANC, host: 10.0.0.5, port: 0 }\n"),
    "config: nodes.pacs.port: expected a number from 1 to 65535, got 0 (n.yaml, line 2)",
  );
});

Deno.test("loadConfig(): a route's window (one or a list) is refused by what is wrong with it, not 'Invalid input'", () => {
  const refused = (window: string) => {
    const yaml = `routes:\n  - name: night\n    to: [{ node: pacs }]\n    window: ${window}\n`;
    try {
      loadConfig({ flags: { config: "w.yaml" }, env: {}, readFile: files({ "w.yaml": yaml }) });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    assert.fail(`${window} was taken`);
  };
  // Until 2026-12-08 the first two read "routes.0.window: Invalid input", the third had no hint, the fourth
  // said 64.
  assert.match(
    refused('{ start: "19:00" }'),
    /^config: routes\.0\.window\.end: missing \(this key is required\)/,
  );
  assert.match(
    refused('[{ start: "01:00", end: "02:00" }, { end: "03:00" }]'),
    /^config: routes\.0\.window\.1\.start: missing/,
  );
  assert.match(
    refused('{ start: "19:00", end: "06:00", timezone: UTC }'),
    /^config: routes\.0\.window\.timezone: unknown key \(did you mean timeZone\?\)/,
  );
  assert.match(
    refused(`[${'{ start: "01:00", end: "02:00" }, '.repeat(15)}]`),
    /^config: routes\.0\.window: at most 14 windows/,
  );
  assert.match(refused('"nights"'), /^config: routes\.0\.window: expected object or array, got "nights"/);
});
