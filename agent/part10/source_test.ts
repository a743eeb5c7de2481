import assert from "node:assert/strict";
import { openFile } from "./source.ts";

Deno.test("openFile reads at any position, concurrent reads included, and ends short at the end of the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
    await Deno.writeFile(`${dir}/f`, bytes);
    const source = await openFile(`${dir}/f`);
    assert.equal(source.size, bytes.length);
    const wanted = [[150_000, 1000], [10, 5000], [10, 5000], [199_990, 100], [0, 65536], [70_000, 0]];
    const buffers = wanted.map(([, n]) => new Uint8Array(n));
    // All asked for at once, out of order: each gets its own position's bytes.
    const counts = await Promise.all(wanted.map(([at], i) => source.read(buffers[i], at)));
    assert.deepEqual(counts, [1000, 5000, 5000, 10, 65536, 0]);
    wanted.forEach(([at], i) =>
      assert.deepEqual(buffers[i].subarray(0, counts[i]), bytes.subarray(at, at + counts[i]))
    );
    assert.equal(await source.read(new Uint8Array(10), 200_000), 0, "nothing past the end");
    await source.close();
    await assert.rejects(
      openFile(`${dir}/missing`),
      (err: Error & { code?: string }) => err.code === "ENOENT",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
