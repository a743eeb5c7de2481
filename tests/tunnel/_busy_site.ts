/**
 * The rig of the tests of one site's tunnel under concurrent use (busy_tunnel_test.ts): the hub as a
 * process of its own (so that its memory can be read from /proc), north's agent holding eight small
 * studies, one large study, a study to transfer and pydicom's 15-frame rtdose.dcm, and south's agent
 * with a storescp PACS as its node `pacs`. An operator's token reads, stores and transfers.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header } from "@conduit/shared/dicom";
import { PYDICOM_TEST_FILES_DIR, scratchDir, startStorescp, type StorescpPeer } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { type GenerateSeriesSummary, writeGeneratedSeries } from "../tools/generate.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

/** pydicom's RT Dose: 15 native frames of 10 × 10 × 32 bits, stored in its own (implicit VR) syntax. */
export const RTDOSE = path.join(PYDICOM_TEST_FILES_DIR, "rtdose.dcm");

/** The large study: LARGE_COUNT objects of LARGE_PIXELS bytes of pixel data each (24 MB). */
export const LARGE_COUNT = 24;
export const LARGE_PIXELS = 1_000_000;

export interface BusySite {
  hub: HubProcess;
  north: AgentProcess;
  south: AgentProcess;
  pacs: StorescpPeer;
  token: string;
  client: ReturnType<typeof createConduitClient>;
  /** Eight studies of three 64 × 64 objects each. */
  small: GenerateSeriesSummary[];
  large: GenerateSeriesSummary;
  /** A study of 30 objects for a transfer to south's PACS. */
  moving: GenerateSeriesSummary;
  /** The data set bytes (after the File Meta group) of every file north holds, by SOP Instance UID. */
  datasets: Map<string, Uint8Array>;
  /** `fetch` on the hub's DICOMweb root (`/dicomweb` + `p`) with the token. */
  dicomweb(p: string, init?: RequestInit): Promise<Response>;
}

const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 };
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };

export async function busySite(): Promise<BusySite> {
  const hub = await startHubProcess();
  const admin = async (args: string[]) => {
    const r = await hubAdmin(hub.dataDir, [...args, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return r.json!;
  };
  const token = String((await admin(["token", "create", "busy", "--role", "operator"])).token);
  const enroll = async (site: string) => String((await admin(["site", "add", site])).enrollmentToken);
  const pacs = await startStorescp({
    aet: "PACS",
    dir: await scratchDir("busy-pacs-"),
    bitPreserving: true,
    extraArgs: ["--unique-filenames"],
  });
  const south = await startAgentProcess({
    aet: "SOUTH",
    config: { queue: QUEUE, hub: HUB, nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
    args: ["--site", "south", "--hub", hub.tunnelUrl, "--enroll", await enroll("south")],
  });
  const north = await startAgentProcess({
    aet: "NORTH",
    config: { queue: QUEUE, hub: HUB },
    args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", await enroll("north")],
  });
  const dir = await scratchDir("busy-files-");
  const small: GenerateSeriesSummary[] = [];
  for (let i = 0; i < 8; i++) {
    small.push(
      await writeGeneratedSeries(path.join(dir, `s${i}`), {
        count: 3,
        rows: 64,
        columns: 64,
        seed: `busy-${i}`,
      }),
    );
  }
  const large = await writeGeneratedSeries(path.join(dir, "large"), {
    count: LARGE_COUNT,
    pixelBytes: LARGE_PIXELS,
    seed: "busy-large",
  });
  const moving = await writeGeneratedSeries(path.join(dir, "moving"), {
    count: 30,
    rows: 64,
    columns: 64,
    seed: "busy-moving",
  });
  const generated = [...small, large, moving].flatMap((s) => s.paths);
  const sent = await storescu(generated, north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  const rtdose = await storescu([RTDOSE], north);
  assert.equal(rtdose.code, 0, rtdose.stderr);
  const datasets = new Map<string, Uint8Array>();
  for (const file of [...generated, RTDOSE]) {
    datasets.set(readPart10Header(await Deno.readFile(file)).sopInstanceUid!, await datasetBytes(file));
  }
  await eventually("both sites online", async () => {
    const r = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
    return (await r.json()).sites === 2 || undefined;
  });
  const base = `http://127.0.0.1:${hub.port}`;
  return {
    hub,
    north,
    south,
    pacs,
    token,
    client: createConduitClient({ url: base, token }),
    small,
    large,
    moving,
    datasets,
    dicomweb: (p, init = {}) =>
      fetch(`${base}/dicomweb${p}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> ?? {}) },
      }),
  };
}

export async function stopBusySite(r: BusySite): Promise<void> {
  await r.north.stop();
  await r.south.stop();
  await r.pacs.stop();
  await r.hub.stop();
}

/** A process's resident set now (VmRSS) or at its peak so far (VmHWM), in MB. */
export function rssMb(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
}
