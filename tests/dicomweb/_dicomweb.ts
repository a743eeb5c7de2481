/**
 * The rig of the DICOMweb tests (tests/dicomweb/dicomweb_test.ts, wado_rs_test.ts): a hub, a site
 * "north" whose agent holds pydicom's CT_small and MR_small, a site "south" enrolled but never connected,
 * tokens, and a dicomweb-client (the one OHIF uses) for north. Each file shares one rig among its tests.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { api } from "dicomweb-client";
import { PYDICOM_TEST_FILES_DIR } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";

/** pydicom's CT_small.dcm and MR_small.dcm, stored at north; the CT's study. */
export const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
export const MR = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");
export const CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

/** The part of dicomweb-client used here (its generated typings make every option mandatory). */
export interface Client {
  searchForStudies(options?: object): Promise<unknown>;
  searchForSeries(options?: object): Promise<unknown>;
  searchForInstances(options?: object): Promise<unknown>;
  retrieveInstance(options: object): Promise<unknown>;
  retrieveStudy(options: object): Promise<unknown>;
  retrieveStudyMetadata(options: object): Promise<unknown>;
  retrieveInstanceMetadata(options: object): Promise<unknown>;
  retrieveInstanceFrames(options: object): Promise<unknown>;
  storeInstances(options: object): Promise<unknown>;
}

export interface Rig {
  hub: TestHub;
  north: AgentProcess;
  /** A viewer's token: reads only. */
  token: string;
  /** An operator's token: also stores (STOW-RS). */
  operator: string;
  southOnly: string;
  base: string;
  client: Client;
}

export async function setUp(): Promise<Rig> {
  const hub = await startTestHub();
  // South is enrolled but never connects: federation must say it is missing.
  await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
  const north = await startAgentProcess({
    aet: "NORTH",
    args: await siteArgs(hub, "north"),
  });
  const sent = await storescu([CT, MR], north);
  assert.equal(sent.code, 0, sent.stderr);
  await eventually("north online", () => hub.sessions.get("north"));
  const token = (await hub.tokens.create("tests", "viewer")).token;
  const operator = (await hub.tokens.create("stow", "operator")).token;
  const southOnly = (await hub.tokens.create("south only", "viewer", ["south"])).token;
  const base = `http://127.0.0.1:${hub.port}/dicomweb`;
  const client = new api.DICOMwebClient({
    url: `${base}/sites/north`,
    headers: { Authorization: `Bearer ${token}` },
  } as never) as unknown as Client;
  return { hub, north, token, operator, southOnly, base, client };
}

/** Stops what {@link setUp} started. */
export async function stopRig(r: Rig): Promise<void> {
  await r.north.stop();
  await r.hub.stop();
}

/** `fetch` against the hub's DICOMweb root with the viewer token (or `token`; `null`: none). */
export const get = (r: Rig, p: string, init: RequestInit & { token?: string | null } = {}) =>
  fetch(`${r.base}${p}`, {
    ...init,
    headers: {
      ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? r.token}` }),
      ...(init.headers as Record<string, string> ?? {}),
    },
  });

/** The first value of an attribute of a DICOM JSON data set. */
export const value = (ds: Record<string, { Value?: unknown[] }>, tag: string) => ds[tag]?.Value?.[0];
