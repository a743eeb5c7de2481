/**
 * The agent's and the hub's /metrics as a Prometheus server reads them: parsed strictly by the text format's
 * rules (no promtool here), each family with one HELP and TYPE before its samples, no series twice,
 * histograms whole, and no UID or patient data in any label; and counters that move as operations.md says.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { startAgentProcess } from "../support/agent.ts";
import { siteArgs, startTestHub } from "../support/hub.ts";
import { eventually } from "../support/hub.ts";
import { freePort, runDcmtk, scratchDir, skipReason, startStorescp } from "../support/peers.ts";
import { storescu } from "../support/send.ts";

const skip = skipReason("storescu", "storescp", "echoscu");
if (skip) console.warn(`metrics_test: skipped: ${skip}`);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses the Prometheus text format (0.0.4) strictly; throws on the first line it would reject. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  assert.ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const lines = text.split("\n").slice(0, -1);
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m;
      assert.match(name, NAME, where);
      let family = families.get(name);
      if (!family) {
        assert.ok(!seen.has(name), `${where}: family ${name} appears twice`);
        family = { name, type: "untyped", help: "", samples: [] };
        families.set(name, family);
        seen.add(name);
      }
      if (kind === "TYPE") {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, where);
        assert.equal(family.samples.length, 0, `${where}: TYPE after samples`);
        family.type = rest;
      } else {
        assert.doesNotMatch(rest.replace(/\\[\\n]/g, ""), /\\/, `${where}: bad escape in HELP`);
        family.help = rest;
      }
      current = family;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
    assert.ok(m, `${where}: not a sample`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|\})/y;
      re.lastIndex = 1;
      let end = false;
      while (!end) {
        const l = re.exec(labelText);
        assert.ok(l, `${where}: bad label set`);
        assert.match(l[1], LABEL, where);
        assert.ok(!(l[1] in labels), `${where}: label ${l[1]} twice`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
        end = l[3] === "}";
      }
      assert.equal(re.lastIndex, labelText.length, `${where}: text after the label set`);
    }
    const value = /^[+-]?Inf$/.test(valueText)
      ? (valueText.startsWith("-") ? -Infinity : Infinity)
      : valueText === "NaN"
      ? NaN
      : Number(valueText);
    assert.ok(!Number.isNaN(value) || valueText === "NaN", `${where}: bad value`);
    const base = current && (name === current.name ||
        (current.type === "histogram" && /_(bucket|sum|count)$/.test(name) &&
          name.replace(/_(bucket|sum|count)$/, "") === current.name))
      ? current
      : undefined;
    assert.ok(base, `${where}: sample outside its family (HELP/TYPE ${current?.name})`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    assert.ok(!seen.has(key), `${where}: series twice`);
    seen.add(key);
    base.samples.push({ name, labels, value });
  }
  for (const f of families.values()) {
    if (f.type === "counter") {
      assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`);
      for (const s of f.samples) assert.ok(s.value >= 0, `${f.name} is not negative`);
    }
    if (f.type === "histogram") checkHistogram(f);
  }
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    if (!series.has(key)) series.set(key, []);
    series.get(key)!.push(s);
    if (s.name.endsWith("_bucket")) assert.ok(le !== undefined, `${f.name}: a bucket without le`);
  }
  for (const [key, samples] of series) {
    const buckets = samples.filter((s) => s.name.endsWith("_bucket"));
    const count = samples.find((s) => s.name === `${f.name}_count`);
    assert.ok(samples.find((s) => s.name === `${f.name}_sum`), `${f.name}${key}: no _sum`);
    assert.ok(count, `${f.name}${key}: no _count`);
    const les = buckets.map((b) => Number(b.labels.le === "+Inf" ? Infinity : b.labels.le));
    assert.equal(les.at(-1), Infinity, `${f.name}${key}: last bucket +Inf`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(les[i] > les[i - 1], `${f.name}${key}: le ascending`);
      assert.ok(buckets[i].value >= buckets[i - 1].value, `${f.name}${key}: buckets cumulative`);
    }
    assert.equal(buckets.at(-1)!.value, count.value, `${f.name}${key}: +Inf equals _count`);
  }
}

/** Label values that look like a DICOM UID (four or more dotted numbers) or name a patient. */
function assertNoPhi(families: Map<string, Family>, words: string[]): void {
  for (const f of families.values()) {
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+/, `${s.name} ${k}=${v}: a UID in a label`);
        for (const w of words) assert.ok(!v.includes(w), `${s.name} ${k}=${v}: patient data in a label`);
      }
    }
  }
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const f = families.get(name) ?? families.get(base);
  const s = f?.samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  return s?.value ?? 0;
}

