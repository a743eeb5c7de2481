/**
 * deploy/monitoring/: the Prometheus alerting rules (alerts.yml) and the Grafana dashboard (dashboard.json)
 * name only metrics the agent and the hub export. A real hub and a real agent (a route to a DCMTK storescp, one
 * object sent by storescu; a QIDO-RS, a WADO-RS and a failing request through the hub) are scraped, and every metric name in every rule's and every panel's expression must
 * be in those scrapes (a histogram's as _bucket, _sum or _count), with the labels its matchers name. The rules
 * have the structure Prometheus loads and what an operator needs (for, severity, a summary and a description
 * that says what to do, with a link into operations.md that exists); the dashboard has unique panel ids and
 * the DS_PROMETHEUS input. With Debian's `prometheus` installed, promtool checks both and runs alerts_test.yml,
 * and a real Prometheus scrapes the agent and the hub with the rules: each evaluates without error, none is
 * pending while all is well, each panel's query runs, and stopping the hub makes its alerts pending.
 * promtool also lints both scrapes (`promtool check metrics`: HELP and TYPE, counters' _total, units).
 * And `conduit_agent_health_ok`, which three of the alerts read, says what /healthz says; the free-space gauges
 * say what `df -B1` says of the agent's data directory.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { anchors, readDoc, REPO, section, tables } from "../support/markdown.ts";
import { freePort, hasTool, PEER_ENV, scratchDir, skipReason, startStorescp } from "../support/peers.ts";
import {
  type Family,
  parsePrometheus,
  type PrometheusServer,
  startPrometheus,
  value,
} from "../support/prometheus.ts";
import { storescu } from "../support/send.ts";
import { makeTestPki } from "../support/pki.ts";

const ALERTS = new URL("deploy/monitoring/alerts.yml", REPO);
const DASHBOARD = new URL("deploy/monitoring/dashboard.json", REPO);
const PROMETHEUS = new URL("deploy/monitoring/prometheus.yml", REPO);
const ALERTS_TESTS = new URL("deploy/monitoring/alerts_test.yml", REPO);

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`monitoring_test: the scrape skipped: ${skip}`);

/** Series Prometheus makes itself for each target, not read from /metrics. */
const PROMETHEUS_SERIES = new Set(["up"]);
/** Labels Prometheus adds to each scraped series (the `site` of an agent's target: operations.md#monitoring). */
const TARGET_LABELS = new Set(["job", "instance", "site"]);
const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
]);

interface Selector {
  name: string;
  /** The label names of its matchers (`{state="dead"}`), when it has any. */
  labels: string[];
}

/**
 * The metric names a PromQL expression reads: identifiers not followed by `(` (functions and aggregations
 * are), outside string literals, `{...}` label matchers, `[...]` ranges and the label lists of `by`,
 * `without`, `on`, `ignoring`, `group_left` and `group_right`, and not keywords or parts of numbers and
 * durations. Grafana's variables (`$site`, `$__rate_interval`, `${x}`) are dropped.
 */
