/**
 * The hub's own metrics after real requests: a hub with agents north and south (processes, south's PACS a
 * storescp; the transfer tests' rig) answers one QIDO-RS, one WADO-RS retrieval, failing requests (an
 * object no site has, no token, random paths), tRPC calls that succeed and fail, and three transfers (a
 * success, one of a study the source does not have: a failure, one outside its time window: canceled); its /metrics then counts each by kind,
 * status class, procedure, outcome and state, and random paths add no series.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { createConduitClient } from "../../hub/client/mod.ts";
import { TASK_STATES } from "../../hub/metrics.ts";
import { eventually } from "../support/hub.ts";
import { assertNoPhi, type Family, parsePrometheus, value } from "../support/prometheus.ts";
import { finished, rigTest, seed, skip } from "../transfers/_rig.ts";

if (skip) console.warn(`hub_metrics_test: skipped: ${skip}`);

rigTest("the hub's /metrics count DICOMweb, tRPC and transfers after real requests", async (r) => {
  const { token } = await r.hub.tokens.create("prometheus", "viewer");
  const auth = { authorization: `Bearer ${token}` };
  const scrape = async () => {
    const res = await fetch(`${r.url}/metrics`, { headers: auth });
    assert.equal(res.status, 200);
    return parsePrometheus(await res.text());
  };
  const get = async (path: string, headers: Record<string, string> = auth) => {
    const res = await fetch(`${r.url}${path}`, { headers });
    const body = new Uint8Array(await res.arrayBuffer());
    // A refusal's problem text, for the message of an assertion on the status.
    const said = res.status >= 400 ? new TextDecoder().decode(body.subarray(0, 500)) : "";
    return { status: res.status, bytes: body.byteLength, said };
  };
  const study = await seed(r, "hub-metrics", 2);

  // DICOMweb: one search, one retrieval, and failing requests.
  const qido = await eventually("north's study found", async () => {
    const q = await get(`/dicomweb/sites/north/studies?StudyInstanceUID=${study.studyUid}`);
    return q.status === 200 && q.bytes > 2 ? q : undefined;
  });
  const wado = await get(`/dicomweb/sites/north/studies/${study.studyUid}`, {
    ...auth,
    accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
  });
  assert.equal(wado.status, 200, wado.said);
  assert.equal((await get("/dicomweb/sites/north/studies/1.2.3.4.999")).status, 404);
  assert.equal((await get("/dicomweb/studies", {})).status, 401);
  const random = async () =>
    assert.equal((await get(`/dicomweb/${crypto.randomUUID()}/x/${Math.random()}`)).status, 404);
  await random();

  // tRPC: calls that succeed and fail, with and without a token.
  const anonymous = createConduitClient({ url: r.url, token: "not-a-token" });
  const code = async (call: Promise<unknown>) => {
    try {
      await call;
    } catch (err) {
      assert.ok(err instanceof TRPCClientError);
      return err.data?.code as string;
    }
    assert.fail("the call succeeded");
  };
  const unauthorized = await code(anonymous.transfers.list.query());
  assert.equal(unauthorized, "UNAUTHORIZED");
  const notFound = await code(r.client.transfers.get.query({ id: "no-such-transfer" }));

  // Transfers: one that succeeds, one of a study north does not have, which fails.
  const ok = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south", node: "pacs" },
    studies: [study.studyUid],
  });
  const bad = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: ["1.2.3.4.5.6.7.8.9"],
  });
  // And one outside its time window (its task stays pending), canceled.
  const hour = (h: number) => `${String((new Date().getUTCHours() + h) % 24).padStart(2, "0")}:00`;
  const later = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [study.studyUid],
    window: { start: hour(2), end: hour(3), timeZone: "UTC" },
  });
  assert.equal((await finished(r, ok.id)).status, "success");
  assert.equal((await finished(r, bad.id)).status, "failure");
  await r.client.transfers.cancel.mutate({ id: later.id });
  assert.equal((await finished(r, later.id)).status, "canceled");

  const m = await eventually("the WADO-RS body timed to its end", async () => {
    const m = await scrape();
    return value(m, "conduit_hub_dicomweb_body_seconds_count", { kind: "wado" }) === 1 ? m : undefined;
  });
  const requests = (kind: string, status: string) =>
    value(m, "conduit_hub_dicomweb_requests_total", { kind, status });
  assert.ok(requests("qido", "2xx") >= 1);
  assert.equal(requests("wado", "2xx"), 1);
  assert.equal(requests("wado", "4xx"), 1, "the study no site has");
  assert.equal(requests("qido", "4xx"), 1, "no token");
  assert.equal(requests("other", "4xx"), 1, "the random path");
  assert.equal(value(m, "conduit_hub_dicomweb_response_seconds_count", { kind: "wado" }), 2);
  assert.ok(value(m, "conduit_hub_dicomweb_response_bytes_total", { kind: "wado" }) >= wado.bytes);
  assert.ok(value(m, "conduit_hub_dicomweb_response_bytes_total", { kind: "qido" }) >= qido.bytes);

  const calls = (procedure: string, outcome: string) =>
    value(m, "conduit_hub_trpc_calls_total", { procedure, outcome });
  assert.equal(calls("transfers.create", "ok"), 3);
  assert.equal(calls("transfers.cancel", "ok"), 1);
  assert.ok(calls("transfers.get", "ok") >= 2, "the rig's polling");
  assert.equal(calls("transfers.get", notFound), 1);
  assert.equal(calls("transfers.list", "UNAUTHORIZED"), 1);

  const tasks = Object.fromEntries(
    TASK_STATES.map((s) => [s, value(m, "conduit_hub_transfer_tasks", { state: s })]),
  );
  assert.deepEqual(tasks, {
    ...Object.fromEntries(TASK_STATES.map((s) => [s, 0])),
    success: 1,
    failure: 1,
    canceled: 1,
  });
  assert.equal(value(m, "conduit_hub_transfer_tasks_finished_total", { outcome: "success" }), 1);
  assert.equal(value(m, "conduit_hub_transfer_tasks_finished_total", { outcome: "failure" }), 1);
  assert.equal(value(m, "conduit_hub_transfer_tasks_finished_total", { outcome: "canceled" }), 1);
  assert.equal(value(m, "conduit_hub_transfer_tasks_finished_total", { outcome: "warning" }), 0);
  assert.equal(value(m, "conduit_hub_cluster_peers"), 0, "a hub on its own file has no peers");
  assert.equal(value(m, "conduit_hub_sites_connected"), 2);
  assertNoPhi(m, []);

  // Random paths, procedures' inputs and UIDs make no series: the same series after five more of each.
  const series = (families: Map<string, Family>) =>
    [...families.values()].filter((f) =>
      f.name.startsWith("conduit_hub_") && f.name !== "conduit_hub_tunnel_rtt_seconds"
    )
      .flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`)).sort();
  const before = series(await scrape());
  for (let i = 0; i < 5; i++) {
    await random();
    assert.equal((await get(`/dicomweb/sites/north/studies/1.2.${i}/series`)).status, 200);
    await code(r.client.transfers.get.query({ id: crypto.randomUUID() }));
  }
  assert.deepEqual(series(await scrape()), before, "no new series");
});