Deno.test({
  name: "the agent's and the hub's /metrics parse as Prometheus text and move as documented",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("metrics-");
    const scp = await startStorescp({ dir: path.join(dir, "scp") });
    const metricsPort = freePort();
    const hub = await startTestHub({ metricsPort });
    const agent = await startAgentProcess({
      args: await siteArgs(hub, "north"),
      config: {
        dimse: { allowedCallingAets: ["STORESCU", "ECHOSCU"] },
        nodes: { dest: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
      },
    });
    try {
      const scrape = async () => parsePrometheus(await (await agent.http("/metrics")).text());
      const before = await scrape();
      const file = path.join(dir, "ct.dcm");
      const sop = uidFromKey("metrics/sop");
      await Deno.writeFile(
        file,
        generateInstance({
          modality: "CT",
          patientName: "METRICS^PATIENT",
          patientId: "METRICS-ID-1",
          studyInstanceUid: uidFromKey("metrics/study"),
          seriesInstanceUid: uidFromKey("metrics/series"),
          sopInstanceUid: sop,
          instanceNumber: 1,
          rows: 64,
          columns: 64,
        }),
      );
      assert.equal((await storescu([file], agent)).code, 0);
      // A calling AE title not allowed: rejected.
      const refused = await runDcmtk("echoscu", [
        "-aet",
        "INTRUDER",
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
      ]);
      assert.notEqual(refused.code, 0);
      const after = await eventually("the object forwarded", async () => {
        const m = await scrape();
        // The row's done mark is committed with its group (up to 25 ms after the attempt is counted).
        const done = value(m, "conduit_agent_forward_attempts_total", {
          destination: "dest",
          outcome: "done",
        });
        const rows = value(m, "conduit_agent_queue_rows", { destination: "dest", state: "done" });
        return done === 1 && rows === 1 ? m : undefined;
      });
      const size = (await Deno.stat(file)).size;
      const delta = (name: string, labels: Record<string, string> = {}) =>
        value(after, name, labels) - value(before, name, labels);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "accepted" }), 1);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "released" }), 1);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "rejected" }), 1);
      assert.equal(delta("conduit_agent_objects_received_total", { status: "0x0000" }), 1);
      assert.equal(delta("conduit_agent_objects_stored_total"), 1);
      // File bytes: the agent's own File Meta group and the data set as sent.
      const received = delta("conduit_agent_bytes_received_total");
      assert.ok(Math.abs(received - size) < 512, `${received} bytes counted for a file of ${size}`);
      assert.equal(delta("conduit_agent_bytes_stored_total"), received);
      assert.equal(delta("conduit_agent_forward_latency_seconds_count", { destination: "dest" }), 1);
      assert.equal(value(after, "conduit_agent_associations_active"), 0);
      for (
        const name of [
          "conduit_agent_process_cpu_seconds_total",
          "conduit_agent_process_resident_memory_bytes",
          "conduit_agent_process_start_time_seconds",
          "conduit_agent_nodejs_heap_size_used_bytes",
          "conduit_agent_nodejs_eventloop_lag_seconds",
        ]
      ) assert.ok(after.has(name), `${name} reported`);
      const phi = ["METRICS^PATIENT", "METRICS", "METRICS-ID-1"];
      assertNoPhi(after, phi);

      // The hub's, on its metrics port (no token) and with the site connected.
      const hubText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const hubFamilies = parsePrometheus(hubText);
      assertNoPhi(hubFamilies, phi);
      assert.ok([...hubFamilies.keys()].some((n) => n.startsWith("conduit_hub_")), "hub metrics");
    } finally {
      await agent.stop();
      await hub.stop();
      await scp.stop();
    }
  },
});
