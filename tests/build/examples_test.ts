/** The example configurations in deploy/examples are valid for the agent and the hub. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../agent/config/load.ts";
import { compileRoutes } from "../../agent/routing/rules.ts";
import { loadProfile } from "../../agent/deid/load_profile.ts";
import { loadHubConfig } from "../../hub/config.ts";
import { skipReason, toolPath } from "../support/peers.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (p: string) => fs.readFileSync(p, "utf8");

Deno.test("deploy/examples/site.yaml is a valid agent configuration with usable routes", async () => {
  const { config } = loadConfig({
    flags: { config: path.join(ROOT, "deploy/examples/site.yaml") },
    env: {},
    readFile: read,
  });
  assert.equal(config.site, "north");
  assert.equal(config.deid.keyFile, "/etc/conduit/project.key");
  // The key file is the site's own: a key made here stands in for it.
  const key = await Deno.makeTempFile({ suffix: ".key" });
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
  await loadProfile();
  const routes = compileRoutes({ ...config, deid: { keyFile: key } });
  assert.equal(routes.length, 2);
  assert.deepEqual(routes[1].deid?.profile.options, ["retain-long-modified-dates"]);
});

Deno.test("deploy/examples/hub.yaml is a valid hub configuration", () => {
  const { config } = loadHubConfig({
    flags: { config: path.join(ROOT, "deploy/examples/hub.yaml") },
    env: {},
    readFile: read,
  });
  assert.equal(config.publicUrl, "https://hub.example.org");
});

Deno.test("deploy/examples/cluster: two valid hub configurations on one PostgreSQL, each with its cluster URL", () => {
  const [a, b] = ["hub-a.yaml", "hub-b.yaml"].map((f) =>
    loadHubConfig({
      flags: { config: path.join(ROOT, "deploy/examples/cluster", f) },
      env: {},
      readFile: read,
    })
      .config
  );
  assert.match(a.db!, /^postgres:\/\//);
  assert.equal(a.db, b.db);
  assert.notEqual(a.clusterUrl, b.clusterUrl);
  const haproxy = read(path.join(ROOT, "deploy/examples/cluster/haproxy.cfg"));
  for (const hub of [a, b]) {
    assert.ok(haproxy.includes(new URL(hub.clusterUrl!).host), `haproxy.cfg names ${hub.clusterUrl}`);
  }
  assert.match(haproxy, /option httpchk GET \/healthz/);
});

const haproxySkip = skipReason("haproxy", "openssl");

Deno.test({
  name: "deploy/examples/cluster/haproxy.cfg is a configuration HAProxy accepts (haproxy -c)",
  ignore: Boolean(haproxySkip),
  async fn() {
    // The example names its certificate under /etc/haproxy; a throwaway one stands in for the check.
    const dir = await Deno.makeTempDir({ prefix: "haproxy-check-" });
    try {
      const pem = path.join(dir, "hub.pem");
      const made = await new Deno.Command(toolPath("openssl")!, {
        args: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hub.example.org"]
          .concat(["-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")]),
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
      fs.writeFileSync(pem, read(path.join(dir, "cert.pem")) + read(path.join(dir, "key.pem")));
      const cfg = read(path.join(ROOT, "deploy/examples/cluster/haproxy.cfg"));
      assert.match(cfg, /crt \/etc\/haproxy\/hub\.example\.org\.pem/);
      const file = path.join(dir, "haproxy.cfg");
      fs.writeFileSync(file, cfg.replace("/etc/haproxy/hub.example.org.pem", pem));
      const check = await new Deno.Command(toolPath("haproxy")!, {
        args: ["-c", "-f", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(check.stdout) + new TextDecoder().decode(check.stderr);
      assert.equal(check.code, 0, out);
      assert.match(out, /Configuration file is valid/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** `Key=value` lines of a systemd unit (the last of each key). */
function unitKeys(file: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of read(path.join(ROOT, file)).split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1], m[2]);
  }
  return keys;
}

