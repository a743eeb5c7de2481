/**
 * A finished job of many studies for the console's screenshots (screens_test): `studies` generated studies of
 * one small CT each, stored at the source's agent with storescu (so the job's page can name them), and the
 * job's rows written into the hub's database as a transfer that ran would leave them, every `failEvery`th
 * study failed. Everything but the hub's ids and dates is a function of `seed`.
 */
import { generateStudies } from "@conduit/shared/testing";
import { transfers, transferTasks } from "../../hub/db/schema.ts";
import type { TestHub } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { writeInstances } from "../tools/generate.ts";

export interface BigJob {
  id: string;
  studies: string[];
  failed: number;
}

export async function bigJob(
  hub: TestHub,
  source: { site: string; port: number; aet: string },
  destination: string,
  opts: { id: string; seed: string; studies: number; failEvery: number },
): Promise<BigJob> {
  const specs = [...generateStudies({
    seed: opts.seed,
    patients: opts.studies,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 16,
    columns: 16,
  })];
  const written = await writeInstances(await Deno.makeTempDir({ prefix: "big-job-" }), specs);
  const sent = await storescu(written.paths, source);
  if (sent.code !== 0) throw new Error(`storescu failed: ${sent.stderr}`);
  const failed = (i: number) => i % opts.failEvery === opts.failEvery - 1;
  const now = Date.now();
  await hub.db.insert(transfers).values({
    id: opts.id,
    sourceSite: source.site,
    destinationSite: destination,
    status: specs.some((_, i) => failed(i)) ? "failure" : "success",
    createdBy: "user:boss",
    createdAt: now,
    updatedAt: now,
  });
  await hub.db.insert(transferTasks).values(specs.map((s, i) => ({
    id: `${opts.id}-${String(i).padStart(5, "0")}`,
    transferId: opts.id,
    studyInstanceUid: s.studyInstanceUid,
    status: failed(i) ? "failure" : "success",
    objects: 1,
    done: failed(i) ? 0 : 1,
    failed: failed(i) ? 1 : 0,
    lastError: failed(i) ? `${destination} refused the object (0xA700: out of resources)` : null,
    updatedAt: now,
  })));
  return {
    id: opts.id,
    studies: specs.map((s) => s.studyInstanceUid),
    failed: specs.filter((_, i) => failed(i)).length,
  };
}