export function selectors(expr: string): Selector[] {
  let s = expr.replace(/#[^\n]*/g, "")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, "");
  const out: Selector[] = [];
  const ident = /(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])/g;
  // A selector with matchers: its name (if any, `{__name__=...}` is not used here) and its label names.
  s = s.replace(
    /(?<![\w:])([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g,
    (_, name: string | undefined, body: string) => {
      const labels = [...body.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
      assert.ok(name, `a selector without a metric name in ${expr}`);
      out.push({ name, labels });
      return ` ${name} `;
    },
  );
  s = s.replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  for (const m of s.matchAll(ident)) {
    const after = s.slice(m.index! + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[1].toLowerCase())) continue;
    if (!out.some((o) => o.name === m[1])) out.push({ name: m[1], labels: [] });
  }
  return out;
}

Deno.test("selectors: the metric names of PromQL expressions, without functions, labels or clauses", () => {
  const names = (e: string) => selectors(e).map((s) => s.name).sort();
  assert.deepEqual(names('up{job="conduit-agent"} == 0'), ["up"]);
  assert.deepEqual(
    names(
      'histogram_quantile(0.95, sum by (site, le) (rate(a_seconds_bucket{site=~"$site"}[$__rate_interval])))',
    ),
    ["a_seconds_bucket"],
  );
  assert.deepEqual(
    names("max by (site) (max_over_time(rtt[1d])) unless on (site) max by(site) (rtt offset 5m)"),
    ["rtt"],
  );
  assert.deepEqual(names("sum(b_total) by (status) / ignoring(x) group_left(y) c > 1e3"), ["b_total", "c"]);
  assert.deepEqual(names('sum without (state) (q{state="and"}) > 0 and delta(q[15m]) > 0x1F'), ["q"]);
  assert.deepEqual(names('count_values("by", d) # a comment naming e'), ["d"]);
  assert.deepEqual(selectors('f{a="x{y}", b!~"z"}')[0], { name: "f", labels: ["a", "b"] });
});

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

function loadRules(): Rule[] {
  const doc = parseYaml(Deno.readTextFileSync(ALERTS)) as { groups: { name: string; rules: Rule[] }[] };
  assert.ok(Array.isArray(doc?.groups) && doc.groups.length > 0, "alerts.yml has groups");
  assert.deepEqual(Object.keys(doc), ["groups"], "alerts.yml has only groups (what Prometheus loads)");
  const groupNames = doc.groups.map((g) => g.name);
  assert.equal(new Set(groupNames).size, groupNames.length, "group names are unique");
  return doc.groups.flatMap((g) => {
    assert.ok(typeof g.name === "string" && g.name, "each group has a name");
    assert.ok(Array.isArray(g.rules) && g.rules.length > 0, `group ${g.name} has rules`);
    return g.rules;
  });
}

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { expr?: string; refId: string }[];
  panels?: Panel[];
}

function loadDashboard(): { schemaVersion: number; panels: Panel[]; __inputs: { name: string }[] } {
  return JSON.parse(Deno.readTextFileSync(DASHBOARD));
}

/** Every panel, those inside collapsed rows too. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every expression: each rule's, each panel target's. */
function expressions(): { where: string; expr: string }[] {
  const out = loadRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }));
  for (const p of allPanels(loadDashboard().panels)) {
    for (const t of p.targets ?? []) {
      if (t.expr) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
    }
  }
  return out;
}

