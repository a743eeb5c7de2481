/**
 * Erasure with a real hub, a real agent and DCMTK's storescu: a series erased by DICOMweb DELETE at the site
 * (an admin's token; a viewer's and an operator's refused), the rest of the study still found with its
 * counts, its files gone from the agent's data directory, the erasure audited with hashed UIDs; DELETE at
 * the federated root refused with where to ask; the rest of the study erased by `site.erase` through the
 * typed client and an instance by `agent erase`; an object sent again afterwards stored anew; an agent of
 * an earlier version never sent the request (501, PRECONDITION_FAILED).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { hashUid } from "@conduit/shared/log";
import { generateStudies } from "@conduit/shared/testing";
import { recent } from "../../hub/auth/audit.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { skipReason } from "../support/peers.ts";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { olderAgent } from "../support/older_agent.ts";
import { writeInstances } from "../tools/generate.ts";

const skip = skipReason("storescu");

const dcmFiles = (dir: string) =>
  (fs.readdirSync(path.join(dir, "archive"), { recursive: true }) as string[]).filter((f) =>
    f.endsWith(".dcm")
  );

Deno.test({
  name: "erasure: DICOMweb DELETE at a site, site.erase and agent erase take objects out for good, audited",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const work = await Deno.makeTempDir({ prefix: "erase-" });
    let older: ReturnType<typeof olderAgent> | undefined;
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    try {
      const specs = [...generateStudies({
        seed: "erase-rig",
        patients: 1,
        studiesPerPatient: 1,
        series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
        rows: 16,
        columns: 16,
      })];
      const written = await writeInstances(work, specs);
      assert.equal((await storescu(written.paths, north)).code, 0);
      await eventually("north online", () => hub.sessions.get("north"));
      const study = specs[0].studyInstanceUid;
      const ct = specs[0];
      const mr = specs.find((s) => s.modality === "MR")!;
      const base = `http://127.0.0.1:${hub.port}`;
      const tokenOf = async (role: "viewer" | "operator" | "admin") =>
        (await hub.tokens.create(`erase-${role}`, role)).token;
      const [viewer, operator, admin] = [
        await tokenOf("viewer"),
        await tokenOf("operator"),
        await tokenOf("admin"),
      ];
      const call = (method: string, p: string, token: string) =>
        fetch(`${base}/dicomweb${p}`, { method, headers: { authorization: `Bearer ${token}` } });
      const seriesPath = `/sites/north/studies/${study}/series/${mr.seriesInstanceUid}`;

      // Erasing is an admin's: a viewer and an operator are refused, nothing erased.
      for (const token of [viewer, operator]) {
        const refused = await call("DELETE", seriesPath, token);
        assert.equal(refused.status, 403, await refused.text());
      }
      assert.equal(dcmFiles(north.dataDir).length, 5);

      // At the federated root (or a node) there is nothing to erase from: told where to ask.
      const federated = await call("DELETE", `/studies/${study}`, admin);
      assert.equal(federated.status, 405);
      assert.match((await federated.json()).detail, /DELETE \/dicomweb\/sites\/\{site\}\/studies/);
      assert.equal(federated.headers.get("allow"), "GET, POST, HEAD");
      const put = await call("PUT", `/sites/north/studies/${study}/series/${mr.seriesInstanceUid}`, admin);
      assert.equal(put.status, 405);
      assert.equal(put.headers.get("allow"), "GET, HEAD, DELETE");
      await put.body?.cancel();

      // The MR series, by DICOMweb DELETE.
      const erased = await call("DELETE", seriesPath, admin);
      assert.equal(erased.status, 200);
      const result = await erased.json();
      assert.equal(result.instances, 2);
      assert.equal(result.files, 2);
      assert.equal(result.series, 1);
      assert.equal(result.studies, 0);
      assert.equal(dcmFiles(north.dataDir).length, 3);
      assert.ok(!dcmFiles(north.dataDir).some((f) => f.includes(mr.seriesInstanceUid)));
      const again = await call("DELETE", seriesPath, admin);
      assert.equal(again.status, 404, await again.text());

      // The rest of the study is found, with its counts.
      const found = await call("GET", `/sites/north/studies?StudyInstanceUID=${study}`, viewer);
      const foundText = await found.text();
      assert.equal(found.status, 200, foundText);
      const [row] = JSON.parse(foundText);
      assert.equal(row["00201208"].Value[0], 3, "NumberOfStudyRelatedInstances");
      assert.equal(row["00201206"].Value[0], 1, "NumberOfStudyRelatedSeries");
      assert.deepEqual(row["00080061"].Value, ["CT"], "ModalitiesInStudy");
      const seriesAnswer = await call("GET", `/sites/north/studies/${study}/series`, viewer);
      const seriesText = await seriesAnswer.text();
      assert.equal(seriesAnswer.status, 200, seriesText);
      const series = JSON.parse(seriesText);
      assert.deepEqual(series.map((s: Record<string, { Value: string[] }>) => s["0020000E"].Value[0]), [
        ct.seriesInstanceUid,
      ]);

      // Audited: who, what, where, the UIDs hashed as the logs hash them, what was removed.
      // The request before it was sent, then its outcome naming it; the second DELETE's as a failure.
      const [failed, refused, audited, requested] = await recent(hub.db, 4, 0, { action: "series.erase" });
      assert.deepEqual(requested.detail, {
        study: hashUid(study),
        series: hashUid(mr.seriesInstanceUid),
        requested: true,
      });
      assert.equal(audited.detail.request, requested.id);
      assert.equal(refused.detail.requested, true);
      assert.equal(failed.detail.request, refused.id);
      assert.match(failed.detail.failed, /no series with that UID/);
      assert.equal(audited.actor, "token:erase-admin");
      assert.equal(audited.target, "north");
      const detail = audited.detail as Record<string, unknown>;
      assert.equal(detail.study, hashUid(study));
      assert.equal(detail.series, hashUid(mr.seriesInstanceUid));
      assert.equal((detail.removed as { instances: number }).instances, 2);
      assert.ok(!JSON.stringify(detail).includes(study), "no UID in the clear");

      // The loopback API says what is wrong with a body that names nothing to erase.
      const post = (body: string) =>
        north.http("/erase", { method: "POST", headers: { "content-type": "application/json" }, body });
      for (
        const [body, status, error] of [
          ["not json", 400, /JSON object/],
          ['{"series": "1.2"}', 400, /study is required/],
          ['{"study": "1.2", "instance": "1.2.3"}', 400, /with its series/],
          ['{"study": "1.2; DROP"}', 400, /study is a UID/],
          ['{"study": "1.2.3.4.5.6"}', 404, /no study with that UID/],
        ] as const
      ) {
        const res = await post(body);
        assert.equal(res.status, status, body);
        assert.match((await res.json()).error, error, body);
      }

      // One CT instance by the agent's CLI, through its loopback API (--yes is required).
      const instanceArgs = [
        "erase",
        "--study",
        study,
        "--series",
        ct.seriesInstanceUid,
        "--instance",
        ct.sopInstanceUid,
        "--http-port",
        String(north.httpPort),
      ];
      const unconfirmed = await agentCli(instanceArgs);
      assert.equal(unconfirmed.code, 2);
      assert.match(unconfirmed.stderr, /give --yes/);
      const cli = await agentCli([...instanceArgs, "--yes", "--json"]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(JSON.parse(cli.stdout).instances, 1);
      assert.equal(dcmFiles(north.dataDir).length, 2);

      // The rest of the study by site.erase through the typed client.
      const client = createConduitClient({ url: base, token: admin });
      const rest = await client.site.erase.mutate({ site: "north", studyInstanceUid: study });
      assert.equal(rest.instances, 2);
      assert.equal(rest.studies, 1);
      assert.equal(rest.patients, 1);
      assert.equal(dcmFiles(north.dataDir).length, 0);
      const empty = await call("GET", `/sites/north/studies?StudyInstanceUID=${study}`, viewer);
      assert.equal(empty.status, 200);
      assert.deepEqual(await empty.json().catch(() => []), []);
      await assert.rejects(
        createConduitClient({ url: base, token: operator }).site.erase.mutate({
          site: "north",
          studyInstanceUid: study,
        }),
        (e: unknown) => e instanceof TRPCClientError && e.data?.code === "FORBIDDEN",
      );

      // Sent again afterwards: stored anew, found again.
      assert.equal((await storescu([written.paths[0]], north)).code, 0);
      const back = await (await call("GET", `/sites/north/studies?StudyInstanceUID=${study}`, viewer)).json();
      assert.equal(back[0]["00201208"].Value[0], 1);

      // An agent of an earlier version is never sent the request (it would reset the stream).
      const { credential } = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
      older = olderAgent(hub, "east", credential);
      await older.ready;
      await eventually("east connected", () => hub.sessions.get("east"));
      const unsupported = await call("DELETE", `/sites/east/studies/${study}`, admin);
      assert.equal(unsupported.status, 501);
      assert.match(
        (await unsupported.json()).detail,
        /^this agent version \(0\.0\.9, older than 2026-12-05 09:03 UTC\) cannot erase: upgrade the agent of east$/,
      );
      await assert.rejects(
        client.site.erase.mutate({ site: "east", studyInstanceUid: study }),
        (e: unknown) => e instanceof TRPCClientError && e.data?.code === "PRECONDITION_FAILED",
      );
      assert.ok(!older.asked.includes("erase"));
    } finally {
      older?.close();
      await north.stop();
      await hub.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});
