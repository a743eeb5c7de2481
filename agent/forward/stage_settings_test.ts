/**
 * A transfer's de-identification settings as the source keeps them: the custom profile and Clinical Trial
 * attributes of its send survive a restart (deid_routes) and build the stage's profile, its custom layer
 * over the Basic Profile; a custom profile that cannot be read again fails the row with the reason.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Database } from "../index/db.ts";
import { Copies } from "../queue/copies.ts";
import { transferRoute } from "../queue/keys.ts";
import { loadProfile } from "../deid/load_profile.ts";
import { stageSettings } from "./stage_settings.ts";

const KEY = new Uint8Array(32).fill(7);
const TRIAL = { sponsorName: "ACME", protocolId: "ACME-042", siteId: "S03", timePointId: "BASELINE" };

Deno.test("a transfer's custom profile and trial attributes are kept across a restart and build its profile", async () => {
  await loadProfile();
  const dir = await Deno.makeTempDir({ prefix: "stage-settings-" });
  const file = path.join(dir, "agent.db");
  const route = transferRoute("task-1");
  const custom = {
    name: "acme",
    method: "ACME-042 profile",
    options: ["retain-uids"],
    actions: { InstitutionName: { action: "D", value: "TRIAL SITE 3" }, '(0009,"GEMS_IDEN_01",04)': "K" },
  };
  let db = await Database.open(file, { durable: false });
  new Copies(db).saveTransfer(route, {
    options: ["clean-graphics"],
    allowBurnedIn: false,
    custom,
    clinicalTrial: TRIAL,
    destinations: ["site:south"],
  });
  // A second send (a retry) keeps what the first asked.
  new Copies(db).saveTransfer(route, { options: [], allowBurnedIn: true, destinations: ["site:south"] });
  db.close();

  db = await Database.open(file, { durable: false });
  try {
    const copies = new Copies(db);
    assert.deepEqual(copies.transfer(route)?.custom, custom);
    const settings = stageSettings(() => [], copies, KEY)(route);
    assert.ok(typeof settings !== "string", String(settings));
    assert.deepEqual(settings.trial, TRIAL);
    assert.equal(settings.allowBurnedIn, false);
    assert.deepEqual(settings.profile.method.slice(0, 1), ["ACME-042 profile"]);
    // The file's options and the request's, both applied.
    assert.deepEqual([...settings.profile.options].sort(), ["clean-graphics", "retain-uids"]);
    assert.equal(settings.profile.privateAction?.(0x0009, "GEMS_IDEN_01", 0x04)?.action, "K");

    // A profile that no longer reads (recorded by an agent whose parser took more): the row fails, saying why.
    const bad = transferRoute("task-2");
    copies.saveTransfer(bad, {
      options: [],
      allowBurnedIn: false,
      custom: { actions: { "(0009,1004)": "K" } },
      destinations: ["site:south"],
    });
    const refused = stageSettings(() => [], copies, KEY)(bad);
    assert.equal(typeof refused, "string");
    assert.match(refused as string, /0009 is a private \(odd\) group/);
  } finally {
    db.close();
  }
});