Deno.test("the systemd units write where the example configurations keep their data, Deno's cache included", () => {
  for (
    const [unit, data] of [
      ["deploy/systemd/conduit-agent.service", "/var/lib/conduit"],
      ["deploy/systemd/conduit-hub.service", "/var/lib/conduit-hub"],
    ]
  ) {
    const keys = unitKeys(unit);
    assert.equal(keys.get("ProtectSystem"), "strict", unit);
    assert.equal(keys.get("ReadWritePaths"), data, `${unit}: writes only its data directory`);
    // Deno's cache: in the user's home by default, which is read-only under ProtectSystem=strict for the hub
    // (Deno then fetched the registry's metadata at every start) and was the agent's data directory (backups
    // and `agent check` found the cache there). systemd's CacheDirectory= is made for the user and writable.
    const cache = keys.get("CacheDirectory");
    assert.equal(cache, path.basename(unit, ".service"), `${unit}: CacheDirectory`);
    const denoDir = /^Environment=DENO_DIR=(\S+)$/m.exec(read(path.join(ROOT, unit)))?.[1];
    assert.ok(denoDir?.startsWith(`/var/cache/${cache}/`), `${unit}: DENO_DIR ${denoDir}`);
    // The operator's commands as that user need the same cache, or theirs goes back in the home.
    const doc = read(path.join(ROOT, "docs/operations.md"));
    assert.ok(doc.includes(`sudo -u conduit env DENO_DIR=${denoDir} deno task`), `operations.md: ${denoDir}`);
    assert.match(keys.get("ExecStart") ?? "", /--config \/etc\/conduit\/(agent|hub)\.yaml$/);
  }
  const site = loadConfig({
    flags: { config: path.join(ROOT, "deploy/examples/site.yaml") },
    env: {},
    readFile: read,
  }).config;
  assert.equal(site.data, "/var/lib/conduit");
  const hub = loadHubConfig({
    flags: { config: path.join(ROOT, "deploy/examples/hub.yaml") },
    env: {},
    readFile: read,
  }).config;
  assert.equal(hub.data, "/var/lib/conduit-hub");
});

Deno.test("the systemd units' bundle ExecStart runs the launcher the build makes, as operations.md says", () => {
  const build = read(path.join(ROOT, "deploy/bundle.ts"));
  const doc = read(path.join(ROOT, "docs/operations.md"));
  for (const program of ["agent", "hub"]) {
    const unit = read(path.join(ROOT, `deploy/systemd/conduit-${program}.service`));
    // The bundle has no agent/main.ts or hub/main.ts: copied as /opt/conduit/<program>, it starts by its launcher.
    const line = new RegExp(
      `^#ExecStart=/opt/conduit/${program}/(\\S+) --config /etc/conduit/${program}\\.yaml$`,
      "m",
    )
      .exec(unit);
    assert.ok(line, `conduit-${program}.service: the bundle's ExecStart, commented out`);
    assert.match(
      build,
      new RegExp(`bundle\\w+\\(dir = path\\.join\\(ROOT, "dist/${program}"\\)`),
      "dist/" + program,
    );
    assert.match(build, new RegExp(`"${line[1]}"`), `deploy/bundle.ts names the launcher ${line[1]}`);
    assert.ok(doc.includes(line[0].slice(1)), `operations.md gives ${line[0].slice(1)}`);
    // useradd --system makes no home: each data directory is made for the user first, as operations.md says.
    const data = program === "agent" ? "/var/lib/conduit" : "/var/lib/conduit-hub";
    assert.match(unit, new RegExp(`install -d -o conduit -g conduit -m 0750 ${data}(?![\\w-])`), program);
    assert.match(
      doc,
      new RegExp(`^install -d -o conduit -g conduit -m 0750 .*${data}(?![\\w-])`, "m"),
    );
  }
});

Deno.test("the container images give their data volume to the user they run as", () => {
  for (const file of ["deploy/container/Containerfile.agent", "deploy/container/Containerfile.hub"]) {
    const text = read(path.join(ROOT, file));
    const user = /^USER (\S+)$/m.exec(text)?.[1];
    assert.ok(user, `${file}: USER`);
    // As root's, a new volume left the program unable to write its data directory (EACCES at start).
    assert.match(text, new RegExp(`^RUN mkdir -p /data && chown ${user}:${user} /data$`, "m"), file);
    assert.ok(text.indexOf("chown") < text.indexOf("VOLUME /data"), `${file}: before VOLUME`);
    assert.match(text, /"--data", "\/data"/, `${file}: the program uses /data`);
  }
});

