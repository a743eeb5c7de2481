import assert from "node:assert/strict";
import { AgentMetrics } from "./metrics.ts";
import { diskSpace } from "./archive/disk_space.ts";

const sample = (text: string, name: string) => new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];

Deno.test("AgentMetrics: the data directory's free space, size and floor, read when scraped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const metrics = new AgentMetrics();
    let reads = 0;
    metrics.diskSource = () => (reads++, diskSpace(dir));
    metrics.diskFloorBytes = 1024 * 1024 * 1024;
    const text = await metrics.text();
    assert.equal(reads, 1, "one statfs a scrape");
    const space = diskSpace(dir);
    const available = Number(sample(text, "conduit_agent_disk_available_bytes"));
    const size = Number(sample(text, "conduit_agent_disk_size_bytes"));
    assert.ok(Math.abs(available - space.available) <= space.size * 0.01, `available ${available}`);
    assert.equal(size, space.size);
    assert.ok(available > 0 && available < size, `${available} of ${size}`);
    assert.equal(sample(text, "conduit_agent_disk_floor_bytes"), String(1024 ** 3));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AgentMetrics: a statfs that fails leaves the disk series out and /metrics whole", async () => {
  const metrics = new AgentMetrics();
  metrics.diskSource = () => diskSpace("/nonexistent/conduit-data");
  metrics.diskFloorBytes = 5;
  const text = await metrics.text();
  assert.match(text, /^# TYPE conduit_agent_disk_available_bytes gauge$/m);
  assert.equal(sample(text, "conduit_agent_disk_available_bytes"), undefined);
  assert.equal(sample(text, "conduit_agent_disk_size_bytes"), undefined);
  assert.equal(sample(text, "conduit_agent_disk_floor_bytes"), "5");
  assert.match(text, /^conduit_agent_process_resident_memory_bytes \d+/m, "the metrics after it still there");
  // Readable again: the series come back.
  metrics.diskSource = () => ({ available: 10, size: 20 });
  const again = await metrics.text();
  assert.equal(sample(again, "conduit_agent_disk_available_bytes"), "10");
  assert.equal(sample(again, "conduit_agent_disk_size_bytes"), "20");
});
