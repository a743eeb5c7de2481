/**
 * A hub with one site, north, whose agent received some files by C-STORE, and a viewer's token: the rig
 * of the QIDO-RS tests that need an agent set up their own way (a lower `dimse.maxFindResults`, files
 * with other character sets) rather than _dicomweb.ts's.
 */
import assert from "node:assert/strict";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub, type TestHubOptions } from "../support/hub.ts";

export interface OneSite {
  hub: TestHub;
  north: AgentProcess;
  /** A viewer's API token. */
  token: string;
}

/** `files` may be still being written: the hub and the agent start meanwhile. */
export async function oneSite(
  files: string[] | Promise<string[]>,
  config: Record<string, unknown> = {},
  hubOptions: TestHubOptions = {},
): Promise<OneSite> {
  const written = Promise.resolve(files);
  written.catch(() => {}); // awaited below
  const hub = await startTestHub(hubOptions);
  const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north"), config });
  const sent = await storescu(await written, north);
  assert.equal(sent.code, 0, sent.stderr);
  await eventually("north online", () => hub.sessions.get("north"));
  return { hub, north, token: (await hub.tokens.create("one-site", "viewer")).token };
}

export async function stopOneSite(r: OneSite): Promise<void> {
  await r.north.stop();
  await r.hub.stop();
}

/** A DICOMweb request to the hub with the viewer's token. */
export const search = (r: OneSite, p: string) =>
  fetch(`http://127.0.0.1:${r.hub.port}/dicomweb${p}`, { headers: { authorization: `Bearer ${r.token}` } });
