/**
 * Transfers with a custom de-identification profile and Clinical Trial attributes (as ADIT and CTP users
 * give them), with real agents and hub: north de-identifies pydicom's CT_small and its variants (GE private
 * blocks, tests/support/private_fixtures.ts) under the profile given to `transfers.create`, and south's PACS
 * holds exactly what it says: a private element kept by its creator, Institution Name replaced by a value,
 * the trial attributes on every object. A bad entry is refused, named, before any job exists; a source whose
 * agent is older than the feature fails the job with the reason and is never asked to de-identify without
 * the custom entries.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { type DataSet, findElement } from "@conduit/shared/dicom";
import { FEATURE_TRANSFER_DEID_CUSTOM } from "@conduit/shared/tunnel";
import { CUSTOM_PROFILE, privateFixturesSkip, writePrivateFixtures } from "../support/private_fixtures.ts";
import { parsePart10 } from "../support/ps315_walk.ts";
import { storescu } from "../support/send.ts";
import { finished, pacsHolding, rigTest } from "./_rig.ts";

const fixturesSkip = await privateFixturesSkip();
if (fixturesSkip) console.warn(`transfers/deid_custom_test: skipped: ${fixturesSkip}`);

const TRIAL = {
  sponsorName: "ACME PHARMA",
  protocolId: "ACME-042",
  protocolName: "Imaging substudy",
  siteId: "S03",
  siteName: "North Hospital",
  timePointId: "BASELINE",
  timePointDescription: "Before the first dose",
  coordinatingCenterName: "Central Reading",
  seriesId: "CT-1",
  seriesDescription: "Chest CT",
};

/** The fixtures' profile, with the method it names in De-identification Method (0012,0063). */
const PROFILE = { ...CUSTOM_PROFILE, method: "ACME-042 imaging profile v2" };

/** An element's value as text (private elements of an implicit file included), trailing padding trimmed. */
function text(bytes: Uint8Array, ds: DataSet, tag: number): string | undefined {
  const el = findElement(ds, tag);
  if (!el) return undefined;
  let s = "";
  for (const c of bytes.subarray(el.valueOffset, el.valueOffset + el.length)) s += String.fromCharCode(c);
  return s.replace(/[\0 ]+$/, "");
}