Deno.test({
  name: "the systemd units pass systemd-analyze verify",
  ignore: !toolPath("systemd-analyze"),
  async fn() {
    const out = await new Deno.Command(toolPath("systemd-analyze")!, {
      args: [
        "verify",
        ...["conduit-agent", "conduit-hub"].map((u) => path.join(ROOT, `deploy/systemd/${u}.service`)),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.equal(text.trim(), "", text);
  },
});

Deno.test({
  name: "the systemd units are hardened (systemd-analyze security: OK), keeping what Deno needs",
  ignore: !toolPath("systemd-analyze"),
  async fn() {
    for (const program of ["agent", "hub"]) {
      const unit = `deploy/systemd/conduit-${program}.service`;
      const out = await new Deno.Command(toolPath("systemd-analyze")!, {
        args: ["security", "--offline=true", "--no-pager", path.join(ROOT, unit)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(text)?.[1]);
      // 0 to 10; systemd calls under 3 OK, and the units were 8.6 and 8.5 (EXPOSED) without their hardening.
      assert.ok(level <= 3, `${unit}: exposure ${level}\n${text}`);
      const keys = unitKeys(unit);
      // V8's JIT makes memory it wrote executable, and it calls pkey_alloc at start (outside @system-service).
      assert.equal(keys.get("MemoryDenyWriteExecute"), undefined, unit);
      assert.match(keys.get("SystemCallFilter") ?? "", /@system-service\b.*@pkey\b/, unit);
      assert.equal(keys.get("SystemCallErrorNumber"), "EPERM", `${unit}: a call left out fails, not kills`);
      assert.equal(keys.get("UMask"), "0027", `${unit}: the archive and database not readable by every user`);
      // The capability the agent needs for a port below 1024 is the only one it may have; the hub has none.
      assert.equal(keys.get("CapabilityBoundingSet") ?? "", keys.get("AmbientCapabilities") ?? "", unit);
    }
  },
});

Deno.test("the container images' run lines give a stop the time the systemd units give it", () => {
  const timeout = Number(unitKeys("deploy/systemd/conduit-agent.service").get("TimeoutStopSec"));
  const doc = read(path.join(ROOT, "docs/operations.md"));
  for (const file of ["deploy/container/Containerfile.agent", "deploy/container/Containerfile.hub"]) {
    const text = read(path.join(ROOT, file));
    // podman's and docker's default is 10 s before SIGKILL, and a stop takes up to about 10 s.
    const run = /^#\s+(podman run .*)$/m.exec(text)?.[1];
    assert.ok(run, `${file}: a run line`);
    assert.match(run, new RegExp(`--stop-timeout ${timeout}\\b`), `${file}: ${run}`);
    assert.match(text, /^STOPSIGNAL SIGTERM$/m, `${file}: the signal the program stops cleanly on`);
  }
  assert.ok(doc.includes(`\`--stop-timeout ${timeout}\``), "operations.md says so");
});

Deno.test("the systemd units do not restart a program that stopped on its configuration (exit code 2)", () => {
  // operations.md's table of events: the exit code of a configuration error, an unknown flag.
  const doc = read(path.join(ROOT, "docs/operations.md"));
  const row = doc.split("\n").find((l) => l.startsWith("| configuration error, unknown flag"));
  const code = /\|\s*(\d+)\s*\|\s*$/.exec(row ?? "")?.[1];
  assert.equal(code, "2", row);
  for (const program of ["agent", "hub"]) {
    const keys = unitKeys(`deploy/systemd/conduit-${program}.service`);
    assert.equal(keys.get("Restart"), "on-failure", program);
    // Every RestartSec (5 s) for good otherwise: slower than systemd's start limit (5 starts in 10 s).
    assert.equal(keys.get("RestartPreventExitStatus"), code, program);
  }
});
