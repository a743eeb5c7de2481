/**
 * Site scope: a token limited to some sites is refused (FORBIDDEN / 403) any other site, on tRPC
 * and DICOMweb alike, including jobs and batches found by id and everything a manager does; a
 * federated search names every site it left out, with the reason.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const forbidden = (e: unknown) => e instanceof TRPCClientError && e.data?.code === "FORBIDDEN";

Deno.test({
  name:
    "a token limited to sites gets FORBIDDEN / 403 for any other site; federation names the sites left out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      for (const site of ["north", "south"]) {
        await hub.registry.enroll((await hub.registry.add(site)).enrollmentToken);
      }
      await hub.registry.add("east"); // pending: never enrolled
      const url = `http://127.0.0.1:${hub.port}`;
      const token = async (role: string, sites?: string[]) =>
        (await hub.tokens.create(`${role} ${sites ?? "all"}`, role, sites)).token;
      const southOnly = await token("operator", ["south", "east"]); // south, and east (never enrolled)
      const south = createConduitClient({ url, token: southOnly });
      const all = createConduitClient({ url, token: await token("operator") });
      const both = createConduitClient({ url, token: await token("viewer", ["north", "south"]) });
      const scopedAdmin = createConduitClient({ url, token: await token("admin", ["south"]) });

      // Every procedure that names a site it may not reach is refused, not answered with nothing.
      await assert.rejects(south.query.studies.query({ site: "north" }), forbidden);
      await assert.rejects(south.query.series.query({ site: "north", studyInstanceUid: "1.2.3" }), forbidden);
      await assert.rejects(south.site.nodes.query({ site: "north" }), forbidden);
      await assert.rejects(south.site.deadLetter.query({ site: "north" }), forbidden);
      await assert.rejects(south.site.conflicts.query({ site: "north" }), forbidden);
      await assert.rejects(
        south.site.resolveConflict.mutate({ site: "north", id: 1, keep: "stored" }),
        forbidden,
      );
      await assert.rejects(south.sites.echo.mutate({ site: "north", node: "pacs" }), forbidden);
      await assert.rejects(
        south.transfers.create.mutate({
          source: { site: "south" },
          destination: { site: "north" },
          studies: ["1.2.3"],
        }),
        forbidden,
      );
      await assert.rejects(
        south.batch.upload.mutate({ kind: "query", filename: "a.csv", contentBase64: "", sites: ["north"] }),
        forbidden,
      );
      // A token limited to sites manages nothing: users, tokens and sites span every site.
      await assert.rejects(scopedAdmin.tokens.list.query(), forbidden);
      await assert.rejects(scopedAdmin.tokens.create.mutate({ name: "x", role: "admin" }), forbidden);
      await assert.rejects(scopedAdmin.users.list.query(), forbidden);
      await assert.rejects(scopedAdmin.site.add.mutate({ site: "west" }), forbidden);
      await assert.rejects(scopedAdmin.audit.list.query(), forbidden);
      assert.deepEqual((await south.sites.list.query()).map((s) => s.site), ["east", "south"]);

      // A federated search names each site it did not ask, and why.
      const fed = await south.query.studies.query({});
      assert.deepEqual(fed.studies, []);
      assert.deepEqual(fed.leftOut, [
        { site: "east", reason: "not connected yet" },
        { site: "north", reason: "outside the token's sites" },
        { site: "south", reason: "offline" },
      ]);

      // Jobs found by id: only for a principal that reaches both of their sites.
      const { id } = await all.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: ["1.2.3"],
      });
      await assert.rejects(south.transfers.get.query({ id }), forbidden);
      await assert.rejects(south.transfers.tasks.query({ id }), forbidden);
      await assert.rejects(south.transfers.tasks.query({ id: "no-such-job" }), /no transfer no-such-job/);
      await assert.rejects(south.transfers.objects.query({ id, study: "1.2.3" }), forbidden);
      await assert.rejects(south.transfers.cancel.mutate({ id }), forbidden);
      await assert.rejects(south.transfers.retry.mutate({ id }), forbidden);
      await assert.rejects(south.transfers.schedule.mutate({ id, bandwidthMbps: 10 }), forbidden);
      assert.ok(!(await south.transfers.list.query()).some((t) => t.id === id), "not listed to south only");
      assert.equal((await both.transfers.get.query({ id })).id, id);
      assert.deepEqual((await both.transfers.tasks.query({ id })).tasks.map((k) => k.studyInstanceUid), [
        "1.2.3",
      ]);
      assert.ok((await both.transfers.list.query()).some((t) => t.id === id));
      const batch = await all.batch.upload.mutate({
        kind: "query",
        filename: "rows.csv",
        contentBase64: btoa("PatientID\nP1\n"),
        sites: ["north"],
      });
      await assert.rejects(south.batch.status.query({ id: batch.id }), forbidden);
      await assert.rejects(south.batch.results.query({ id: batch.id, format: "csv" }), forbidden);
      assert.equal((await both.batch.status.query({ id: batch.id })).id, batch.id);
      assert.ok(!(await south.batch.list.query()).some((b) => b.id === batch.id), "not listed to south only");
      assert.deepEqual((await both.batch.list.query()).map((b) => b.id), [batch.id]);

      // DICOMweb: 403 for the other site on every verb; the federated search's Warning names the others.
      const dw = (path: string, init: RequestInit = {}) =>
        fetch(`${url}/dicomweb${path}`, {
          ...init,
          headers: { authorization: `Bearer ${southOnly}`, ...(init.headers ?? {}) },
        });
      for (
        const [path, init] of [
          ["/sites/north/studies", {}],
          ["/sites/north/nodes/pacs/studies/1.2.3/metadata", {}],
          ["/sites/north/studies", {
            method: "POST",
            body: "--b\r\n\r\nx\r\n--b--\r\n",
            headers: { "content-type": 'multipart/related; type="application/dicom"; boundary=b' },
          }],
        ] as [string, RequestInit][]
      ) {
        const res = await dw(path, init);
        assert.equal(res.status, 403, path);
        assert.match((await res.json()).detail, /may not reach site north/);
      }
      const res = await dw("/studies");
      assert.equal(res.status, 200);
      const warning = res.headers.get("warning") ?? "";
      assert.match(warning, /site north is outside the token's sites; its results are not included/);
      assert.match(warning, /site south is offline/);
      assert.match(warning, /site east is not connected yet/);
      assert.deepEqual(await res.json(), []);
      // Federated retrieval by UID: the 404 names the sites it could not search.
      const wado = await dw("/studies/1.2.3");
      assert.equal(wado.status, 404);
      assert.match(
        wado.headers.get("warning") ?? "",
        /site north is outside the token's sites; it was not searched/,
      );
      assert.match((await wado.json()).detail, /not searched: .*site south is offline/);
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "transfers.list gives a token limited to sites its latest jobs up to the limit, past other sites' jobs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      for (const site of ["north", "south", "east"]) {
        await hub.registry.enroll((await hub.registry.add(site)).enrollmentToken);
      }
      const url = `http://127.0.0.1:${hub.port}`;
      const all = createConduitClient({ url, token: (await hub.tokens.create("all", "operator")).token });
      const southEast = createConduitClient({
        url,
        token: (await hub.tokens.create("south-east", "viewer", ["south", "east"])).token,
      });
      const create = async (source: string, destination: string) => {
        await new Promise((r) => setTimeout(r, 3)); // newest first: each job its own millisecond
        return (await all.transfers.create.mutate({
          source: { site: source },
          destination: { site: destination },
          studies: ["1.2.3"],
        })).id;
      };
      const theirs = [await create("south", "east"), await create("east", "south")];
      // Newer jobs it may not see: the limit used to be taken before the scope, so it saw none of its own.
      for (let i = 0; i < 3; i++) await create("north", "south");
      const listed = await southEast.transfers.list.query({ limit: 2 });
      assert.deepEqual(listed.map((t) => t.id).sort(), [...theirs].sort());
      assert.equal((await southEast.transfers.list.query({ limit: 1 }))[0].id, theirs[1], "newest first");
      assert.equal((await all.transfers.list.query({ limit: 2 })).length, 2);
      assert.equal((await all.transfers.list.query()).length, 5);
    } finally {
      await hub.stop();
    }
  },
});
