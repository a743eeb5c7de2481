/**
 * DICOMweb requests in the hub's metrics: every route of the role matrix has its kind (none `other`), a path
 * naming no resource is `other` whatever it holds, and requests through the routes (over sites in memory)
 * are counted by kind and status class, timed, and their bodies' bytes counted as they leave; random paths
 * add no series.
 */
import assert from "node:assert/strict";
import { uidFromKey } from "@conduit/shared/testing";
import { DICOMWEB_ROOTS, DICOMWEB_ROUTES, DICOMWEB_SITE_ROUTES } from "../auth/permissions.ts";
import { HubMetrics } from "../metrics.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { DICOMWEB_KINDS, dicomwebKind, statusClass } from "./metrics.ts";
import { memoryDicomweb, MemorySite } from "./testing.ts";
import { parsePrometheus, value } from "../../tests/support/prometheus.ts";

/** A route's path with its parameters given values (UIDs, names, a frame list, a bulk data path). */
function concrete(route: string): string {
  return route.replace(":site", "north").replace(":node", "pacs").replace(":study", "1.2.3")
    .replace(":series", "1.2.3.4").replace(":instance", "1.2.3.4.5").replace(":list", "1,2")
    .replace(":path{.+}", "7fe00010/x");
}

Deno.test("dicomwebKind: each route of the role matrix under each root has its kind", () => {
  const expected = (key: string): string => {
    const [method, path] = key.split(" ");
    if (method === "POST") return "stow";
    if (method === "DELETE") return "delete";
    for (const k of ["rendered", "thumbnail", "metadata"]) if (path.endsWith(`/${k}`)) return k;
    if (path.includes("/frames/")) return "frames";
    if (path.includes("/bulkdata/")) return "bulkdata";
    return /\/(studies|series|instances)$/.test(path) ? "qido" : "wado";
  };
  const routes = [
    ...Object.keys(DICOMWEB_ROUTES).flatMap((k) => DICOMWEB_ROOTS.map((root) => [k, root] as const)),
    ...Object.keys(DICOMWEB_SITE_ROUTES).map((k) => [k, "/sites/:site"] as const),
  ];
  for (const [key, root] of routes) {
    const [method, path] = key.split(" ");
    const url = `/dicomweb${concrete(root + path)}`;
    assert.equal(dicomwebKind(method, url), expected(key), `${method} ${url}`);
    assert.equal(dicomwebKind(method, url.slice("/dicomweb".length)), expected(key), `${method} ${url}`);
  }
  // HEAD is GET's; what names no resource is `other`, whatever it carries.
  assert.equal(dicomwebKind("HEAD", "/dicomweb/studies/1.2/series/3.4"), "wado");
  for (
    const [method, url] of [
      ["GET", "/dicomweb/no/such/thing"],
      ["GET", "/dicomweb/studies/1.2.3/nonsense"],
      ["GET", "/dicomweb/studies/not-a-uid"],
      ["GET", "/dicomweb/sites/north/secret-token-abc"],
      ["PUT", "/dicomweb/studies/1.2.3"],
      ["GET", "/dicomweb/studies/1.2.3/frames"],
      ["GET", "/dicomweb/sites"],
    ]
  ) {
    assert.equal(dicomwebKind(method, url), "other", `${method} ${url}`);
  }
  assert.deepEqual([200, 204, 304, 404, 503, 99, 600].map(statusClass), [
    "2xx",
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "1xx",
    "5xx",
  ]);
});

const noSessions = { list: () => [], bytesIn: 0, bytesOut: 0 } as unknown as Sessions;

Deno.test("DICOMweb requests counted by kind and status class, timed, bytes counted; random paths add no series", async () => {
  const metrics = new HubMetrics(noSessions);
  const study = uidFromKey("metrics/study");
  const spec = {
    modality: "CT" as const,
    patientName: "METRICS^TEST",
    patientId: "METRICS-1",
    studyInstanceUid: study,
    seriesInstanceUid: uidFromKey("metrics/series"),
    rows: 8,
    columns: 8,
  };
  const north = new MemorySite([
    { ...spec, sopInstanceUid: uidFromKey("metrics/1"), instanceNumber: 1 },
    { ...spec, sopInstanceUid: uidFromKey("metrics/2"), instanceNumber: 2 },
  ]);
  const south = new MemorySite();
  south.online = false;
  const dw = memoryDicomweb({ north, south }, undefined, { metrics });
  const scrape = async () => parsePrometheus(await metrics.text());

  const qido = await dw.request("/dicomweb/sites/north/studies");
  assert.equal(qido.status, 200);
  const found = (await qido.arrayBuffer()).byteLength;
  const wado = await dw.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  assert.equal(wado.status, 200);
  const bytes = (await wado.arrayBuffer()).byteLength;
  assert.ok(bytes > 2 * 128);
  const offline = await dw.request("/dicomweb/sites/south/studies");
  assert.equal(offline.status, 503);
  const problemBytes = new TextEncoder().encode(await offline.text()).byteLength;
  const missing = await dw.request("/dicomweb/sites/north/studies/1.2.3.999/metadata");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();

  let m = await scrape();
  const requests = (kind: string, status: string) =>
    value(m, "conduit_hub_dicomweb_requests_total", { kind, status });
  assert.equal(requests("qido", "2xx"), 1);
  assert.equal(requests("qido", "5xx"), 1);
  assert.equal(requests("wado", "2xx"), 1);
  assert.equal(requests("metadata", "4xx"), 1);
  assert.equal(value(m, "conduit_hub_dicomweb_response_seconds_count", { kind: "qido" }), 2);
  assert.equal(value(m, "conduit_hub_dicomweb_response_seconds_count", { kind: "wado" }), 1);
  assert.equal(value(m, "conduit_hub_dicomweb_response_bytes_total", { kind: "wado" }), bytes);
  assert.equal(value(m, "conduit_hub_dicomweb_body_seconds_count", { kind: "wado" }), 1);
  // A 503's problem object is sent too, and counted as qido's bytes; no search is timed to its body's end.
  assert.equal(value(m, "conduit_hub_dicomweb_response_bytes_total", { kind: "qido" }), found + problemBytes);
  assert.equal(value(m, "conduit_hub_dicomweb_body_seconds_count", { kind: "qido" }), 0);

  // Random paths: one series of `other`, however many there are; no label holds a path or a UID.
  const random = async () => {
    const res = await dw.request(`/dicomweb/${crypto.randomUUID()}/studies/${Math.random()}`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  };
  await random();
  const series = (families: typeof m) =>
    [...families.values()].filter((f) => f.name.startsWith("conduit_hub_dicomweb_"))
      .flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`)).sort();
  const before = series(await scrape());
  for (let i = 0; i < 5; i++) await random();
  m = await scrape();
  assert.deepEqual(series(m), before, "random paths made no new series");
  assert.equal(requests("other", "4xx"), 6);
  for (const f of m.values()) {
    for (const s of f.samples) {
      if (s.labels.kind !== undefined) {
        assert.ok((DICOMWEB_KINDS as readonly string[]).includes(s.labels.kind));
      }
      // conduit_build_info's version label is the release (0.1.0+commit), the one dotted value allowed.
      if (s.name === "conduit_build_info") continue;
      for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /\d+\.\d+\.\d+/, `${s.name}: a UID`);
    }
  }
});