rigTest(
  "a transfer with a custom profile and Clinical Trial attributes: south holds exactly that",
  async (r) => {
    if (fixturesSkip) return;
    const files = await writePrivateFixtures(await Deno.makeTempDir({ prefix: "dt-custom-" }));
    const first = parsePart10(await Deno.readFile(files[0]));
    const studyUid = text(first.bytes, first.dataset, 0x0020000d)!;
    const sent = await storescu(files, r.north);
    assert.equal(sent.code, 0, sent.stderr);

    // A bad entry: refused, named, before any job is created.
    const before = (await r.client.transfers.list.query()).length;
    await assert.rejects(
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [studyUid],
        deid: { profile: "basic", custom: { actions: { ...CUSTOM_PROFILE.actions, "(0009,1004)": "K" } } },
      }),
      (e: unknown) =>
        e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
        /custom profile: actions: "\(0009,1004\)": 0009 is a private \(odd\) group/.test(e.message),
    );
    await assert.rejects(
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [studyUid],
        // @ts-expect-error: siteId is required (the Clinical Trial Subject module's Type 1 attributes)
        deid: { profile: "basic", clinicalTrial: { sponsorName: "A", protocolId: "P" } },
      }),
      (e: unknown) =>
        e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" && /siteId/.test(e.message),
    );
    // transfers.checkDeid: the same check, creating nothing; what a valid profile holds.
    await assert.rejects(
      r.client.transfers.checkDeid.mutate({
        deid: { profile: "basic", custom: { actions: { PatientName: { action: "K", value: "X" } } } },
      }),
      (e: unknown) =>
        e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
        /custom profile: actions: "PatientName": an action with a value is \{ "action": "D"/.test(e.message),
    );
    assert.deepEqual(
      await r.client.transfers.checkDeid.mutate({ deid: { profile: "basic", custom: PROFILE } }),
      {
        ok: true,
        custom: {
          name: "qa-custom",
          method: PROFILE.method,
          entries: Object.keys(PROFILE.actions).length,
          options: [],
        },
      },
    );
    assert.equal((await r.client.transfers.list.query()).length, before, "no job was created");

    // A source agent from before the feature (its hello does not name it): the job fails with the reason,
    // and the source is never asked to send (it would de-identify without the custom entries).
    const sessions = r.hub.sessions as unknown as {
      featuresOf(site: string): Promise<ReadonlySet<string> | undefined>;
      ask(site: string, request: { op: string }, signal?: AbortSignal): Promise<unknown>;
    };
    const { featuresOf, ask } = sessions;
    const sends: string[] = [];
    // Its hello, as the hub knows it, without the feature.
    sessions.featuresOf = async (site) => {
      const features = await featuresOf.call(sessions, site);
      return site === "north" && features
        ? new Set([...features].filter((f) => f !== FEATURE_TRANSFER_DEID_CUSTOM))
        : features;
    };
    sessions.ask = (site, request, signal) => {
      if (request.op === "send") sends.push(site);
      return ask.call(sessions, site, request, signal);
    };
    try {
      for (const deid of [{ custom: CUSTOM_PROFILE }, { clinicalTrial: TRIAL }]) {
        const old = await r.client.transfers.create.mutate({
          source: { site: "north" },
          destination: { site: "south", node: "pacs" },
          studies: [studyUid],
          deid: { profile: "basic", ...deid },
        });
        const refused = await finished(r, old.id, 30_000);
        assert.equal(refused.status, "failure");
        assert.match(
          refused.tasks[0].lastError ?? "",
          /the agent of north does not take a transfer's custom de-identification profile or Clinical Trial attributes \(its version: .*(older than 2026-12-05 00:36 UTC|which lacks the feature "transfer-deid-custom")\)/,
        );
      }
      assert.deepEqual(sends, [], "the older source was asked to send");
    } finally {
      Object.assign(sessions, { featuresOf, ask });
    }

    // The real transfer.
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [studyUid],
      deid: { profile: "basic", custom: PROFILE, clinicalTrial: TRIAL },
    });
    const done = await finished(r, id);
    assert.equal(done.status, "success", JSON.stringify(done.tasks));
    assert.equal(done.totals.done, 3);
    // The job shows what was used.
    assert.deepEqual(done.deid, {
      profile: "basic",
      options: [],
      allowBurnedIn: false,
      custom: PROFILE,
      clinicalTrial: TRIAL,
    });
    const pseudonym = done.tasks[0].pseudonymized!.patientId;
    assert.ok(pseudonym);

    await pacsHolding(r, 3);
    const received = [...Deno.readDirSync(r.pacs.dir)].map((e) => path.join(r.pacs.dir, e.name));
    assert.equal(received.length, 3);
    for (const f of received) {
      const { bytes, dataset } = parsePart10(await Deno.readFile(f));
      const t = (tag: number) => text(bytes, dataset, tag);
      const msg = (what: string) => `${path.basename(f)}: ${what}`;
      // The custom entries: a private element kept by its creator, one replaced by a value, the rest of the
      // block gone; Institution Name replaced by the given value.
      assert.equal(t(0x00090010), "GEMS_IDEN_01", msg("the kept element's creator"));
      assert.equal(t(0x00091004), "HiSpeed CT/i", msg("(0009,GEMS_IDEN_01,04) K"));
      assert.equal(t(0x000910e6), "SCANNER-A", msg("(0009,GEMS_IDEN_01,E6) with a value"));
      assert.equal(t(0x00091002), undefined, msg("the block's other elements"));
      assert.equal(t(0x00080080), "TRIAL SITE 3", msg("Institution Name"));
      // The Basic profile under it: identifiers replaced.
      assert.equal(t(0x00100020), pseudonym, msg("Patient ID"));
      assert.notEqual(t(0x0020000d), studyUid, msg("Study Instance UID"));
      // The Clinical Trial attributes, Subject ID the pseudonym.
      assert.equal(t(0x00120010), TRIAL.sponsorName);
      assert.equal(t(0x00120020), TRIAL.protocolId);
      assert.equal(t(0x00120021), TRIAL.protocolName);
      assert.equal(t(0x00120030), TRIAL.siteId);
      assert.equal(t(0x00120031), TRIAL.siteName);
      assert.equal(t(0x00120040), pseudonym, msg("Clinical Trial Subject ID"));
      assert.equal(t(0x00120050), TRIAL.timePointId);
      assert.equal(t(0x00120051), TRIAL.timePointDescription);
      assert.equal(t(0x00120060), TRIAL.coordinatingCenterName);
      assert.equal(t(0x00120071), TRIAL.seriesId);
      assert.equal(t(0x00120072), TRIAL.seriesDescription);
      // What de-identification says of itself, the custom profile named in the method.
      assert.equal(t(0x00120062), "YES", msg("Patient Identity Removed"));
      assert.equal(t(0x00120063), PROFILE.method, msg("De-identification Method"));
      assert.ok(findElement(dataset, 0x00120064)?.items?.length, msg("the method code sequence"));
    }
  },
);