Deno.test("alerts.yml: rule groups as Prometheus loads them, each alert with for, severity and what to do", () => {
  const rules = loadRules();
  const ops = readDoc("docs/operations.md");
  const opsAnchors = anchors(ops);
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, "alert names are unique");
  for (const r of rules) {
    const where = `alert ${r.alert}`;
    assert.match(r.alert, /^Conduit[A-Z][A-Za-z]+$/, where);
    assert.ok(typeof r.expr === "string" && r.expr.trim(), `${where}: expr`);
    assert.match(String(r.for), /^(\d+(ms|s|m|h|d|w|y))+$/, `${where}: for is a duration`);
    assert.ok(["critical", "warning", "info"].includes(r.labels?.severity), `${where}: labels.severity`);
    assert.ok(r.annotations?.summary?.trim(), `${where}: annotations.summary`);
    assert.ok(r.annotations?.description?.trim(), `${where}: annotations.description`);
    // It names the site (or the target) unless its expression sums every target away.
    if (!/^\s*(absent|sum)\(/.test(r.expr)) {
      assert.match(r.annotations.summary, /\{\{ \$labels\.(site|instance) \}\}/, `${where}: names the site`);
    }
    const links = [...r.annotations.description.matchAll(/docs\/operations\.md#([\w-]+)/g)].map((m) => m[1]);
    assert.ok(links.length > 0, `${where}: the description links docs/operations.md`);
    for (const a of links) assert.ok(opsAnchors.has(a), `${where}: operations.md has no #${a}`);
    for (const m of r.annotations.description.matchAll(/docs\/(\w+)\.md/g)) {
      assert.ok(readDoc(`docs/${m[1]}.md`), `${where}: docs/${m[1]}.md`);
    }
  }
  // operations.md's table of alerts has each, and no other.
  const table = tables(section(ops, "### Alerts")).find((t) => t[0] && "alert" in t[0]);
  assert.ok(table, "operations.md#alerts has a table with an alert column");
  const documented = table.map((row) => row.alert.replace(/`/g, ""));
  assert.deepEqual([...documented].sort(), [...names].sort(), "operations.md#alerts lists every alert");
});

Deno.test("prometheus.yml: the example scrapes the jobs the rules name, a site label on the agents", () => {
  const config = parseYaml(Deno.readTextFileSync(PROMETHEUS)) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      static_configs: { targets: string[]; labels?: Record<string, string> }[];
    }[];
  };
  assert.deepEqual(config.rule_files, ["alerts.yml"]);
  const jobs = config.scrape_configs.map((c) => c.job_name).sort();
  const named = [
    ...new Set(loadRules().flatMap((r) => [...r.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1]))),
  ];
  assert.deepEqual(named.sort(), jobs, "the rules name the example's jobs");
  const agent = config.scrape_configs.find((c) => c.job_name === "conduit-agent")!;
  assert.ok(agent.static_configs.every((s) => s.labels?.site), "each agent target has a site label");
  const hub = config.scrape_configs.find((c) => c.job_name === "conduit-hub")!;
  assert.ok(hub.static_configs.every((s) => !s.labels?.site), "hub targets have no site label");
});

Deno.test("alerts_test.yml: each alert has a promtool case where it fires, with its annotations", () => {
  const doc = parseYaml(Deno.readTextFileSync(ALERTS_TESTS)) as {
    rule_files: string[];
    tests: {
      alert_rule_test: {
        alertname: string;
        exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
      }[];
    }[];
  };
  assert.deepEqual(doc.rule_files, ["alerts.yml"]);
  const cases = doc.tests.flatMap((t) => t.alert_rule_test);
  for (const r of loadRules()) {
    const firing = cases.filter((c) => c.alertname === r.alert && c.exp_alerts.length > 0);
    assert.ok(firing.length > 0, `alerts_test.yml has a case where ${r.alert} fires`);
    for (const c of firing) {
      for (const a of c.exp_alerts) {
        assert.equal(a.exp_labels.severity, r.labels.severity, `${r.alert}: severity`);
        // promtool compares the annotations as rendered: the summary names what the labels say.
        assert.ok(a.exp_annotations?.summary && a.exp_annotations.description, `${r.alert}: annotations`);
        assert.doesNotMatch(a.exp_annotations.summary, /\{\{|<no value>/, `${r.alert}: summary rendered`);
      }
    }
  }
});

Deno.test("dashboard.json: a Grafana dashboard with a DS_PROMETHEUS input and unique panel ids", () => {
  const d = loadDashboard();
  assert.ok(d.schemaVersion >= 39, `schemaVersion ${d.schemaVersion} of a current Grafana`);
  assert.ok(d.__inputs.some((i) => i.name === "DS_PROMETHEUS"), "the DS_PROMETHEUS input");
  const text = Deno.readTextFileSync(DASHBOARD);
  for (const m of text.matchAll(/"uid": "([^"]*)"/g)) {
    if (m[1] !== "-- Grafana --" && m[1] !== "conduit-overview") {
      assert.equal(m[1], "${DS_PROMETHEUS}", "every datasource is the input");
    }
  }
  const panels = allPanels(d.panels);
  const ids = panels.map((p) => p.id);
  assert.ok(ids.every((id) => Number.isInteger(id)), "every panel has an id");
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  for (const p of panels) {
    if (p.type === "row") continue;
    assert.ok(p.title, `panel ${p.id} has a title`);
    assert.ok(p.targets?.length && p.targets.every((t) => t.expr), `panel ${p.id} has expressions`);
    const refs = p.targets.map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `panel ${p.id}: refIds unique`);
  }
});

Deno.test({
  name:
    "promtool checks alerts.yml, prometheus.yml and the dashboard's expressions, and runs alerts_test.yml",
  ignore: !hasTool("promtool"),
  fn: async () => {
    const promtool = async (...args: string[]) => {
      const out = await new Deno.Command("promtool", { args, env: PEER_ENV }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `promtool ${args.join(" ")}:\n${text}`);
    };
    await promtool("check", "rules", ALERTS.pathname);
    // The example configuration, and through it the rules again (rule_files: [alerts.yml]).
    await promtool("check", "config", PROMETHEUS.pathname);
    // The rules' unit tests: when each alert fires and when not, its labels and rendered annotations.
    await promtool("test", "rules", ALERTS_TESTS.pathname);
    // The panels' expressions as recording rules, with Grafana's variables given values.
    const dir = await scratchDir("monitoring-");
    const file = path.join(dir, "dashboard_rules.yml");
    const rules = allPanels(loadDashboard().panels).flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        record: `conduit:dashboard:panel_${p.id}_${t.refId}`,
        expr: t.expr!.replaceAll("$__rate_interval", "5m").replaceAll("$site", ".*"),
      }))
    );
    await Deno.writeTextFile(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
    await promtool("check", "rules", file);
  },
});

/** Whether `name` is a series of the scrapes: a family's own name, or a histogram's _bucket, _sum, _count. */
function family(scrapes: Map<string, Family>[], name: string): Family | undefined {
  for (const families of scrapes) {
    const f = families.get(name);
    if (f && f.type !== "histogram") return f; // a histogram's own name is no series
    const m = /^(.+)_(bucket|sum|count)$/.exec(name);
    const base = m && families.get(m[1]);
    if (base?.type === "histogram") return base;
  }
  return undefined;
}

/** What each expression reads that the scrapes do not have; [] when all is there. */
export function missing(scrapes: Map<string, Family>[], exprs: { where: string; expr: string }[]): string[] {
  const out: string[] = [];
  for (const { where, expr } of exprs) {
    for (const s of selectors(expr)) {
      if (PROMETHEUS_SERIES.has(s.name)) continue;
      const f = family(scrapes, s.name);
      if (!f) {
        out.push(`${where}: ${s.name} is not exported`);
        continue;
      }
      const samples = f.samples.filter((x) => x.name === s.name);
      if (samples.length === 0) continue; // a family with no series yet (no Storage Commitment asked)
      for (const label of s.labels) {
        if (TARGET_LABELS.has(label) || samples.some((x) => label in x.labels)) continue;
        out.push(`${where}: ${s.name} has no label ${label}`);
      }
    }
  }
  return out;
}

/**
 * Prometheus, scraping the agent and the hub: every rule evaluates without error on their series, no alert is
 * pending while all is well, the dashboard's Site variable finds the site, and every panel's expression runs,
 * those reading series the scrapes have (with no matcher but `site`) answering data.
 */
async function evaluated(prometheus: PrometheusServer, scrapes: Map<string, Family>[]): Promise<void> {
  await eventually("both targets up", async () => {
    const up = await prometheus.query("up");
    return up.length === 2 && up.every((s) => s.value[1] === "1");
  }, 60_000);
  // Rules evaluated on the targets' series (an evaluation before the first scrape would see none).
  const since = Date.now();
  const rules = await eventually("every rule evaluated on the scraped series", async () => {
    const rules = await prometheus.rules();
    return rules.length > 0 && rules.every((r) => Date.parse(r.lastEvaluation) > since) ? rules : undefined;
  }, 60_000);
  assert.deepEqual(rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError}`), []);
  assert.equal(rules.length, loadRules().length, "Prometheus loaded every rule");
  // Nothing pending while all is well (a busy machine may make the event loop late).
  let pending: string[] = [];
  await eventually("no alert while all is well", async () => {
    pending = (await prometheus.alerts()).map((a) => a.labels.alertname)
      .filter((name) => name !== "ConduitAgentEventLoopLag");
    return pending.length === 0;
  }, 60_000).catch((err) => {
    throw new Error(`${err.message}: ${pending.join(", ")}`);
  });
  assert.deepEqual(await prometheus.labelValues("site", "conduit_agent_process_start_time_seconds"), [
    "north",
  ]);
  const hasSamples = (name: string) =>
    PROMETHEUS_SERIES.has(name) || (family(scrapes, name)?.samples.some((x) => x.name === name) ?? false);
  for (const p of allPanels(loadDashboard().panels)) {
    for (const t of p.targets ?? []) {
      const expr = t.expr!.replaceAll("$__rate_interval", "1m").replaceAll("$site", ".*");
      const where = `panel ${p.id} "${p.title}" ${t.refId}`;
      const answers = selectors(expr).every((s) => hasSamples(s.name) && s.labels.every((l) => l === "site"));
      const result = await eventually(`${where} answered`, async () => {
        const r = await prometheus.query(expr);
        return !answers || r.length > 0 ? r : undefined;
      }, 60_000);
      assert.ok(Array.isArray(result), where);
    }
  }
}

Deno.test({
  name: "every metric the alerts and the dashboard read is in a real agent's and hub's /metrics",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("monitoring-");
    const scp = await startStorescp({ dir: path.join(dir, "scp") });
    const metricsPort = freePort();
    // A CA file each, valid for a year: the certificate expiry series exist, and alert on nothing.
    const pki = await makeTestPki([], { days: 365 });
    const hub = await startTestHub({ metricsPort, clusterCaFile: pki.ca });
    const agent = await startAgentProcess({
      args: await siteArgs(hub, "north"),
      config: {
        dimse: { allowedCallingAets: ["STORESCU"] },
        hub: { caFile: pki.ca },
        nodes: { dest: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
      },
    });
    // An agent without a hub, whose free-space floor no disk reaches.
    const full = await startAgentProcess({ config: { archive: { minFreeMegabytes: 1024 ** 3 } } });
    let hubStopped = false;
    // A real Prometheus scraping both as prometheus.yml says, every second, with the rules.
    let prometheus: PrometheusServer | undefined;
    if (hasTool("prometheus")) {
      const example = parseYaml(Deno.readTextFileSync(PROMETHEUS)) as Record<string, unknown>;
      prometheus = await startPrometheus({
        global: { scrape_interval: "1s", evaluation_interval: "1s" },
        rule_files: [ALERTS.pathname],
        scrape_configs: [
          {
            job_name: "conduit-agent",
            static_configs: [{ targets: [`127.0.0.1:${agent.httpPort}`], labels: { site: "north" } }],
          },
          { job_name: "conduit-hub", static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] },
        ],
      });
      assert.deepEqual(
        (example.scrape_configs as { job_name: string }[]).map((c) => c.job_name),
        ["conduit-agent", "conduit-hub"],
        "the jobs of the example configuration",
      );
    } else console.warn("monitoring_test: no prometheus (apt-get install prometheus): rules not evaluated");
    try {
      const scrapeAgent = async () => parsePrometheus(await (await agent.http("/metrics")).text());
      const scrapeHubText = () => fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      const scrapeHub = async () => parsePrometheus(await (await scrapeHubText()).text());
      const file = path.join(dir, "ct.dcm");
      await Deno.writeFile(
        file,
        generateInstance({
          modality: "CT",
          patientName: "MONITORING^TEST",
          patientId: "MONITORING-1",
          studyInstanceUid: uidFromKey("monitoring/study"),
          seriesInstanceUid: uidFromKey("monitoring/series"),
          sopInstanceUid: uidFromKey("monitoring/sop"),
          instanceNumber: 1,
          rows: 16,
          columns: 16,
        }),
      );
      assert.equal((await storescu([file], agent)).code, 0);
      const agentMetrics = await eventually("the object forwarded, the hub link online", async () => {
        const m = await scrapeAgent();
        const done = value(m, "conduit_agent_queue_rows", { destination: "dest", state: "done" });
        return done === 1 && value(m, "conduit_agent_health_ok", { check: "hub" }) === 1 ? m : undefined;
      }, 60_000);
      // DICOMweb through the hub: a search, a retrieval and a request that fails, so that the hub's
      // request series, and the panels reading them, have data.
      const { token } = await hub.tokens.create("monitoring", "viewer");
      const dicomweb = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await res.arrayBuffer();
        return res.status;
      };
      const study = uidFromKey("monitoring/study");
      assert.equal(await dicomweb("/sites/north/studies"), 200);
      assert.equal(await dicomweb(`/sites/north/studies/${study}`), 200);
      assert.equal(await dicomweb(`/sites/north/nonsense/${crypto.randomUUID()}`), 404);
      const hubMetrics = await eventually("the site's round trip measured", async () => {
        const m = await scrapeHub();
        return m.get("conduit_hub_tunnel_rtt_seconds")?.samples.some((s) => s.labels.site === "north")
          ? m
          : undefined;
      }, 60_000);
      for (const [kind, status] of [["qido", "2xx"], ["wado", "2xx"], ["other", "4xx"]]) {
        assert.equal(value(hubMetrics, "conduit_hub_dicomweb_requests_total", { kind, status }), 1, kind);
      }

      const scrapes = [agentMetrics, hubMetrics];
      // The exposition as promtool lints it: HELP and TYPE, counters' _total, base units, no reserved suffix.
      if (hasTool("promtool")) {
        const texts = [await (await agent.http("/metrics")).text(), await (await scrapeHubText()).text()];
        for (const [i, text] of texts.entries()) {
          const lint = new Deno.Command("promtool", {
            args: ["check", "metrics"],
            env: PEER_ENV,
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const writer = lint.stdin.getWriter();
          await writer.write(new TextEncoder().encode(text));
          await writer.close();
          const out = await lint.output();
          const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
          assert.equal(
            out.code,
            0,
            `promtool check metrics on the ${["agent", "hub"][i]}'s /metrics:\n${said}`,
          );
        }
      }
      assert.deepEqual(missing(scrapes, expressions()), []);
      // The series alerts_test.yml feeds the rules are real too (a misspelt one would make a "does not fire"
      // case pass for nothing).
      const tests = parseYaml(Deno.readTextFileSync(ALERTS_TESTS)) as {
        tests: { input_series: { series: string }[] }[];
      };
      const inputs = tests.tests.flatMap((t, i) =>
        t.input_series.map((x) => ({ where: `alerts_test.yml test ${i + 1}`, expr: x.series }))
      );
      assert.deepEqual(missing(scrapes, inputs), []);
      // Every metric either exports is documented (operations.md, tunnel.md), and every one documented exported.
      const docs = ["docs/operations.md", "docs/tunnel.md"].map(readDoc).join("\n");
      const documented = new Set(
        // conduit_build_info: the one both export under one name.
        [...docs.matchAll(/\b(conduit_(?:(?:agent|hub)_[a-z0-9_]+|build_info))/g)].map((m) => m[1]),
      );
      for (const families of scrapes) {
        for (const name of families.keys()) {
          if (name.startsWith("conduit_")) assert.ok(documented.has(name), `${name} is not documented`);
        }
      }
      for (const name of documented) {
        const exported = scrapes.some((f) => f.has(name)) || family(scrapes, name);
        assert.ok(exported, `operations.md or tunnel.md names ${name}, which is not exported`);
      }
      // A name misspelt, a label that is not there, a histogram named without its suffix: each is found.
      assert.deepEqual(
        missing(scrapes, [{ where: "x", expr: "rate(conduit_agent_objects_recieved_total[5m])" }]),
        [
          "x: conduit_agent_objects_recieved_total is not exported",
        ],
      );
      assert.deepEqual(missing(scrapes, [{ where: "x", expr: 'conduit_agent_queue_rows{status="dead"}' }]), [
        "x: conduit_agent_queue_rows has no label status",
      ]);
      assert.deepEqual(
        missing(scrapes, [{ where: "x", expr: "conduit_agent_forward_latency_seconds > 1" }]),
        [
          "x: conduit_agent_forward_latency_seconds is not exported",
        ],
      );

      // One series per certificate file loaded, labelled by which it is.
      const caEnd = new Date(new X509Certificate(await Deno.readTextFile(pki.ca)).validTo).getTime() / 1000;
      assert.equal(
        value(agentMetrics, "conduit_agent_tls_certificate_expiry_seconds", { certificate: "hub-ca" }),
        caEnd,
      );
      assert.equal(
        value(hubMetrics, "conduit_hub_tls_certificate_expiry_seconds", { certificate: "cluster-ca" }),
        caEnd,
      );

      // The data directory's file system as `df -B1` sees it (other writers on the machine: within 1% of its size).
      const df = async (dir: string) => {
        const out = await new Deno.Command("df", { args: ["-B1", "--output=avail,size", dir] }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const [avail, size] = new TextDecoder().decode(out.stdout).trim().split("\n")[1].trim().split(/\s+/);
        return { avail: Number(avail), size: Number(size) };
      };
      const disk = await df(agent.dataDir);
      const diskNow = parsePrometheus(await (await agent.http("/metrics")).text());
      const available = value(diskNow, "conduit_agent_disk_available_bytes", {});
      assert.ok(
        Math.abs(available - disk.avail) <= disk.size / 100,
        `available ${available}, df ${disk.avail}`,
      );
      const size = value(diskNow, "conduit_agent_disk_size_bytes", {});
      assert.ok(Math.abs(size - disk.size) <= disk.size / 100, `size ${size}, df ${disk.size}`);
      assert.equal(
        value(diskNow, "conduit_agent_disk_floor_bytes", {}),
        16 * 1024 * 1024,
        "the floor tests/support/agent.ts sets (archive.minFreeMegabytes: 16)",
      );

      // The object received went through one group commit, observed once.
      assert.equal(value(agentMetrics, "conduit_agent_group_commit_objects_count"), 1);
      assert.equal(value(agentMetrics, "conduit_agent_group_commit_objects_sum"), 1);
      assert.equal(value(agentMetrics, "conduit_agent_group_commit_seconds_count"), 1);

      // conduit_agent_health_ok says what /healthz says.
      assert.equal(value(agentMetrics, "conduit_agent_health_ok", { check: "database" }), 1);
      assert.equal(value(agentMetrics, "conduit_agent_health_ok", { check: "disk" }), 1);
      const fullMetrics = parsePrometheus(await (await full.http("/metrics")).text());
      const fullHealth = await (await full.http("/healthz")).json();
      assert.equal(fullHealth.disk, "below minimum");
      assert.deepEqual(
        fullMetrics.get("conduit_agent_health_ok")!.samples.map((s) => [s.labels.check, s.value]).sort(),
        [["database", 1], ["disk", 0]],
        "below the floor: disk 0, and no hub check without hub.url",
      );
      assert.equal(value(fullMetrics, "conduit_agent_disk_floor_bytes", {}), 1024 ** 5);
      const fullAvailable = value(fullMetrics, "conduit_agent_disk_available_bytes", {});
      assert.ok(fullAvailable > 0 && fullAvailable < 1024 ** 5, `available ${fullAvailable}`);
      if (prometheus) await evaluated(prometheus, scrapes);
      await hub.stop();
      hubStopped = true;
      if (prometheus) {
        // The hub gone: its link down at the agent, the hub down, the site offline; each pending (for: N m).
        const p = prometheus;
        await eventually("the alerts of a hub gone pending", async () => {
          const alerts = await p.alerts();
          const has = (name: string, labels: Record<string, string>) =>
            alerts.some((a) =>
              a.labels.alertname === name && a.state === "pending" &&
              Object.entries(labels).every(([k, v]) => a.labels[k] === v)
            );
          return has("ConduitAgentHubLinkDown", { site: "north", severity: "warning", check: "hub" }) &&
            has("ConduitHubDown", { instance: `127.0.0.1:${metricsPort}`, severity: "critical" }) &&
            has("ConduitHubSiteOffline", { site: "north" });
        }, 60_000);
      }
      await eventually("the hub link reported down", async () => {
        const health = (await scrapeAgent()).get("conduit_agent_health_ok")!.samples;
        return health.find((s) => s.labels.check === "hub")?.value === 0 &&
          health.find((s) => s.labels.check === "database")?.value === 1;
      }, 60_000);
      assert.notEqual((await (await agent.http("/healthz")).json()).hub, "online");
    } finally {
      await prometheus?.stop();
      await full.stop();
      await agent.stop();
      if (!hubStopped) await hub.stop();
      await scp.stop();
    }
  },
});
