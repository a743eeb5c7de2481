/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms with
 * labels, and the process metrics the agent reports. It stands in for prom-client, whose import and
 * default metrics (an event-loop delay monitor among them) cost an idle agent about 8 MB of RSS (issue 16).
 * The API is the subset the agent used: `inc`, `set`, `reset`, `observe`, a `collect` hook run before
 * each exposition.
 */

type Labels = Record<string, string | number>;

interface MetricBase {
  name: string;
  help: string;
  labelNames?: string[];
  registers?: Registry[];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Prometheus' number format: integers as they are, +Inf, -Inf, NaN by name. */
function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, String(labels[k])]));
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: string;

  constructor(options: MetricBase) {
    this.name = options.name;
    this.help = options.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    for (const r of options.registers ?? []) r.register(this);
  }

  /** Called before each exposition (gauges that read their value then). */
  collect(): void | Promise<void> {}

  abstract lines(): string[];

  text(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join(
      "\n",
    );
  }
}

/** Values by label set; a metric without labels has one, reported as 0 until changed. */
class Series<V> {
  readonly #values = new Map<string, { labels: Labels; value: V }>();
  constructor(private readonly initial: () => V, unlabelled: boolean) {
    if (unlabelled) this.get({});
  }
  get(labels: Labels): { labels: Labels; value: V } {
    const key = keyOf(labels);
    let entry = this.#values.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, value: this.initial() };
      this.#values.set(key, entry);
    }
    return entry;
  }
  entries(): { labels: Labels; value: V }[] {
    return [...this.#values.values()];
  }
  clear(): void {
    this.#values.clear();
  }
}

export class Counter extends Metric {
  readonly type = "counter";
  readonly #series: Series<number>;
  constructor(options: MetricBase) {
    super(options);
    this.#series = new Series(() => 0, !options.labelNames?.length);
  }
  inc(labelsOrValue?: Labels | number, value = 1): void {
    const labels = typeof labelsOrValue === "object" ? labelsOrValue : {};
    const by = typeof labelsOrValue === "number" ? labelsOrValue : value;
    this.#series.get(labels).value += by;
  }
  lines(): string[] {
    return this.#series.entries().map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`);
  }
}

export class Gauge extends Metric {
  readonly type: "gauge" | "counter";
  readonly #series: Series<number>;
  readonly #collect?: (this: Gauge) => void | Promise<void>;
  readonly #unlabelled: boolean;
  /** `exposeAs: "counter"`: a total read from elsewhere when scraped (CPU seconds). */
  constructor(
    options: MetricBase & { collect?: (this: Gauge) => void | Promise<void>; exposeAs?: "counter" },
  ) {
    super(options);
    this.type = options.exposeAs ?? "gauge";
    this.#unlabelled = !options.labelNames?.length;
    this.#series = new Series(() => 0, this.#unlabelled);
    this.#collect = options.collect;
  }
  set(labelsOrValue: Labels | number, value?: number): void {
    if (typeof labelsOrValue === "number") this.#series.get({}).value = labelsOrValue;
    else this.#series.get(labelsOrValue).value = value ?? 0;
  }
  reset(): void {
    this.#series.clear();
    if (this.#unlabelled) this.#series.get({});
  }
  /** No series at all (an unlabelled gauge's too) until set again: a value that could not be read. */
  clear(): void {
    this.#series.clear();
  }
  override collect(): void | Promise<void> {
    return this.#collect?.call(this);
  }
  lines(): string[] {
    return this.#series.entries().map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`);
  }
}

export class Histogram extends Metric {
  readonly type = "histogram";
  readonly #buckets: number[];
  readonly #series: Series<{ counts: number[]; sum: number; count: number }>;
  constructor(options: MetricBase & { buckets: number[] }) {
    super(options);
    this.#buckets = [...options.buckets].sort((a, b) => a - b);
    this.#series = new Series(
      () => ({ counts: this.#buckets.map(() => 0), sum: 0, count: 0 }),
      !options.labelNames?.length,
    );
  }
  observe(labelsOrValue: Labels | number, value?: number): void {
    const labels = typeof labelsOrValue === "object" ? labelsOrValue : {};
    const v = typeof labelsOrValue === "number" ? labelsOrValue : value ?? 0;
    const entry = this.#series.get(labels).value;
    for (let i = 0; i < this.#buckets.length; i++) if (v <= this.#buckets[i]) entry.counts[i]++;
    entry.sum += v;
    entry.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const { labels, value } of this.#series.entries()) {
      this.#buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${labelText(labels, ["le", num(b)])} ${value.counts[i]}`);
      });
      out.push(`${this.name}_bucket${labelText(labels, ["le", "+Inf"])} ${value.count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${num(value.sum)}`);
      out.push(`${this.name}_count${labelText(labels)} ${value.count}`);
    }
    return out;
  }
}

export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  readonly #metrics: Metric[] = [];

  register(metric: Metric): void {
    if (this.#metrics.some((m) => m.name === metric.name)) {
      throw new Error(`metric ${metric.name} registered twice`);
    }
    this.#metrics.push(metric);
  }

  async metrics(): Promise<string> {
    for (const m of this.#metrics) await m.collect();
    return this.#metrics.map((m) => m.text()).join("\n\n") + "\n";
  }
}

/**
 * The process metrics, named as prom-client's default metrics were (with `prefix`): CPU seconds, resident
 * memory, start time, V8 heap, and the event loop's lag, measured when scraped (how late a zero-delay
 * timer fires) rather than sampled all the time.
 */
export function processMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  const startSeconds = Math.round(Date.now() / 1000 - performance.now() / 1000);
  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(startSeconds);
    },
  });
  let cpu = { user: 0, system: 0 };
  new Gauge({
    name: `${prefix}process_cpu_seconds_total`,
    help: "Total user and system CPU time spent in seconds.",
    registers,
    exposeAs: "counter",
    collect() {
      cpu = cpuSeconds() ?? cpu;
      this.set(cpu.user + cpu.system);
    },
  });
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  const heap = (field: "heapUsed" | "heapTotal" | "external") => () => Deno.memoryUsage()[field];
  for (
    const [name, help, read] of [
      ["nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", heap("heapUsed")],
      ["nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", heap("heapTotal")],
      ["nodejs_external_memory_bytes", "Node.js external memory size in bytes.", heap("external")],
    ] as const
  ) {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  }
  new Gauge({
    name: `${prefix}nodejs_eventloop_lag_seconds`,
    help: "Lag of event loop in seconds.",
    registers,
    collect() {
      const t0 = performance.now();
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          this.set((performance.now() - t0) / 1000);
          resolve();
        }, 0)
      );
    },
  });
}

/** utime and stime of this process in seconds, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(): { user: number; system: number } | undefined {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    // USER_HZ is 100 on every Linux the agent runs on.
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return undefined;
  }
}
