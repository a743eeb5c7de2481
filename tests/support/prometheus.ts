/**
 * Prometheus in tests: the text exposition format (0.0.4) read as a Prometheus server reads it, strictly (each
 * family with one HELP and TYPE before its samples, no series twice, counters named _total and not negative,
 * histograms whole), and a real Prometheus server (Debian's `prometheus`) scraping and evaluating rules.
 * Used by tests/ops/metrics_test.ts and tests/ops/monitoring_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { toolPath } from "./peer_tools.ts";
import { answersOk, onFreePorts, scratchDir, spawnLogged, waitReady } from "./processes.ts";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
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
export function assertNoPhi(families: Map<string, Family>, words: string[]): void {
  for (const f of families.values()) {
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+/, `${s.name} ${k}=${v}: a UID in a label`);
        for (const w of words) assert.ok(!v.includes(w), `${s.name} ${k}=${v}: patient data in a label`);
      }
    }
  }
}

/** The value of the first sample of `name` (a histogram's _bucket, _sum or _count too) with `labels`; 0 if none. */
export function value(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const f = families.get(name) ?? families.get(base);
  const s = f?.samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  return s?.value ?? 0;
}

/** A series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A rule as `/api/v1/rules` reports it. */
export interface PromRule {
  name: string;
  health: string;
  lastError?: string;
  /** When it was last evaluated (RFC 3339). */
  lastEvaluation: string;
  type: string;
}

/** An alert as `/api/v1/alerts` reports it (pending or firing). */
export interface PromAlert {
  labels: Record<string, string>;
  state: string;
}

export interface PrometheusServer {
  port: number;
  logFile: string;
  /** An instant query; throws with Prometheus' error when it refuses or fails the expression. */
  query(expr: string): Promise<PromSample[]>;
  /** The values of a label over the series `match` selects (Grafana's `label_values(match, label)`). */
  labelValues(label: string, match: string): Promise<string[]>;
  rules(): Promise<PromRule[]>;
  alerts(): Promise<PromAlert[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus on a free loopback port with `config` (a prometheus.yml as an object; rule_files as
 * absolute paths), its TSDB in a scratch directory. The caller stops it.
 */
export async function startPrometheus(config: Record<string, unknown>): Promise<PrometheusServer> {
  const bin = toolPath("prometheus");
  if (!bin) throw new Error("prometheus is not installed (apt-get install prometheus)");
  const dir = await scratchDir("prometheus-");
  const file = path.join(dir, "prometheus.yml");
  await Deno.writeTextFile(file, JSON.stringify(config));
  const { port, proc } = await onFreePorts(["prometheus"], [undefined], async ([port]) => {
    const proc = await spawnLogged("prometheus", bin, [
      `--config.file=${file}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ], dir);
    await waitReady(proc, `prometheus on ${port}`, answersOk(`http://127.0.0.1:${port}/-/ready`), 60_000, [
      port,
    ]);
    return { port, proc };
  });
  const base = `http://127.0.0.1:${port}`;
  const api = async <T>(p: string): Promise<T> => {
    const body = await (await fetch(`${base}${p}`)).json();
    if (body.status !== "success") throw new Error(`prometheus ${p}: ${body.errorType}: ${body.error}`);
    return body.data as T;
  };
  return {
    port,
    logFile: proc.logFile,
    query: async (expr) =>
      (await api<{ result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    labelValues: (label, match) =>
      api<string[]>(`/api/v1/label/${label}/values?${new URLSearchParams({ "match[]": match })}`),
    rules: async () =>
      (await api<{ groups: { rules: PromRule[] }[] }>("/api/v1/rules")).groups.flatMap((g) => g.rules),
    alerts: async () => (await api<{ alerts: PromAlert[] }>("/api/v1/alerts")).alerts,
    stop: proc.stop,
  };
}
