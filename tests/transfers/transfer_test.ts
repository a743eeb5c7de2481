/**
 * Transfers between sites through the typed client: north's archive to south's PACS (storescp),
 * tracked to the last object; run again without duplicates; cancel; a source killed mid-transfer;
 * auth failures and bad input.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import ExcelJS from "exceljs";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { atPacs, finished, rigTest, seed, skip } from "./_rig.ts";
import { toBase64 } from "@conduit/shared/base64";

if (skip) console.warn(`transfer_test: skipped: ${skip}`);

rigTest(
  "transfers.create moves 3 studies north to south's PACS, once; running it again adds nothing",
  async (r) => {
    const studies = [await seed(r, "t-a", 4), await seed(r, "t-b", 3), await seed(r, "t-c", 5)];
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: studies.map((s) => s.studyUid),
    });
    const done = await finished(r, id);
    assert.equal(done.status, "success");
    assert.deepEqual(done.totals, { studies: 3, objects: 12, done: 12, failed: 0, missing: 0, held: 0 });
    await eventually("12 objects at the PACS", async () => (await atPacs(r)).size === 12 || undefined);
    const again = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: studies.map((s) => s.studyUid),
    });
    assert.equal((await finished(r, again.id)).status, "success");
    await new Promise((res) => setTimeout(res, 1500));
    const pacs = await atPacs(r);
    assert.equal(pacs.size, 12);
    assert.ok([...pacs.values()].every((n) => n === 1), "no object reached the PACS twice");
    const list = await r.client.transfers.list.query();
    assert.equal(list.length, 2);

    // The same studies to another node of the same site: south holds them already, and still delivers.
    const other = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "copy" },
      studies: studies.map((s) => s.studyUid),
    });
    assert.equal((await finished(r, other.id)).status, "success");
    await eventually(
      "each object at the PACS twice",
      async () => [...(await atPacs(r)).values()].every((n) => n === 2) || undefined,
    );
    assert.equal((await atPacs(r)).size, 12);
  },
);

rigTest(
  "a transfer survives kill -9 of its source mid-way; cancel stops one and reports what got through",
  async (r) => {
    const big = await seed(r, "t-big", 200);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [big.studyUid],
    });
    // Watched at the PACS (the job's `done` is the node's count as the hub last asked, every 5 s at most).
    await eventually("some objects through", async () => (await atPacs(r)).size > 10 || undefined);
    await r.north.kill();
    r.north = await startAgentProcess(r.northArgs);
    const done = await finished(r, id);
    assert.equal(done.status, "success");
    await eventually("200 at the PACS", async () => (await atPacs(r)).size === 200 || undefined);
    assert.ok([...(await atPacs(r)).values()].every((n) => n === 1), "nothing doubled");

    // Cancel: 300 objects of 0.5 MB; cancel as soon as north's own queue shows the first delivered.
    const dir = await Deno.makeTempDir({ prefix: "transfer-cancel-" });
    const other = await writeGeneratedSeries(dir, { count: 300, seed: "t-cancel" });
    const sent = await storescu(other.paths, r.north, [], 120_000);
    assert.equal(sent.code, 0, sent.stderr);
    const second = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [other.studyUid],
    });
    await eventually("the first object through", async () => {
      const q = await (await r.north.http("/queue/summary")).json() as {
        rows: { destination: string; state: string; count: number }[];
      };
      return q.rows.some((row) => row.destination === "@south" && row.state === "done") || undefined;
    }, 60_000);
    const canceled = await r.client.transfers.cancel.mutate({ id: second.id });
    assert.equal(canceled.status, "canceled");
    await new Promise((res) => setTimeout(res, 2000));
    const later = await r.client.transfers.get.query({ id: second.id });
    assert.equal(later.status, "canceled");
    assert.ok(
      later.totals.done > 0 && later.totals.done < 300,
      `cancel stopped the transfer (${later.totals.done} of 300 went)`,
    );
    // Rows in flight at the cancel finish their attempt; none is tried again, none stays waiting.
    const waiting = async () => {
      const rows = await (await r.north.http("/queue?destination=@south&limit=10000")).json() as {
        route: string;
        state: string;
      }[];
      return rows.filter((row) =>
        row.route === `transfer:${second.id}` && ["pending", "in_flight", "failed"].includes(row.state)
      );
    };
    await eventually(
      "the canceled transfer's rows leave the source's queue",
      async () => (await waiting()).length === 0 || undefined,
      30_000,
    );
    await new Promise((res) => setTimeout(res, 3000));
    assert.deepEqual(await waiting(), [], "nothing of the canceled transfer waits in the source's queue");
  },
);

rigTest("the API refuses bad tokens, missing roles and bad input", async (r) => {
  const bad = createConduitClient({ url: r.url, token: "ctk.000000000000.AAAAAAAAAAAAAAAAAAAAAAAAA" });
  await assert.rejects(
    bad.sites.list.query(),
    (e: unknown) => e instanceof TRPCClientError && e.data?.code === "UNAUTHORIZED",
  );
  const viewer = createConduitClient({ url: r.url, token: (await r.hub.tokens.create("v", "viewer")).token });
  assert.equal((await viewer.sites.list.query()).length, 2);
  await assert.rejects(
    viewer.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south" },
      studies: ["1.2.3"],
    }),
    (e: unknown) => e instanceof TRPCClientError && e.data?.code === "FORBIDDEN",
  );
  await assert.rejects(
    r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south" },
      studies: ["not a uid"],
    }),
    (e: unknown) => e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST",
  );
  await assert.rejects(
    r.client.transfers.create.mutate({
      source: { site: "nowhere" },
      destination: { site: "south" },
      studies: ["1.2.3"],
    }),
    /no site named nowhere/,
  );
  const { studies, leftOut } = await viewer.query.studies.query({ site: "north" });
  assert.ok(Array.isArray(studies));
  assert.deepEqual(leftOut, []);

  // Progress over SSE, with the token in a header: every change, ending with the final state.
  const small = await seed(r, "t-sse", 5);
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [small.studyUid],
  });
  const seen = await new Promise<{ status: string; done: number }[]>((resolve, reject) => {
    const out: { status: string; done: number }[] = [];
    const sub = viewer.transfers.progress.subscribe({ id }, {
      onData: (t) => {
        out.push({ status: t.status, done: t.totals.done });
        if (["success", "warning", "failure", "canceled"].includes(t.status)) {
          sub.unsubscribe();
          resolve(out);
        }
      },
      onError: reject,
    });
  });
  assert.deepEqual(seen.at(-1), { status: "success", done: 5 });
  const denied = await new Promise((resolve) => {
    const sub = bad.transfers.progress.subscribe({ id }, {
      onData: () => resolve("data"),
      onError: (
        e,
      ) => (sub.unsubscribe(), resolve((e as { data?: { code?: string } }).data?.code ?? e.message)),
    });
  });
  assert.equal(denied, "UNAUTHORIZED");

  // A subscription ends when its token is revoked: a job held by a closed window keeps it open till then.
  const follower = await r.hub.tokens.create("follower", "viewer");
  const hour = (new Date().getUTCHours() + 12) % 24;
  const held = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [small.studyUid],
    window: {
      start: `${String(hour).padStart(2, "0")}:00`,
      end: `${String(hour).padStart(2, "0")}:01`,
      timeZone: "UTC",
    },
  });
  const following = createConduitClient({ url: r.url, token: follower.token });
  let revokedAt = 0;
  const ended = await new Promise<string>((resolve) => {
    let first = true;
    const sub = following.transfers.progress.subscribe({ id: held.id }, {
      onData: () => {
        if (!first) return;
        first = false;
        r.hub.tokens.revoke(follower.id).then(() => (revokedAt = Date.now()));
        setTimeout(() => (sub.unsubscribe(), resolve("still streaming 10 s after the revoke")), 10_000);
      },
      onError: (
        e,
      ) => (sub.unsubscribe(), resolve((e as { data?: { code?: string } }).data?.code ?? e.message)),
    });
  });
  assert.equal(ended, "UNAUTHORIZED");
  assert.ok(
    Date.now() - revokedAt < 2000,
    `the subscription ended ${Date.now() - revokedAt} ms after the revoke`,
  );
  await r.client.transfers.cancel.mutate({ id: held.id });
});

rigTest("a batch transfer from an XLSX moves what its rows find; a bad row gets its own error", async (r) => {
  const a = await seed(r, "batch-a", 2);
  const b = await seed(r, "batch-b", 3, "MR"); // the generator's patients repeat across seeds: tell them by modality
  const found = (await r.client.query.studies.query({ site: "north" })).studies;
  const patientOf = (study: string) => {
    const hit = found.find((f) => (f.study["0020000D"] as { Value: string[] }).Value[0] === study)!;
    return (hit.study["00100020"] as { Value: string[] }).Value[0];
  };
  const book = new ExcelJS.Workbook();
  const sheet = book.addWorksheet("rows");
  sheet.addRow(["Patient ID", "Study Date", "Modality"]);
  sheet.addRow([patientOf(a.studyUid), "", "CT"]);
  sheet.addRow([patientOf(b.studyUid), "", "MR"]);
  sheet.addRow(["X1", "yesterday", ""]);
  sheet.addRow(["NOBODY", "", ""]);
  const xlsx = new Uint8Array(await book.xlsx.writeBuffer() as ArrayBuffer);
  const { id, rows, badRows } = await r.client.batch.upload.mutate({
    kind: "transfer",
    filename: "rows.xlsx",
    contentBase64: toBase64(xlsx),
    sites: ["north"],
    destination: { site: "south" },
  });
  assert.equal(rows, 4);
  assert.equal(badRows, 1);
  const status = await eventually("batch done", async () => {
    const s = await r.client.batch.status.query({ id });
    return s.status === "done" ? s : undefined;
  });
  assert.equal(status.matches, 2);
  assert.deepEqual(status.errors.map((e) => e.row).sort(), [4, 5]);
  assert.match(String(status.errors.find((e) => e.row === 4)!.error), /StudyDate/);
  assert.match(String(status.errors.find((e) => e.row === 5)!.error), /no study matches/);
  const job = await finished(r, status.transferId!);
  assert.equal(job.status, "success");
  assert.equal(job.totals.objects, 5);
  const csv = await r.client.batch.results.query({ id, format: "csv" });
  const text = atob(csv.contentBase64);
  assert.match(text.split("\n")[0], /row,site,error,PatientID/);
  assert.equal(text.trim().split("\n").length, 5, "a header, two matches and two errors");
  const back = new ExcelJS.Workbook();
  await back.xlsx.load(
    Uint8Array.from(
      atob((await r.client.batch.results.query({ id, format: "xlsx" })).contentBase64),
      (c) => c.charCodeAt(0),
    ).buffer,
  );
  assert.equal(back.worksheets[0].rowCount, 5);
  // A file with an unknown column is refused whole, with the column named.
  await assert.rejects(
    r.client.batch.upload.mutate({
      kind: "query",
      filename: "rows.csv",
      contentBase64: btoa("Patient ID,Colour\n1,red\n"),
      sites: ["north"],
    }),
    /unknown column "Colour"/,
  );
});
