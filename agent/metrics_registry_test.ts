import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, processMetrics, Registry } from "./metrics_registry.ts";

Deno.test("metrics registry: counters, gauges and histograms in the Prometheus text format", async () => {
  const registry = new Registry();
  const c = new Counter({
    name: "t_total",
    help: "a counter",
    labelNames: ["status"],
    registers: [registry],
  });
  const plain = new Counter({ name: "t_plain_total", help: "plain", registers: [registry] });
  let source = 7;
  new Gauge({
    name: "t_gauge",
    help: "a gauge",
    labelNames: ["d"],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ d: 'a"b\\c' }, source);
    },
  });
  const h = new Histogram({
    name: "t_seconds",
    help: "h",
    buckets: [1, 0.1],
    labelNames: ["k"],
    registers: [registry],
  });
  c.inc({ status: "0x0000" });
  c.inc({ status: "0x0000" }, 2);
  plain.inc(5);
  h.observe({ k: "x" }, 0.05);
  h.observe({ k: "x" }, 0.5);
  h.observe({ k: "x" }, 3);
  const text = await registry.metrics();
  assert.match(text, /^# HELP t_total a counter\n# TYPE t_total counter\nt_total\{status="0x0000"\} 3$/m);
  assert.match(text, /^t_plain_total 5$/m);
  assert.match(text, /^t_gauge\{d="a\\"b\\\\c"\} 7$/m);
  assert.match(text, /^t_seconds_bucket\{k="x",le="0.1"\} 1$/m);
  assert.match(text, /^t_seconds_bucket\{k="x",le="1"\} 2$/m);
  assert.match(text, /^t_seconds_bucket\{k="x",le="\+Inf"\} 3$/m);
  assert.match(text, /^t_seconds_sum\{k="x"\} 3.55$/m);
  assert.match(text, /^t_seconds_count\{k="x"\} 3$/m);
  source = 9;
  assert.match(await registry.metrics(), /^t_gauge\{d="a\\"b\\\\c"\} 9$/m);
  assert.throws(() => new Counter({ name: "t_total", help: "again", registers: [registry] }));
});

Deno.test("metrics registry: process metrics read when scraped", async () => {
  const registry = new Registry();
  processMetrics(registry, "p_");
  const text = await registry.metrics();
  assert.match(text, /^# TYPE p_process_cpu_seconds_total counter$/m);
  const rss = Number(/^p_process_resident_memory_bytes ([0-9.e+]+)$/m.exec(text)?.[1]);
  assert(rss > 10_000_000, `resident memory ${rss}`);
  const lag = Number(/^p_nodejs_eventloop_lag_seconds ([0-9.e+-]+)$/m.exec(text)?.[1]);
  assert(lag >= 0 && lag < 5, `lag ${lag}`);
  assert.equal(registry.contentType, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("Gauge.clear() leaves an unlabelled gauge with no series until set again", async () => {
  const registry = new Registry();
  const g = new Gauge({ name: "t_free_bytes", help: "free", registers: [registry] });
  assert.match(await registry.metrics(), /^t_free_bytes 0$/m);
  g.clear();
  const text = await registry.metrics();
  assert.match(text, /^# TYPE t_free_bytes gauge$/m);
  assert.doesNotMatch(text, /^t_free_bytes /m);
  g.set(5);
  assert.match(await registry.metrics(), /^t_free_bytes 5$/m);
});
