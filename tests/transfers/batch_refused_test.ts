/**
 * A batch transfer whose transfer could not be made (its destination the source itself, a node the
 * destination lacks, a site not enrolled) is refused at upload with the reason `transfers.create` gives,
 * before any row is searched; it does not search every row and then end `done` with no transfer. Real
 * hub, real agents, the typed client.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { toBase64 } from "@conduit/shared/base64";
import { eventually } from "../support/hub.ts";
import { finished, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`batch_refused_test: skipped: ${skip}`);

rigTest(
  "batch.upload refuses a transfer to the source itself or to a node the destination lacks, and sites not enrolled",
  async (r) => {
    const study = await seed(r, "batch-refused", 1);
    const csv = toBase64(new TextEncoder().encode(`Study Instance UID\n${study.studyUid}\n`));
    const upload = (destination: { site: string; node?: string }, node?: string) =>
      r.client.batch.upload.mutate({
        kind: "transfer",
        filename: "rows.csv",
        contentBase64: csv,
        sites: ["north"],
        ...(node ? { node } : {}),
        destination,
      });
    await assert.rejects(upload({ site: "north" }), /the source and the destination are the same/);
    await assert.rejects(
      upload({ site: "south", node: "nope" }),
      /site south has no node named nope \(its nodes: pacs, copy\)/,
    );
    await assert.rejects(
      upload({ site: "south" }, "nope"),
      /site north has no node named nope \(its nodes: none\)/,
    );
    // A site not enrolled is NOT_FOUND, as transfers.create and the queries answer it, for a query batch
    // too (it searched, and gave every row the error).
    const notFound = (e: unknown) =>
      e instanceof TRPCClientError && e.data?.code === "NOT_FOUND" && /no site named nowhere/.test(e.message);
    await assert.rejects(upload({ site: "nowhere" }), notFound);
    await assert.rejects(
      r.client.batch.upload.mutate({
        kind: "query",
        filename: "rows.csv",
        contentBase64: csv,
        sites: ["north", "nowhere"],
      }),
      notFound,
    );
    assert.deepEqual(await r.client.batch.list.query(), [], "no batch was started");

    // The same file to a place that exists runs and makes its transfer.
    const ok = await upload({ site: "south", node: "pacs" });
    const status = await eventually("the batch done", async () => {
      const s = await r.client.batch.status.query({ id: ok.id });
      return s.status === "done" ? s : undefined;
    });
    assert.deepEqual(status.errors, []);
    assert.equal((await finished(r, status.transferId!)).status, "success");
  },
);
